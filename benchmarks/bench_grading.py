"""Seconds per submission, in one run: our `grade` with the sandbox, our `grade --no-sandbox`, and plain
`nbgrader autograde`, on the same course and the same submissions: a class of quiz submissions and a
class of lesson 01 submissions.

    .venv/bin/python benchmarks/bench_grading.py [--part sandbox|scale|all] [--students 40] [--lesson-students 10]

Part "scale" grades a class of 200 quiz and 40 lesson 01 submissions (generated) with 1 and 2 local
workers and through a Dask cluster of 2 worker processes started on this machine (over TLS, not as
root), and prints seconds per submission and the speed-ups (and checks that every mode gives the same
grades.csv).

The quiz submissions are well formed (every answer a letter in quotes, drawn with a fixed seed), so
the graders must agree on every score; the script says so, or lists where they differ. The lesson
submissions are the instructor's solution. Plain nbgrader runs as an instructor would run it: the
`nbgrader` command in a course directory with a default config (no sandbox, scores from the kernel).
The sandbox's cost per submission is the difference between our two runs.
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

from autograder.course.config import load_config
from autograder.course.quizbank import COURSE_QUIZ, LETTERS, load_quizzes
from autograder.release.example_submissions import solved_copy
from autograder.run.grade import GradeOptions, grade
from autograder.run.local_cluster import LocalCluster

BIN = Path(sys.executable).parent


def make_class(release: Path, questions, students: int, folder: Path) -> None:
    """SUBMISSIONS/<student>/quiz/quiz.ipynb, each answer a random letter (seeded)."""
    rng = random.Random(0)
    for n in range(students):
        nb = nbformat.read(release, as_version=4)
        for q in questions:
            cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == q.answer_id)
            cell.source = f'{q.variable} = "{rng.choice(LETTERS)}"'
        target = folder / f"student{n:03d}" / "quiz" / "quiz.ipynb"
        target.parent.mkdir(parents=True)
        nbformat.write(nb, target)


def make_lesson_class(release: Path, solution: Path, students: int, folder: Path) -> None:
    nb = solved_copy(nbformat.read(release, as_version=4), nbformat.read(solution, as_version=4))
    for n in range(students):
        target = folder / f"student{n:03d}" / release.stem / release.name
        target.parent.mkdir(parents=True)
        nbformat.write(nb, target)


def plain_nbgrader(
    course_id: str, assignment: str, source: Path, submissions: Path, course_dir: Path
) -> tuple[float, dict[str, float]]:
    """Seconds for `nbgrader autograde ASSIGNMENT` over the whole class, and each student's total score."""
    (course_dir / "source" / assignment).mkdir(parents=True)
    shutil.copy(source, course_dir / "source" / assignment / f"{assignment}.ipynb")
    shutil.copytree(submissions, course_dir / "submitted")
    (course_dir / "nbgrader_config.py").write_text(f"c = get_config()\nc.CourseDirectory.course_id = {course_id!r}\n")
    env = {"PATH": f"{BIN}:/usr/bin:/bin"}  # nbgrader shells out to alembic

    def nbgrader(*args: str) -> None:
        subprocess.run([str(BIN / "nbgrader"), *args], cwd=course_dir, env=env, check=True, capture_output=True)

    nbgrader("generate_assignment", assignment, "--force")
    start = time.perf_counter()
    nbgrader("autograde", assignment, "--create")
    seconds = time.perf_counter() - start
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}", course_id) as gb:
        scores = {s.student.id: float(s.score) for s in gb.assignment_submissions(assignment)}
    return seconds, scores


def sandbox_overhead(course, runs: int) -> None:
    """The sandbox's own cost: one notebook run through the pipeline with and without it, alternately."""
    import statistics

    from autograder.pipeline.nbgrader_api import Execution
    from autograder.pipeline.running import run_notebook

    notebooks = {
        "quiz-like (no imports)": ['ANSWER_1 = "B"', 'assert ANSWER_1 == "B"'],
        "lesson-like (torch, matplotlib, a model, a figure)": [
            "import torch, matplotlib.pyplot as plt\nfrom attnlab.zoo import rationale_model",
            "trained = rationale_model(seed=0)\nout = trained.model(trained.test.tokens[:64])",
            "plt.imshow(out.attentions[-1, 0, 0].detach())\nplt.show()",
        ],
    }
    print(f"the sandbox's cost per notebook run (kernel start to shutdown), {runs} runs each, alternating:")
    for name, sources in notebooks.items():
        seconds = {True: [], False: []}
        for _ in range(runs):
            for sandbox in (True, False):
                nb = nbformat.v4.new_notebook()
                nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
                start = time.perf_counter()
                run_notebook(course, nb, nb, Path(tempfile.gettempdir()), Execution(sandbox=sandbox))
                seconds[sandbox].append(time.perf_counter() - start)
        inside, outside = statistics.median(seconds[True]), statistics.median(seconds[False])
        print(
            f"  {name:<52} sandboxed {inside:.2f} s, bare {outside:.2f} s (medians): "
            f"cost {inside - outside:+.2f} s (range of the paired differences "
            f"{min(a - b for a, b in zip(seconds[True], seconds[False])):+.2f} to "
            f"{max(a - b for a, b in zip(seconds[True], seconds[False])):+.2f} s)"
        )


def warm_references(course, assignment: str) -> None:
    """The instructor's results are computed once per course version and cached: not part of a class's cost."""
    from autograder.pipeline.nbgrader_api import Execution
    from autograder.pipeline.reference import instructor_references, references_cache

    if assignment != "quiz":
        instructor_references(
            course, course.solutions_dir / f"{assignment}.ipynb", references_cache(course), Execution()
        )


def ours(course, submissions: Path, out: Path, sandbox: bool) -> tuple[float, float, dict[str, float]]:
    """(seconds in all, seconds of course setup before the first submission, scores)."""
    start = time.perf_counter()
    report = grade(course, submissions, out, GradeOptions(sandbox=sandbox, workers=1))
    return time.perf_counter() - start, report.setup_seconds, {g.submission.student: g.score for g in report.graded}


def compare(name: str, n: int, assignment: str, course, submissions: Path, tmp: Path, check_scores: bool) -> None:
    warm_references(course, assignment)
    sandboxed, setup, scores = ours(course, submissions, tmp / f"{name}-sandboxed", sandbox=True)
    bare, bare_setup, bare_scores = ours(course, submissions, tmp / f"{name}-bare", sandbox=False)
    # The same course source nbgrader generated the release from, header and all.
    source = tmp / f"{name}-sandboxed" / "course" / "source" / assignment / f"{assignment}.ipynb"
    plain, plain_scores = plain_nbgrader(course.course_id, assignment, source, submissions, tmp / f"{name}-plain")
    print(
        f"{n} {name} submissions, one run each. Ours: course setup (release, gradebook), then per submission "
        "(CSV, feedback, report included); plain: `nbgrader autograde` after its `generate_assignment`"
    )
    print(
        f"  ours, sandboxed:             {sandboxed:6.1f} s = setup {setup:4.1f} s + "
        f"{(sandboxed - setup) / n:.2f} s per submission"
    )
    print(
        f"  ours, --no-sandbox:          {bare:6.1f} s = setup {bare_setup:4.1f} s + "
        f"{(bare - bare_setup) / n:.2f} s per submission"
    )
    print(f"  plain nbgrader autograde:    {plain:6.1f} s total, {plain / n:.2f} s per submission")
    print(
        f"  sandbox cost: {((sandboxed - setup) - (bare - bare_setup)) / n:+.2f} s per submission; "
        f"per submission, sandboxed / plain: {(sandboxed - setup) / plain:.2f} (with setup: {sandboxed / plain:.2f})"
    )
    differ = sorted(
        s for s in scores if scores[s] != bare_scores.get(s) or (check_scores and scores[s] != plain_scores.get(s))
    )
    print(f"  scores agree for {n - len(differ)}/{n} students" + (f"; differ: {differ}" if differ else ""))


def scale(course, questions, quiz_students: int, lesson_students: int, tmp: Path) -> None:
    lesson = "01_attention_as_explanation"
    folder = tmp / "scale-class"
    make_class(course.quizzes_dir / "quiz.ipynb", questions, quiz_students, folder)
    make_lesson_class(
        course.lessons_dir / f"{lesson}.ipynb", course.solutions_dir / f"{lesson}.ipynb", lesson_students, folder
    )
    n = quiz_students + lesson_students
    warm_references(course, lesson)
    timings, grades = {}, {}
    for name, options in [("1 worker", {"workers": 1}), ("2 workers", {"workers": 2}), ("Dask, 2 workers", None)]:
        out = tmp / f"scale-{len(timings)}"
        if options is None:
            with LocalCluster(tmp / "cluster", course.root, workers=2) as address:
                start = time.perf_counter()
                grade(course, folder, out, GradeOptions(scheduler=address))
        else:
            start = time.perf_counter()
            grade(course, folder, out, GradeOptions(**options))
        timings[name] = time.perf_counter() - start
        grades[name] = (out / "grades.csv").read_text()
        print(f"  {name:<16} {timings[name]:7.1f} s   {timings[name] / n:.2f} s per submission", flush=True)
    base = timings["1 worker"]
    print(
        f"{quiz_students} quiz + {lesson_students} lesson 01 submissions: speed-up with 2 workers "
        f"{base / timings['2 workers']:.2f}x, Dask {base / timings['Dask, 2 workers']:.2f}x; "
        f"Dask / 2 workers {timings['Dask, 2 workers'] / timings['2 workers']:.2f}"
    )
    print(f"  every mode gives the same grades.csv: {len(set(grades.values())) == 1}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("sandbox", "scale", "all"), default="all")
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--lesson-students", type=int, default=10)
    parser.add_argument("--scale-quiz", type=int, default=200)
    parser.add_argument("--scale-lesson", type=int, default=40)
    parser.add_argument("--runs", type=int, default=8, help="paired runs of the sandbox-cost measurement")
    args = parser.parse_args()
    course = load_config()
    questions = load_quizzes(course.quiz_bank, course.shuffle_seed)[COURSE_QUIZ].questions
    lesson = "01_attention_as_explanation"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.part in ("sandbox", "all"):
            sandbox_overhead(course, args.runs)
            make_class(course.quizzes_dir / "quiz.ipynb", questions, args.students, tmp / "quiz-class")
            compare("quiz", args.students, "quiz", course, tmp / "quiz-class", tmp, check_scores=True)
            make_lesson_class(
                course.lessons_dir / f"{lesson}.ipynb",
                course.solutions_dir / f"{lesson}.ipynb",
                args.lesson_students,
                tmp / "lesson-class",
            )
            # Plain nbgrader cannot score our hidden tests (they record, the grader judges): time only.
            compare(
                f"lesson {lesson[:2]}",
                args.lesson_students,
                lesson,
                course,
                tmp / "lesson-class",
                tmp,
                check_scores=False,
            )
        if args.part in ("scale", "all"):
            scale(course, questions, args.scale_quiz, args.scale_lesson, tmp)


if __name__ == "__main__":
    main()
