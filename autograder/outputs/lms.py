"""
Grades in the files learning management systems import as they are:

    OUT/grades_canvas.csv  Canvas's own gradebook format: the columns Student, ID, SIS User ID, SIS Login ID
                           and Section, one column per assignment, a `Points Possible` row under the
                           header, and no total (Canvas would take a total column for a new assignment).
                           Students are matched by SIS Login ID, the course's student id.
    OUT/grades_moodle.csv  for Moodle's "Import > CSV file": username, email, then one column per
                           assignment; Moodle asks which column identifies the user (username) and which
                           grade item each other column fills.

The maximum of each assignment is the release's (points of its graded cells), never a submission's.
A student with no submission for an assignment gets an empty cell (Canvas and Moodle leave the grade as
it is), never a 0 the student did not earn.
"""

from __future__ import annotations

import csv
import io

from nbformat import NotebookNode

from autograder.course.files import spreadsheet_safe
from autograder.course.notebooks import points_of
from autograder.course.roster import Roster, Student
from autograder.pipeline.intake import NO_ASSIGNMENT

CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_COLUMNS = ["username", "email"]


def release_points(releases: dict[str, NotebookNode]) -> dict[str, float]:
    """assignment -> the points of its graded cells, as released."""
    return {assignment: sum(points_of(cell) for cell in nb.cells) for assignment, nb in releases.items()}


def _table(graded, releases) -> tuple[list[str], dict[str, float], dict[tuple[str, str], float], list[str]]:
    points = release_points(releases)
    submissions = [g for g in graded if g.submission.assignment in points and g.submission.assignment != NO_ASSIGNMENT]
    assignments = sorted({g.submission.assignment for g in submissions})
    scores = {(g.submission.student, g.submission.assignment): g.score for g in submissions}
    students = sorted({g.submission.student for g in graded})
    return assignments, points, scores, students


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def canvas_csv(graded, releases: dict[str, NotebookNode], roster: Roster) -> str:
    assignments, points, scores, students = _table(graded, releases)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CANVAS_COLUMNS + assignments)
    writer.writerow(["Points Possible", "", "", "", ""] + [_cell(points[a]) for a in assignments])
    for student in students:
        person = roster.get(student, Student(student))
        row = [person.sortable_name, "", "", student, ""] + [_cell(scores.get((student, a))) for a in assignments]
        writer.writerow([spreadsheet_safe(value) for value in row])
    return buffer.getvalue()


def moodle_csv(graded, releases: dict[str, NotebookNode], roster: Roster) -> str:
    assignments, _, scores, students = _table(graded, releases)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(MOODLE_COLUMNS + assignments)
    for student in students:
        row = [student, roster.get(student, Student(student)).email]
        row += [_cell(scores.get((student, a))) for a in assignments]
        writer.writerow([spreadsheet_safe(value) for value in row])
    return buffer.getvalue()
