"""What each mechanism built against a library's internals saves: each is timed with it and without it,
in fresh Python processes (what they save is start-up work), alternately (A B A B ...) so that the load
of a shared machine falls on both sides alike. Prints each side's range and median, and the saving.

    .venv/bin/python benchmarks/bench_internals.py [--repeat 5]

- rfc3987: autograder/__init__.py marks jsonschema's optional rfc3987_syntax as absent. Timed: a process
  that imports the grader and validates a notebook, with the mark (A) and with rfc3987_syntax imported
  first, as any process without the mark imports it (B).
- gradebook: autograder.pipeline.nbgrader_api.create_gradebook writes nbgrader's tables and stamps them with the
  head of nbgrader's migrations in-process. Timed: a new gradebook made that way, then opened by nbgrader
  (A), against one nbgrader makes itself on first opening (B), which runs the `alembic` program.

The test scheduler's override (tests/conftest.py) is timed by benchmarks/bench_scheduler.py (minutes per run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
VALIDATE = "import autograder, nbformat; nbformat.validate(nbformat.v4.new_notebook())"
OPEN = "from nbgrader.api import Gradebook; Gradebook(URL).close()"
CASES = {
    "rfc3987": (VALIDATE, "import rfc3987_syntax; " + VALIDATE),
    "gradebook": (
        "from autograder.pipeline.nbgrader_api import create_gradebook; create_gradebook(URL); " + OPEN,
        OPEN,
    ),
}


def seconds(code: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'gradebook.db'}"
        env = os.environ | {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}  # nbgrader runs `alembic` from there
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"URL = {url!r}; {code}"], check=True, env=env, cwd=tmp)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cases = {name: (lambda c=a: seconds(c), lambda c=b: seconds(c)) for name, (a, b) in CASES.items()}
    for name, (with_it, without_it) in cases.items():
        with_it(), without_it()  # warm the file cache for both
        times: dict[str, list[float]] = {"with": [], "without": []}
        for _ in range(args.repeat):
            times["with"].append(with_it())
            times["without"].append(without_it())
        for side, values in times.items():
            print(
                f"{name:10} {side:8} {min(values):6.2f}-{max(values):6.2f} s, median {statistics.median(values):.2f} s"
            )
        saved = statistics.median(times["without"]) - statistics.median(times["with"])
        print(f"{name:10} saves    {saved:6.2f} s per run (difference of medians, {args.repeat} runs each)")


if __name__ == "__main__":
    main()
