"""
`python -m autograder grade SUBMISSIONS --out OUT`: grade a class with real nbgrader, safely.

    lock OUT -> prepare the course (OUT/course, gradebook) -> take in the submissions (intake.py)
    -> the instructor's records of every lesson's hidden tests (reference.py, cached)
    -> per submission: nbgrader autograde in a sandboxed kernel (our pipeline: preprocessors.py)
       -> scores decided in this process (results.py) and written into the gradebook
       -> its feedback page and the rows of OUT/grades.csv, written as soon as it is done

Student code runs only inside the sandbox (sandbox.py); nothing it does can reach OUT, the gradebook,
another submission or this process. Any failure while grading one submission becomes that
submission's status; the others are graded. The submissions folder is only read, and grading the
same folder again gives the same files.
"""

from __future__ import annotations

import csv
import fcntl
import io
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder import feedback, nbgrader_api
from autograder.build import prepare_course
from autograder.config import CourseConfig, CourseError
from autograder.intake import NO_ASSIGNMENT, Submission, take_in
from autograder.nbgrader_api import Execution
from autograder.quizbank import load_bank
from autograder.results import References, Totals, Verdict, execution_problems, verdicts

NO_SANDBOX_WARNING = ("WARNING: --no-sandbox: student code runs with your own rights and can read or change anything "
                      "you can (other submissions, the gradebook, your files). Use it only for code you trust.")
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


def _ungraded(submission: Submission, release: nbformat.NotebookNode | None) -> list[Verdict]:
    if release is None:
        return []
    return [Verdict(grade_id, 0.0, points, "not graded") for grade_id, points in _graded_cells(release)]


def _save_scores(db_url: str, course_id: str, submission: Submission, found: list[Verdict], comment: str | None) -> None:
    """Write our scores into nbgrader's gradebook (the record), then read back what it counts (an
    instructor's manual score wins over ours, as in nbgrader)."""
    from nbgrader.api import Gradebook

    by_cell = {v.question: v for v in found}
    with Gradebook(db_url, course_id) as gb:
        notebook = gb.find_submission_notebook(submission.assignment, submission.assignment, submission.student)
        for grade in notebook.grades:
            if grade.name in by_cell:
                grade.auto_score = by_cell[grade.name].score
        if comment:
            for remark in notebook.comments:
                remark.auto_comment = comment
        gb.db.commit()
        for grade in notebook.grades:
            if grade.name in by_cell:
                by_cell[grade.name].score = float(grade.score or 0.0)


def _record_student(db_url: str, course_id: str, student: str) -> None:
    from nbgrader.api import Gradebook

    with Gradebook(db_url, course_id) as gb:
        gb.update_or_create_student(student)


def _grade_one(api, course: CourseConfig, course_dir: Path, db_url: str, submission: Submission,
               release: nbformat.NotebookNode, questions, references: References | None,
               sandboxed: bool) -> list[Verdict]:
    if submission.path is None:
        if submission.assignment != NO_ASSIGNMENT:
            _record_student(db_url, course.course_id, submission.student)
        return _ungraded(submission, release)
    result = api.autograde(submission.assignment, submission.student)
    autograded = course_dir / "autograded" / submission.student / submission.assignment / f"{submission.assignment}.ipynb"
    if not result.get("success") or not autograded.exists():
        submission.problem("grading_failed", "nbgrader could not grade this notebook")
        return _ungraded(submission, release)
    executed = nbformat.read(autograded, as_version=4)
    found = verdicts(executed, questions if submission.assignment == "quiz" else None, references)
    if any(v.disputed for v in found):
        submission.problem("score_mismatch", "the check run in the notebook disagreed with the grader for "
                                             f"{', '.join(v.question for v in found if v.disputed)}; the lower score counts")
    for status, note in execution_problems(executed):
        submission.problem(status, note)
    if not sandboxed:
        submission.problem("no_sandbox", "graded without a sandbox (--no-sandbox)")
    _save_scores(db_url, course.course_id, submission, found, None if sandboxed else NO_SANDBOX_WARNING)
    return found


class OutLock:
    """One grading run per OUT at a time: a second one refuses at once with a clear message."""

    def __init__(self, out: Path) -> None:
        self.path = out / ".grading.lock"

    def __enter__(self) -> "OutLock":
        self.file = self.path.open("a+")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.seek(0)
            holder = self.file.read().strip() or "another process"
            self.file.close()
            raise CourseError(f"{self.path.parent} is being graded by {holder}; wait until it finishes, "
                              "or grade into another --out folder") from None
        self.file.seek(0)
        self.file.truncate()
        self.file.write(f"process {os.getpid()}")
        self.file.flush()
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()  # closing releases the lock


def write_atomically(path: Path, text: str) -> None:
    """Write a whole file or nothing: readers never see it half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)


def _lesson_references(course: CourseConfig, assignments, taken: list[Submission], execution: Execution,
                       progress: Callable[[str], None]) -> dict[str, References]:
    from autograder.check import references_cache
    from autograder.reference import instructor_references

    wanted = {s.assignment for s in taken if s.path is not None}
    found = {}
    for assignment in assignments:
        if assignment.id in wanted and not assignment.is_quiz:
            progress(f"the instructor's results for {assignment.id} (cached after the first run) ...")
            found[assignment.id] = instructor_references(course, assignment.source, references_cache(course), execution)
    return found


def grade(course: CourseConfig, submissions: Path, out: Path, db_url: str | None = None, timeout: int | None = None,
          sandbox: bool = True, progress: Callable[[str], None] = lambda line: None) -> GradeReport:
    start = time.perf_counter()
    if not submissions.is_dir():
        raise CourseError(f"{submissions} is not a folder: expected SUBMISSIONS/<student_id>/<assignment_id>/<notebook>.ipynb")
    if timeout is not None and timeout < 1:
        raise CourseError("--timeout must be at least 1 second")
    if sandbox:
        from autograder.sandbox import require_bwrap

        require_bwrap()
    else:
        progress(NO_SANDBOX_WARNING)
    out.mkdir(parents=True, exist_ok=True)
    with OutLock(out):
        return _grade_locked(course, submissions, out, db_url, Execution(timeout=timeout, sandbox=sandbox), progress, start)


def _grade_locked(course: CourseConfig, submissions: Path, out: Path, db_url: str | None, execution: Execution,
                  progress: Callable[[str], None], start: float) -> GradeReport:
    course_dir = out / "course"
    db_url = db_url or nbgrader_api.sqlite_url(out / "gradebook.db")
    for stale in ("source", "release", "submitted", "autograded"):
        shutil.rmtree(course_dir / stale, ignore_errors=True)
    shutil.rmtree(out / "feedback", ignore_errors=True)

    progress("preparing the course and its gradebook ...")
    assignments = prepare_course(course, course_dir, db_url, {})
    releases = {a.id: nbformat.read(course_dir / "release" / a.id / a.notebook_name, as_version=4) for a in assignments}
    questions = load_bank(course.quiz_bank, course.shuffle_seed)
    taken, warnings = take_in(submissions, course_dir / "submitted", releases, course.max_notebook_bytes)
    for warning in warnings:
        progress(f"warning: {warning}")
    references = _lesson_references(course, assignments, taken, execution, progress)
    progress(f"grading {len(taken)} submissions ...")

    api = nbgrader_api.api(nbgrader_api.course_config(course, course_dir, db_url, execution=execution))
    graded: list[Graded] = []
    for n, submission in enumerate(taken, 1):
        tick = time.perf_counter()
        release = releases.get(submission.assignment)
        try:
            found = _grade_one(api, course, course_dir, db_url, submission, release, questions,
                               references.get(submission.assignment), execution.sandbox)
        except Exception as error:  # contained: this submission's status, never the end of the batch
            submission.problem("grading_failed", f"the grader could not grade this notebook ({type(error).__name__})")
            found = _ungraded(submission, release)
        item = Graded(submission, found, time.perf_counter() - tick)
        graded.append(item)
        progress(f"  [{n}/{len(taken)}] {submission.student:<12} {submission.assignment:<30} "
                 f"{item.score:g}/{item.max_score:g}  {item.status}  ({item.seconds:.1f} s)")
        if release is not None:
            page = feedback.render(submission.student, submission.assignment, found, submission.notes,
                                   questions if submission.assignment == "quiz" else None)
            write_atomically(out / "feedback" / submission.student / submission.assignment /
                             f"{submission.assignment}.html", page)
        write_atomically(out / "grades.csv", csv_text(graded))
    if not taken:
        write_atomically(out / "grades.csv", csv_text(graded))
    return GradeReport(out, graded, warnings, time.perf_counter() - start)


def spreadsheet_safe(value: str) -> str:
    """A CSV value a spreadsheet will not run as a formula (OWASP: quote values starting with = + - @ tab CR)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_text(graded: list[Graded]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for item in graded:
        rows = item.verdicts or [Verdict(NO_ASSIGNMENT, 0.0, 0.0, "")]
        for v in rows:
            message = "; ".join(filter(None, [v.message] + item.submission.notes))
            writer.writerow([spreadsheet_safe(str(x)) for x in (
                item.submission.student, item.submission.assignment, v.question, f"{v.score:g}", f"{v.max_score:g}",
                item.status, message)])
    return buffer.getvalue()


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
