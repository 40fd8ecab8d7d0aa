"""Peak memory of the grading process on a class holding the grader's attackers (tests/test_robustness.py:
inflating records, a huge output message, odd bytes, forged points) beside honest students, graded with
`--workers 2`, and the grades it gives.

    .venv/bin/python benchmarks/bench_robustness.py [--flood-mb 1000]

Prints the grading process's own peak (RUSAGE_SELF: where records are decoded and scores decided), the
largest child's (a pool worker or a kernel), the seconds, and each submission's score and status.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the attack class of the tests

import test_robustness  # noqa: E402
from test_integrity import Class  # noqa: E402

from autograder.course.config import load_config  # noqa: E402
from autograder.run.grade import GradeOptions, grade  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flood-mb", type=int, default=1000, help="size of the one output message of the flooder")
    args = parser.parse_args()
    test_robustness.FLOOD = test_robustness.FLOOD.replace("200_000_000", f"{args.flood_mb}_000_000")
    course = load_config()
    with tempfile.TemporaryDirectory(prefix="bench-robust-") as root:
        klass = Class(course, Path(root))
        test_robustness._attack_class(klass)
        start = time.perf_counter()
        report = grade(course, klass.folder, klass.out, GradeOptions(timeout=60, workers=2))
        seconds = time.perf_counter() - start
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{len(report.graded)} submissions, --workers 2, {seconds:.0f} s")
    print(f"peak RSS: grading process {own:.0f} MB; largest child (worker or kernel) {children:.0f} MB")
    for item in report.graded:
        student, assignment = item.submission.student, item.submission.assignment
        print(f"  {student:<12} {assignment:<20} {item.score:g}/{item.max_score:g}  {item.status}")


if __name__ == "__main__":
    main()
