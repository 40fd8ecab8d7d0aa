"""
The bands a retrained model's figures must fall in. Retraining on another CPU is only statistically the
same (see attnlab.zoo), so a retrained model's figures are compared not with the shipped model of its
seed but with the range of every retraining measured, over several seeds and kernel settings,
widened; the samples are kept beside the checkpoints (attnlab/checkpoints/bands.json).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from attnlab.zoo.cache import SHIPPED_DIR
from attnlab.zoo.figures import figures
from attnlab.zoo.kernels import kernel_settings
from attnlab.zoo.registry import COURSE_MODELS, FAMILIES
from attnlab.zoo.shipped import trained_from_scratch

BANDS_FILE = SHIPPED_DIR / "bands.json"
BAND_SEEDS = (0, 1, 2, 3, 4, 5)
# A retraining elsewhere is one more draw from what retraining gives. Of n draws a new one falls outside
# their range with probability 2/(n+1) (1 in 8 for n = 15), far too often for a test of 50 figures: the
# band widens the range by its own width either side, about 5 standard deviations of a normal figure
# measured 15 times, so a test fails for a recipe that changed, not for an unlucky CPU.
RANGE_MARGIN = 1.0
# A figure that never moved while measured (verb agreement at 100%, say) still may by an example or two
# of the 1,000 held-out sentences on another CPU: no band is narrower than this either side.
BAND_FLOOR = 0.005


def measure_figures(seeds: tuple[int, ...], families: list[str]) -> Iterator[dict]:
    """`families` retrained with each seed under this process's kernels: {family, seed, kernels, figures}."""
    kernels = torch.backends.cpu.get_cpu_capability().lower()
    with trained_from_scratch():
        for family, _, make in FAMILIES:
            for seed in seeds if family in families else ():
                yield {"family": family, "seed": seed, "kernels": kernels, "figures": figures(make(seed))}


def shipped_samples() -> list[dict]:
    """The shipped models are retrainings too, on the machine and kernels that made them: a sample each."""
    samples = []
    for entry in COURSE_MODELS:
        trained = entry.load()
        if trained.source != "shipped":
            raise RuntimeError(f"{entry.name} is not shipped: run `make checkpoints` first")
        samples.append({"family": entry.family, "seed": entry.seed, "kernels": "shipped", "figures": figures(trained)})
    return samples


def _retrained_under(setting: str, seeds: tuple[int, ...], family: str) -> list[dict]:
    env = os.environ | {"ATEN_CPU_CAPABILITY": setting, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "attnlab.zoo", "--figures", "--seeds", *map(str, seeds)]
    done = subprocess.run([*command, "--families", family], env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"retraining {family} under {setting} kernels failed:\n{done.stderr[-2000:]}")
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if {row["kernels"] for row in rows} != {setting}:
        raise RuntimeError(f"asked for {setting} kernels, trained with {sorted({row['kernels'] for row in rows})}")
    return rows


def band_limits(samples: list[dict]) -> dict[str, dict[str, tuple[float, float]]]:
    """{family: {figure: (low, high)}}: where a retraining of the family may land, whatever its seed and
    CPU. The range of the family's samples (shipped and retrained, every seed and setting), widened
    either side by RANGE_MARGIN x its width, never less than BAND_FLOOR."""
    values: dict[str, dict[str, list[float]]] = {}
    for row in samples:
        for figure, value in row["figures"].items():
            values.setdefault(row["family"], {}).setdefault(figure, []).append(value)
    limits: dict[str, dict[str, tuple[float, float]]] = {}
    for family, by_figure in values.items():
        for figure, seen in by_figure.items():
            margin = max(BAND_FLOOR, RANGE_MARGIN * (max(seen) - min(seen)))
            limits.setdefault(family, {})[figure] = (min(seen) - margin, max(seen) + margin)
    return limits


def _write_bands(samples: list[dict], path: Path) -> dict:
    bands = {
        "written_by": "python -m attnlab.zoo --measure-bands (make bands); never edit by hand",
        "torch": torch.__version__,
        "range_margin": RANGE_MARGIN,
        "floor": BAND_FLOOR,
        "limits": band_limits(samples),  # for reading; load_bands computes them from the samples
        "samples": samples,  # kernels "shipped": the checkpoint; else the ATEN_CPU_CAPABILITY it was retrained with
    }
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(bands, indent=1) + "\n")
    os.replace(tmp, path)  # a test reading the bands meanwhile sees the old file or the new one
    return bands


def measure_bands(
    settings: list[str] | None = None,
    seeds: tuple[int, ...] = BAND_SEEDS,
    families: list[str] | None = None,
    jobs: int = 1,
    path: Path = BANDS_FILE,
) -> dict:
    """Retrain `families` (default: all) with `seeds` under each kernel setting (default: every one this
    machine runs), `jobs` processes at once, and write every figure's band to `path`: from these
    samples, the shipped models' and the samples `path` already holds of other settings, seeds or families."""
    settings = settings or kernel_settings()
    families = families or [family for family, _, _ in FAMILIES]
    unknown = set(families) - {family for family, _, _ in FAMILIES}
    if unknown:
        raise SystemExit(f"no such model family: {', '.join(sorted(unknown))}")
    kept = json.loads(path.read_text())["samples"] if path.exists() else []
    remeasured = {(f, s, k) for f in families for s in seeds for k in settings}
    samples = shipped_samples() + [
        row
        for row in kept
        if row["kernels"] != "shipped" and (row["family"], row["seed"], row["kernels"]) not in remeasured
    ]
    _write_bands(samples, path)
    tasks = [(setting, family) for setting in settings for family in families]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for rows in pool.map(lambda task: _retrained_under(task[0], seeds, task[1]), tasks):
            samples += rows
            _write_bands(samples, path)  # kept as they come: an interrupted run loses one family
    return _write_bands(samples, path)


Limits = dict[str, dict[str, tuple[float, float]]]


def load_bands(path: Path = BANDS_FILE) -> tuple[dict[tuple[str, int], dict[str, float]], Limits]:
    """({(family, seed): the shipped model's figures when measured}, {family: {figure: (low, high)}})."""
    samples = json.loads(path.read_text())["samples"]
    shipped = {(row["family"], row["seed"]): row["figures"] for row in samples if row["kernels"] == "shipped"}
    return shipped, band_limits(samples)


def print_spreads(bands: dict) -> None:
    """A markdown table of each figure's samples by kernels and seed, and its band (benchmarks/RESULTS.md)."""
    columns = (
        "model",
        "figure",
        "samples (kernels: seeds in order)",
        "spread over seeds",
        "change of kernels, same seed",
    )
    print("| " + " | ".join(columns) + " | band |")
    print("|---|---|---|---|---|---|")
    limits = band_limits(bands["samples"])
    for family, _, _ in FAMILIES:
        mine = [row for row in bands["samples"] if row["family"] == family]
        for figure in mine[0]["figures"] if mine else ():
            by: dict[str, dict[int, float]] = {}
            for row in mine:
                by.setdefault(row["kernels"], {})[row["seed"]] = row["figures"][figure]
            cells = "; ".join(
                f"{kernels}: " + ", ".join(f"{v:.3f}" for _, v in sorted(seeds.items()))
                for kernels, seeds in by.items()
            )
            seed_spread = max((max(v.values()) - min(v.values()) for v in by.values() if len(v) > 1), default=0.0)
            kernel_change = 0.0
            for seed in {seed for v in by.values() for seed in v}:
                same_seed = [v[seed] for v in by.values() if seed in v]
                kernel_change = max(kernel_change, max(same_seed) - min(same_seed))
            low, high = limits[family][figure]
            print(
                f"| {family} | {figure} | {cells} | {seed_spread:.3f} | {kernel_change:.3f} | {low:.3f} to {high:.3f} |"
            )
