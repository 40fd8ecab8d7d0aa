"""
What the test scheduler's override (tests/conftest.py) saves: the same tests, on make test's workers and
flags, with the override and without it, run alternately.

    .venv/bin/python benchmarks/bench_scheduler.py [--repeat 2] [TEST_FILE ...]

The override makes each test of tests/test_checkpoints.py and tests/test_cpu_kernels.py a unit of work of
its own under `--dist loadscope`, where xdist would hand each of those modules to one worker whole. The
tests timed are those two modules and tests/test_judgement.py, a module of notebook runs of about a minute
that stays one unit either way, so the workers have work of both kinds, as under make test.

- with:    `-n 3 --dist loadscope --no-loadscope-reorder`, tests/conftest.py as it is;
- without: the same flags, with this file loaded as a plugin (`-p bench_scheduler`) whose hook answers
           first with xdist's own LoadScopeScheduling, so the override is never asked.

Each run prints its wall time, pytest's last line, how many workers ran each module, and the load average
before and after (the machine is shared: a figure means little without it); then each side's range and
what the override saved in each pair of runs made back to back. Minutes per run.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS = ["tests/test_checkpoints.py", "tests/test_cpu_kernels.py", "tests/test_judgement.py"]
FLAGS = ["-n", "3", "--dist", "loadscope", "--no-loadscope-reorder", "-v", "-p", "no:cacheprovider"]
_RAN = re.compile(r"^\[(gw\d+)\].*? (?:PASSED|FAILED|SKIPPED|ERROR|XFAIL|XPASS) (tests/[^:\s]+)")


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """The plugin side (the run without the override): xdist's public scheduler, before conftest is asked."""
    from xdist.scheduler import LoadScopeScheduling

    return LoadScopeScheduling(config, log) if config.getvalue("dist") == "loadscope" else None


def load() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def run(side: str, tests: list[str]) -> tuple[float, str, dict[str, int]]:
    """Seconds, pytest's summary and the number of workers per test module, for one run of one side."""
    command = [sys.executable, "-m", "pytest", *FLAGS, *tests]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    if side == "without":
        command += ["-p", "bench_scheduler"]
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parent), env.get("PYTHONPATH")]))
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    workers: dict[str, set[str]] = defaultdict(set)
    for line in done.stdout.splitlines():
        match = _RAN.match(line)
        if match:
            workers[match.group(2)].add(match.group(1))
    summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    if done.returncode not in (0, 1):
        raise SystemExit(f"pytest could not run ({side}): {done.stderr.strip()[-2000:]}")
    return seconds, summary, {module: len(names) for module, names in sorted(workers.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="runs of each side (alternated)")
    parser.add_argument("tests", nargs="*", default=TESTS)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"with": [], "without": []}
    for n in range(args.repeat):
        for side in ("with", "without") if n % 2 == 0 else ("without", "with"):
            before = load()
            seconds, summary, workers = run(side, args.tests)
            times[side].append(seconds)
            spread = ", ".join(f"{Path(module).name} {count}" for module, count in workers.items())
            print(f"{side:8} {seconds:7.1f} s  load {before} -> {load()}  workers: {spread}  | {summary}", flush=True)
    for side, values in times.items():
        print(f"{side:8} {min(values):7.1f}-{max(values):.1f} s over {len(values)} runs")
    # Runs back to back share the machine's load best: each pair's difference is the figure to read.
    saved = [without - with_it for with_it, without in zip(times["with"], times["without"], strict=True)]
    print("saves    " + ", ".join(f"{s:.1f} s ({s / w:.0%})" for s, w in zip(saved, times["without"], strict=True)))


if __name__ == "__main__":
    main()
