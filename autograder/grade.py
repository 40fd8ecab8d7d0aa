"""
`python -m autograder grade SUBMISSIONS --out OUT`: grade a class with real nbgrader.

    prepare the course (OUT/course, gradebook)  -> take in the submissions (intake.py)
    -> nbgrader autograde, one student and assignment at a time (our pipeline: preprocessors.py)
    -> verdicts from the autograded notebooks (results.py), scores from the gradebook
    -> OUT/grades.csv (one row per graded cell) and OUT/feedback/<student>/<assignment>/<notebook>.html

The submissions folder is only read. Grading the same folder again gives the same files.
"""

from __future__ import annotations

import csv
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder import feedback, nbgrader_api
from autograder.build import prepare_course
from autograder.config import CourseConfig, CourseError
from autograder.intake import Submission, take_in
from autograder.quizbank import load_bank
from autograder.results import Totals, Verdict, execution_problems, verdicts

CSV_COLUMNS = ["student_id", "assignment", "question", "score", "max_score", "status", "message"]


@dataclass
class Graded(Totals):
    submission: Submission
    verdicts: list[Verdict]
    seconds: float

    @property
    def status(self) -> str:
        return ";".join(self.submission.status) or "ok"


@dataclass
class GradeReport:
    out: Path
    graded: list[Graded]
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _graded_cells(release: nbformat.NotebookNode) -> list[tuple[str, float]]:
    return [(c.metadata["nbgrader"]["grade_id"], float(c.metadata["nbgrader"]["points"]))
            for c in release.cells if c.metadata.get("nbgrader", {}).get("grade")]


def _ungraded(submission: Submission, release: nbformat.NotebookNode) -> list[Verdict]:
    reason = submission.notes[-1] if submission.notes else "not graded"
    return [Verdict(grade_id, 0.0, points, reason) for grade_id, points in _graded_cells(release)]


def _gradebook_scores(db_url: str, course_id: str, submission: Submission) -> dict[str, float]:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url, course_id) as gb:
        try:
            notebook = gb.find_submission_notebook(submission.assignment, submission.assignment, submission.student)
        except MissingEntry:
            return {}
        return {grade.name: float(grade.score or 0.0) for grade in notebook.grades}


def _record_student(db_url: str, course_id: str, student: str) -> None:
    from nbgrader.api import Gradebook

    with Gradebook(db_url, course_id) as gb:
        gb.update_or_create_student(student)


def _grade_one(api, course: CourseConfig, course_dir: Path, db_url: str, submission: Submission,
               release: nbformat.NotebookNode, questions) -> list[Verdict]:
    if submission.path is None:
        _record_student(db_url, course.course_id, submission.student)
        return _ungraded(submission, release)
    result = api.autograde(submission.assignment, submission.student)
    autograded = course_dir / "autograded" / submission.student / submission.assignment / f"{submission.assignment}.ipynb"
    if not result.get("success") or not autograded.exists():
        last = (result.get("error") or result.get("log") or "").strip().splitlines()[-1:] or ["unknown error"]
        submission.problem("grading_failed", f"nbgrader could not grade this notebook: {last[0]}")
        return _ungraded(submission, release)
    executed = nbformat.read(autograded, as_version=4)
    found = verdicts(executed, questions if submission.assignment == "quiz" else None)
    # The gradebook is the record: its scores win (they agree with the notebook unless an instructor edited them).
    scores = _gradebook_scores(db_url, course.course_id, submission)
    for verdict in found:
        verdict.score = scores.get(verdict.question, verdict.score)
    for status, note in execution_problems(executed):
        submission.problem(status, note)
    return found


def grade(course: CourseConfig, submissions: Path, out: Path, db_url: str | None = None, timeout: int | None = None,
          progress: Callable[[str], None] = lambda line: None) -> GradeReport:
    start = time.perf_counter()
    if not submissions.is_dir():
        raise CourseError(f"{submissions} is not a folder: expected SUBMISSIONS/<student_id>/<assignment_id>/<notebook>.ipynb")
    if timeout is not None and timeout < 1:
        raise CourseError("--timeout must be at least 1 second")
    out.mkdir(parents=True, exist_ok=True)
    course_dir = out / "course"
    db_url = db_url or nbgrader_api.sqlite_url(out / "gradebook.db")
    for stale in ("source", "release", "submitted", "autograded"):
        shutil.rmtree(course_dir / stale, ignore_errors=True)
    shutil.rmtree(out / "feedback", ignore_errors=True)

    progress("preparing the course and its gradebook ...")
    assignments = prepare_course(course, course_dir, db_url, {})
    releases = {a.id: nbformat.read(course_dir / "release" / a.id / a.notebook_name, as_version=4) for a in assignments}
    questions = load_bank(course.quiz_bank, course.shuffle_seed)
    taken, warnings = take_in(submissions, course_dir / "submitted", releases)
    for warning in warnings:
        progress(f"warning: {warning}")
    progress(f"grading {len(taken)} submissions ...")

    api = nbgrader_api.api(nbgrader_api.course_config(course, course_dir, db_url, timeout=timeout))
    graded = []
    for n, submission in enumerate(taken, 1):
        tick = time.perf_counter()
        found = _grade_one(api, course, course_dir, db_url, submission, releases[submission.assignment], questions)
        item = Graded(submission, found, time.perf_counter() - tick)
        graded.append(item)
        progress(f"  [{n}/{len(taken)}] {submission.student:<12} {submission.assignment:<30} "
                 f"{item.score:g}/{item.max_score:g}  {item.status}  ({item.seconds:.1f} s)")
        page = feedback.render(submission.student, submission.assignment, found, submission.notes,
                               questions if submission.assignment == "quiz" else None)
        feedback.write(out / "feedback" / submission.student / submission.assignment / f"{submission.assignment}.html", page)

    _write_csv(out / "grades.csv", graded)
    return GradeReport(out, graded, warnings, time.perf_counter() - start)


def _write_csv(path: Path, graded: list[Graded]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for item in graded:
            for v in item.verdicts:
                message = v.message if not item.submission.notes else f"{v.message} | {'; '.join(item.submission.notes)}"
                writer.writerow([item.submission.student, item.submission.assignment, v.question,
                                 f"{v.score:g}", f"{v.max_score:g}", item.status, message])


def class_table(report: GradeReport) -> str:
    """Students down, assignments across: score/max, with a mark where the submission had problems."""
    assignments = sorted({g.submission.assignment for g in report.graded})
    students = sorted({g.submission.student for g in report.graded})
    cell = {(g.submission.student, g.submission.assignment): g for g in report.graded}
    width = max([len("student")] + [len(s) for s in students]) + 2
    cols = [max(len(a), 9) + 2 for a in assignments]
    lines = ["student".ljust(width) + "".join(a.ljust(w) for a, w in zip(assignments, cols)) + "problems"]
    for student in students:
        row, problems = student.ljust(width), []
        for a, w in zip(assignments, cols):
            g = cell.get((student, a))
            row += (f"{g.score:g}/{g.max_score:g}" + ("*" if g.submission.status else "") if g else "-").ljust(w)
            if g and g.submission.status:
                problems.append(f"{a}: {g.status}")
        lines.append(row + "; ".join(problems))
    return "\n".join(lines)


def print_summary(report: GradeReport) -> None:
    print()
    print(class_table(report))
    print(f"\n* = graded with a problem (see the status and message columns of grades.csv)")
    print(f"{len(report.graded)} submissions graded in {report.seconds:.1f} s")
    print(f"gradebook and course: {report.out / 'course'} (nbgrader_config.py inside)")
    print(f"grades:   {report.out / 'grades.csv'}")
    print(f"feedback: {report.out / 'feedback'}/<student>/<assignment>/<notebook>.html")
