"""
Writing a graded submission into nbgrader's gradebook, the record `nbgrader formgrader` and
`nbgrader export` read. Only the grading process writes it, one submission at a time, whatever the
number of workers: no write is lost or doubled, and SQLite and PostgreSQL behave the same.
"""

from __future__ import annotations

from datetime import datetime

from autograder.pipeline.results import Verdict


def record_student(gb, student: str) -> None:
    gb.update_or_create_student(student)


def record_submission(
    gb, student: str, assignment: str, timestamp: datetime | None, found: list[Verdict], comment: str | None = None
) -> dict[str, float]:
    """
    Create or update the submission in the open Gradebook gb, with our scores as its automatic scores
    (as nbgrader's SaveAutoGrades does: an instructor's manual score stays and wins). Returns the score
    nbgrader counts per graded cell.
    """
    by_cell = {v.question: v for v in found}
    gb.update_or_create_student(student)
    gb.update_or_create_submission(assignment, student, **({"timestamp": timestamp} if timestamp else {}))
    notebook = gb.find_submission_notebook(assignment, assignment, student)
    for grade in notebook.grades:
        if grade.name in by_cell:
            grade.auto_score = by_cell[grade.name].score
            grade.needs_manual_grade = grade.manual_score is not None
    for remark in notebook.comments:
        remark.auto_comment = comment
    gb.db.commit()
    return {grade.name: float(grade.score or 0.0) for grade in notebook.grades}
