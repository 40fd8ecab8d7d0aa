"""Run time of every lesson (instructor version, top to bottom, headless, a fresh kernel each run), cold
and warm, with the kernel's CPU time; optionally where the time goes, cell by cell.

    .venv/bin/python benchmarks/bench_lessons.py [--runs 3] [--lessons 02 04] [--only cold|warm] [--cells]
                                                 [--own-models]

- cold: an empty model cache ($ATTNLAB_CACHE_DIR points to a new empty folder for each run), as on a
  fresh clone. The course's shipped checkpoints (attnlab/checkpoints/) are used as usual; with
  --own-models they are not, so cold runs train every model they need.
- warm: the models are already in your model cache ($ATTNLAB_CACHE_DIR or ~/.cache/attnlab; one run
  of the lesson, not counted, fills it first).

Wall time includes starting the kernel; CPU time is the kernel's own (user + system, all threads, from
its start to the end of the last cell). On a busy machine compare CPU times: wall times wander.
--cells prints the cells of the slowest lessons by wall and CPU time (median of the warm runs).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from attnlab import settings

ROOT = Path(__file__).resolve().parents[1]

# Run first in the kernel: record wall and CPU time around every cell, through IPython's own events.
PROBE = """\
import resource as _bench_resource, time as _bench_time
_bench_cells = []
def _bench_pre(info):
    _bench_cells.append([_bench_time.perf_counter(), _bench_time.process_time()])
def _bench_post(result):
    if _bench_cells:  # not for this cell, which registers the events as it runs
        _bench_cells[-1] += [_bench_time.perf_counter(), _bench_time.process_time()]
get_ipython().events.register("pre_run_cell", _bench_pre)
get_ipython().events.register("post_run_cell", _bench_post)
"""
# Run last: hand the records out (this cell's own, unfinished, left out) and the CPU time since the kernel started.
REPORT = """\
import json as _bench_json
_bench_usage = _bench_resource.getrusage(_bench_resource.RUSAGE_SELF)
print(_bench_json.dumps({"cells": [[c[2] - c[0], c[3] - c[1]] for c in _bench_cells[:-1]],
                         "cpu": _bench_usage.ru_utime + _bench_usage.ru_stime}))
"""


def run_lesson(path: Path, env: dict[str, str]) -> dict:
    """Execute one notebook in a fresh kernel with environment `env`: {"wall": s, "cpu": s, "cells": [(wall, cpu)
    per code cell]}."""
    nb = nbformat.read(path, as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    nb.cells = [nbformat.v4.new_code_cell(PROBE)] + code_cells + [nbformat.v4.new_code_cell(REPORT)]
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute(env=env)
    wall = time.perf_counter() - start
    record = json.loads(next(o.text for o in nb.cells[-1].outputs if o.output_type == "stream"))
    return {"wall": wall, "cpu": record["cpu"], "cells": record["cells"], "sources": [c.source for c in code_cells]}


def span(values: list[float]) -> str:
    """'median [min-max]' of a few runs."""
    return f"{statistics.median(values):5.1f} s [{min(values):.1f}-{max(values):.1f}]"


def print_cells(name: str, runs: list[dict], top: int = 8) -> None:
    sources = runs[0]["sources"]
    walls = [statistics.median(r["cells"][i][0] for r in runs) for i in range(len(sources))]
    cpus = [statistics.median(r["cells"][i][1] for r in runs) for i in range(len(sources))]
    print(f"\n{name}: the {top} slowest of {len(sources)} code cells (median of {len(runs)} warm runs)")
    print(f"{'cell':>5} {'wall':>7} {'cpu':>7}  first line")
    for i in sorted(range(len(sources)), key=lambda i: -walls[i])[:top]:
        first = next((line for line in sources[i].splitlines() if line.strip()), "")[:70]
        print(f"{i:>5} {walls[i]:6.2f}s {cpus[i]:6.2f}s  {first}")
    print(f"{'all':>5} {sum(walls):6.2f}s {sum(cpus):6.2f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each lesson, cold and warm")
    parser.add_argument("--lessons", nargs="*", default=[], help="lesson numbers, e.g. 02 04 (default: all)")
    parser.add_argument("--only", choices=("cold", "warm"), default=None)
    parser.add_argument("--cells", action="store_true", help="print the slowest cells of each lesson")
    parser.add_argument("--own-models", action="store_true", help="cold runs ignore the shipped checkpoints and train")
    args = parser.parse_args()
    paths = [
        p
        for p in sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
        if not args.lessons or p.name[:2] in args.lessons
    ]
    # The kernels' environment; this process's own is left as it is.
    warm_env = os.environ | {"OMP_NUM_THREADS": "1"} | ({settings.CHECKPOINTS_ENV: "own"} if args.own_models else {})
    kinds = [args.only] if args.only else ["cold", "warm"]
    print(
        f"{len(paths)} lessons, {args.runs} runs each ({', '.join(kinds)}); median [min-max]; "
        f"{'own models, no shipped checkpoints' if args.own_models else 'shipped checkpoints used'}"
    )
    print(f"{'lesson':<34}" + "".join(f"{k + ' wall':>22}{k + ' cpu':>22}" for k in kinds))
    totals = {k: [0.0, 0.0] for k in kinds}
    with tempfile.TemporaryDirectory() as scratch:
        for path in paths:
            runs = {k: [] for k in kinds}
            for _ in range(args.runs):
                if "cold" in kinds:
                    cold_env = warm_env | {settings.CACHE_DIR_ENV: tempfile.mkdtemp(dir=scratch)}
                    runs["cold"].append(run_lesson(path, cold_env))
            if "warm" in kinds:
                run_lesson(path, warm_env)  # fills the warm cache (not counted)
                runs["warm"] = [run_lesson(path, warm_env) for _ in range(args.runs)]
            line = f"{path.stem:<34}"
            for k in kinds:
                walls, cpus = [r["wall"] for r in runs[k]], [r["cpu"] for r in runs[k]]
                totals[k][0] += statistics.median(walls)
                totals[k][1] += statistics.median(cpus)
                line += f"{span(walls):>22}{span(cpus):>22}"
            print(line, flush=True)
            if args.cells:
                print_cells(path.stem, runs["warm"] or runs["cold"])
    print(f"{'all lessons (sum of medians)':<34}" + "".join(f"{w:>20.1f} s{c:>20.1f} s" for w, c in totals.values()))


if __name__ == "__main__":
    main()
