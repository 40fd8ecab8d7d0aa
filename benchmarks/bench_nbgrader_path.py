"""The example class graded by each entry point, in one run: `python -m autograder grade` (1 and 2 workers),
then nbgrader's own `nbgrader autograde` in the course folder grade wrote. Prints each entry point's
seconds and every submission's score under each, and says whether they agree.

    .venv/bin/python benchmarks/bench_nbgrader_path.py [--repeat 3]
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

from nbgrader.api import Gradebook, SubmittedAssignment

from autograder.course.config import load_config
from autograder.run.grade import GradeOptions, grade

BIN = Path(sys.executable).parent


def gradebook_scores(db: Path, course_id: str) -> dict[tuple[str, str], float]:
    with Gradebook(f"sqlite:///{db}", course_id) as gb:
        return {(s.student_id, s.assignment.name): s.score for s in gb.db.query(SubmittedAssignment)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    course = load_config()
    timings: dict[str, list[float]] = {"grade, 1 worker": [], "grade, 2 workers": [], "nbgrader autograde": []}
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            for workers in (1, 2):
                out = Path(tmp) / f"out{workers}"
                start = time.perf_counter()
                report = grade(course, course.examples_dir, out, GradeOptions(workers=workers, verbose=False))
                timings[f"grade, {workers} worker{'s' if workers > 1 else ''}"].append(time.perf_counter() - start)
            by_grade = {(g.submission.student, g.submission.assignment): g.score for g in report.graded}
            start = time.perf_counter()
            for assignment in sorted({a for _, a in by_grade}):
                subprocess.run(
                    [str(BIN / "nbgrader"), "autograde", assignment, "--force"],
                    cwd=out / "course",
                    check=True,
                    capture_output=True,
                    env=os.environ | {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},  # nbgrader runs alembic
                )
            timings["nbgrader autograde"].append(time.perf_counter() - start)
            by_nbgrader = gradebook_scores(out / "gradebook.db", course.course_id)
    print(f"{'entry point':<22}{'seconds (min-max over runs)':>30}")
    for name, values in timings.items():
        print(f"{name:<22}{min(values):>14.1f} - {max(values):<6.1f} (median {statistics.median(values):.1f})")
    print(f"\n{'student':<10}{'assignment':<30}{'grade':>8}{'nbgrader':>10}")
    for key in sorted(by_grade):
        print(f"{key[0]:<10}{key[1]:<30}{by_grade[key]:>8g}{by_nbgrader.get(key, float('nan')):>10g}")
    graded = {k: v for k, v in by_grade.items() if k in by_nbgrader}
    agree = all(by_nbgrader[k] == v for k, v in graded.items())
    print(
        f"\n{len(graded)} submissions nbgrader sees (intake refused the rest): " + ("all agree" if agree else "DIFFER")
    )


if __name__ == "__main__":
    main()
