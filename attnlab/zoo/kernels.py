"""PyTorch's CPU kernels: which ATEN_CPU_CAPABILITY settings this machine runs (retrainings under each
give the bands' samples, attnlab.zoo.bands)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path


def _cpu_flags() -> set[str]:
    """The processor's feature flags from /proc/cpuinfo (x86 "flags", ARM "Features"); empty elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def capability_under(setting: str | None) -> str:
    """The kernels a fresh Python process uses with ATEN_CPU_CAPABILITY=setting (None: unset, the
    machine's own), lower case as the variable spells them: PyTorch ignores a setting the CPU lacks."""
    env = {k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"}
    if setting is not None:
        env["ATEN_CPU_CAPABILITY"] = setting
    code = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip().lower()


def kernel_settings() -> list[str]:
    """Every ATEN_CPU_CAPABILITY setting this machine runs, the machine's own included: the candidates
    its architecture (`uname -m`) and CPU flags offer, each kept only if PyTorch really uses it."""
    machine, flags = platform.machine().lower(), _cpu_flags()
    candidates = ["default"]
    if machine in ("x86_64", "amd64"):
        candidates += ["avx2"] if "avx2" in flags else []
        candidates += ["avx512"] if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags else []
    elif machine in ("aarch64", "arm64") and "sve" in flags:
        candidates += ["sve128", "sve256", "sve512"]  # PyTorch builds accept some of these; checked below
    return [setting for setting in candidates if capability_under(setting) == setting]
