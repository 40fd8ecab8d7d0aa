"""Seconds per submission for a class of quiz submissions: our `grade` against plain `nbgrader autograde`
on the same course and the same submissions, in one run.

    .venv/bin/python benchmarks/bench_grading.py [--students 40]

The submissions are well formed (every answer a letter in quotes, drawn with a fixed seed), so both
graders must agree on every score; the script says so, or lists where they differ. Plain nbgrader runs
as an instructor would run it: the `nbgrader` command in a course directory with a default config.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook

from autograder.config import load_config
from autograder.grade import grade
from autograder.quizbank import LETTERS, load_bank

BIN = Path(sys.executable).parent


def make_class(release: Path, questions, students: int, folder: Path) -> None:
    """SUBMISSIONS/<student>/quiz/quiz.ipynb, each answer a random letter (seeded)."""
    rng = random.Random(0)
    for n in range(students):
        nb = nbformat.read(release, as_version=4)
        for q in questions:
            cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == q.answer_id)
            cell.source = f'{q.variable} = "{rng.choice(LETTERS)}"'
        target = folder / f"student{n:02d}" / "quiz" / "quiz.ipynb"
        target.parent.mkdir(parents=True)
        nbformat.write(nb, target)


def plain_nbgrader(course_id: str, source: Path, submissions: Path, course_dir: Path) -> tuple[float, dict[str, float]]:
    """Seconds for `nbgrader autograde quiz` over the whole class, and each student's total score."""
    (course_dir / "source" / "quiz").mkdir(parents=True)
    shutil.copy(source, course_dir / "source" / "quiz" / "quiz.ipynb")
    shutil.copytree(submissions, course_dir / "submitted")
    (course_dir / "nbgrader_config.py").write_text(f"c = get_config()\nc.CourseDirectory.course_id = {course_id!r}\n")
    env = {"PATH": f"{BIN}:/usr/bin:/bin"}  # nbgrader shells out to alembic

    def nbgrader(*args: str) -> None:
        subprocess.run([str(BIN / "nbgrader"), *args], cwd=course_dir, env=env, check=True, capture_output=True)

    nbgrader("generate_assignment", "quiz", "--force")
    start = time.perf_counter()
    nbgrader("autograde", "quiz", "--create")
    seconds = time.perf_counter() - start
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}", course_id) as gb:
        scores = {s.student.id: float(s.score) for s in gb.assignment_submissions("quiz")}
    return seconds, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=40)
    args = parser.parse_args()
    course = load_config()
    questions = load_bank(course.quiz_bank, course.shuffle_seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_class(course.quizzes_dir / "quiz.ipynb", questions, args.students, tmp / "submitted")

        start = time.perf_counter()
        ours = grade(course, tmp / "submitted", tmp / "ours")
        ours_seconds = time.perf_counter() - start
        ours_scores = {g.submission.student: g.score for g in ours.graded}

        # The same course source nbgrader generated the release from, header and all.
        source = tmp / "ours" / "course" / "source" / "quiz" / "quiz.ipynb"
        plain_seconds, plain_scores = plain_nbgrader(course.course_id, source, tmp / "submitted", tmp / "plain")

    n = args.students
    print(f"{n} quiz submissions, one run each")
    print(f"  ours (python -m autograder grade, incl. course setup, CSV, feedback): {ours_seconds:6.1f} s total, "
          f"{ours_seconds / n:.2f} s per submission")
    print(f"  plain `nbgrader autograde quiz --create` (autograde only):           {plain_seconds:6.1f} s total, "
          f"{plain_seconds / n:.2f} s per submission")
    print(f"  ratio ours / plain: {ours_seconds / plain_seconds:.2f}")
    differ = sorted(s for s in ours_scores if ours_scores[s] != plain_scores.get(s))
    print(f"  scores agree for {n - len(differ)}/{n} students" + (f"; differ: {differ}" if differ else ""))
    print(f"  mean score {sum(ours_scores.values()) / n:.2f} / {len(questions)}")


if __name__ == "__main__":
    main()
