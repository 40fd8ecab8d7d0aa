"""
`python -m autograder demo` (what `make demo` runs): the whole course, end to end, on this machine.

1. build the student versions with nbgrader;
2. run every lesson and quiz (instructor version) headless, with every check and hidden test, and time it,
   one per core at a time (each kernel uses one thread); the executed notebooks, figures included, are
   saved under OUT/lessons/;
3. grade the bundled example class (autograder/release/examples/) and print the class table.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from autograder.course.assignments import Assignment, assignments
from autograder.course.config import CourseConfig
from autograder.course.notebooks import write_notebook
from autograder.outputs.grades import print_summary
from autograder.release.build import build, kept_message
from autograder.release.example_submissions import EXAMPLES
from autograder.run.grade import GradeOptions, Selection, grade
from autograder.student.check import CheckResult, check

# Example students include an endless loop; a short limit keeps the demo quick (no cell of the examples'
# lessons, 00 and 01, comes near it).
DEMO_TIMEOUT = 10


def demo(course: CourseConfig, out: Path) -> int:
    print("== 1. build the course (solutions/ -> lessons/, quiz bank -> quizzes/) ==", flush=True)
    report = build(course)
    for generated, moved in report.kept:
        print(f"note: {kept_message(generated, moved, course.root)}")
    print(f"{len(report.written)} files generated in {report.seconds:.1f} s\n")

    workers = os.cpu_count() or 1
    print("== 2. run every lesson headless, with its hidden tests ==")
    print("   (the mini-models come trained with the course, in attnlab/checkpoints/)")
    if workers > 1:
        print(f"   ({workers} notebooks at a time, one per core: each is a little slower than when run alone)")
    print(flush=True)
    failures = 0
    for assignment, result in _check_all(course, assignments(course), workers):
        write_notebook(result.executed, out / "lessons" / assignment.notebook_name)
        passed = sum(v.passed for v in result.verdicts)
        # An instructor's notebook runs without a single error, graded or not: prose sits under every output.
        broken = [
            i
            for i, cell in enumerate(result.executed.cells)
            if cell.cell_type == "code" and any(o.output_type == "error" for o in cell.get("outputs", []))
        ]
        ok = passed == len(result.verdicts) and not broken
        failures += not ok
        status = "ok" if ok else "FAILED" + (f" (an error in cell {', '.join(map(str, broken))})" if broken else "")
        print(
            f"  {assignment.id:<30} {result.seconds:5.1f} s   "
            f"{passed}/{len(result.verdicts)} graded cells pass   {status}",
            flush=True,
        )
    print(f"executed notebooks with their figures: {out / 'lessons'}\n")

    print("== 3. grade the example class (autograder/release/examples/) ==")
    for example in EXAMPLES:
        print(f"  {example.student:<5} {example.assignment:<30} {example.what}")
    print(flush=True)
    graded = grade(
        course,
        course.examples_dir,
        out / "grading",
        GradeOptions(
            timeout=DEMO_TIMEOUT, progress=print, workers=os.cpu_count() or 1, selection=Selection(force=True)
        ),
    )
    print_summary(graded)
    if failures:
        print(f"\n{failures} lesson(s) failed their own checks: see above.")
    return 1 if failures else 0


def _check_one(course: CourseConfig, path: Path) -> CheckResult:
    return check(course, path, timeout=course.timeout)


def _check_all(course: CourseConfig, todo: list[Assignment], workers: int) -> Iterator[tuple[Assignment, CheckResult]]:
    """(assignment, CheckResult) in the course's order, `workers` notebooks running at a time, each checked
    in a process of its own (a sandbox uid of its own: see sandbox.process_slot)."""
    context = multiprocessing.get_context("spawn")  # no fork of a process that has threads and torch loaded
    with ProcessPoolExecutor(max(1, min(workers, len(todo))), mp_context=context) as pool:
        futures = [pool.submit(_check_one, course, assignment.source) for assignment in todo]
        for assignment, future in zip(todo, futures, strict=True):
            yield assignment, future.result()
