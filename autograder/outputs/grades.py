"""
A grading run's results as people read them: OUT/grades.csv (a row per question), each submission's
feedback page where the student and nbgrader's release_feedback find it, and the class table and
summary `grade` prints. (The class report and the LMS files are report.py and lms.py.)
"""

from __future__ import annotations

import csv
import io
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course.files import spreadsheet_safe, write_atomically
from autograder.pipeline.intake import NO_ASSIGNMENT, SECRET, Submission
from autograder.pipeline.results import Totals, Verdict

CSV_COLUMNS = ["student_id", "assignment", "question", "score", "max_score", "status", "message"]


@dataclass
class Graded(Totals):
    submission: Submission
    verdicts: list[Verdict]
    seconds: float
    regraded: bool = True  # False: the stored result of an unchanged submission

    @property
    def status(self) -> str:
        return ";".join(self.submission.status) or "ok"


@dataclass
class GradeReport:
    out: Path
    graded: list[Graded]
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    setup_seconds: float = 0.0  # before the first submission: course, gradebook, intake, the instructor's results
    kernel_problem: str | None = None  # why some submissions' kernels did not start, once for the run

    @property
    def regraded(self) -> list[Graded]:
        return [g for g in self.graded if g.regraded]


def in_order(done: dict[tuple[str, str], Graded]) -> list[Graded]:
    return [done[key] for key in sorted(done)]


def write_feedback(out: Path, submission: Submission, page: str) -> None:
    """
    OUT/feedback/<student>/<assignment>/<assignment>.html, and the same page where nbgrader's
    release_feedback looks for it (OUT/course/feedback/...), beside the submission's timestamp.txt and
    submission_secret.txt, so `nbgrader release_feedback` returns it through the exchange.
    """
    name = f"{submission.assignment}.html"
    write_atomically(out / "feedback" / submission.student / submission.assignment / name, page)
    if submission.path is None:
        return
    exchange = out / "course" / "feedback" / submission.student / submission.assignment
    write_atomically(exchange / name, page)
    for kept in ("timestamp.txt", SECRET):
        if (submission.path.parent / kept).is_file():
            shutil.copyfile(submission.path.parent / kept, exchange / kept)


def csv_text(graded: list[Graded]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for item in graded:
        rows = item.verdicts or [Verdict(NO_ASSIGNMENT, 0.0, 0.0, "")]
        for v in rows:
            message = "; ".join(filter(None, [v.text] + item.submission.notes))
            writer.writerow(
                [
                    spreadsheet_safe(str(x))
                    for x in (
                        item.submission.student,
                        item.submission.assignment,
                        v.question,
                        f"{v.score:g}",
                        f"{v.max_score:g}",
                        item.status,
                        message,
                    )
                ]
            )
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


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def print_summary(report: GradeReport) -> None:
    print()
    print(class_table(report))
    print("\n* = graded with a problem (see the status and message columns of grades.csv)")
    if report.kernel_problem:
        print(f"not graded, the grader's fault, not the students': {report.kernel_problem}")
    kept = len(report.graded) - len(report.regraded)
    print(
        f"{_count(len(report.regraded), 'submission')} graded in {report.seconds:.1f} s"
        + (f"; {kept} unchanged, kept" if kept else "")
    )
    if kept and report.regraded:  # a partial regrade: say which ones (the report marks what changed)
        names = [f"{g.submission.student}/{g.submission.assignment}" for g in report.regraded]
        print("regraded: " + ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else ""))
    print(f"gradebook and course: {report.out / 'course'} (nbgrader_config.py inside)")
    print(f"grades:   {report.out / 'grades.csv'} (a row per question), {report.out / 'grades_wide.csv'} (per student)")
    print(f"LMS:      {report.out / 'grades_canvas.csv'} (Canvas), {report.out / 'grades_moodle.csv'} (Moodle)")
    print(f"feedback: {report.out / 'feedback'}/<student>/<assignment>/<notebook>.html")
    print(f"report:   {report.out / 'report.html'}")
