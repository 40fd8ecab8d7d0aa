"""The LMS files and the roster: Canvas's and Moodle's import formats, as their documentation states them."""

import csv
from types import SimpleNamespace

import nbformat
import pytest

from autograder.course.config import CourseError
from autograder.course.roster import load_roster
from autograder.outputs.lms import CANVAS_COLUMNS, canvas_csv, moodle_csv


def _release(points: list[float]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    for n, value in enumerate(points):
        cell = nbformat.v4.new_code_cell("pass")
        cell.metadata["nbgrader"] = {"grade": True, "grade_id": f"t{n}", "points": value, "solution": False}
        nb.cells.append(cell)
    nb.cells.append(nbformat.v4.new_code_cell("x = 1"))  # not graded: no points
    return nb


def _graded(student: str, assignment: str, score: float):
    return SimpleNamespace(submission=SimpleNamespace(student=student, assignment=assignment), score=score)


RELEASES = {"quiz": _release([1] * 8), "01_attention_as_explanation": _release([1, 2, 1])}
CLASS = [
    _graded("ada", "quiz", 8),
    _graded("ada", "01_attention_as_explanation", 3),
    _graded("=cmd|' /C calc'!A0", "quiz", 1),  # a student id a spreadsheet would run as a formula
]


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(text.splitlines()))


@pytest.fixture
def roster(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("\ufeffID,First Name,Last Name,E-mail\nada,Ada,Lovelace,ada@example.org\n", encoding="utf-8")
    return load_roster(path)


def test_canvas_file_has_canvas_columns_a_points_row_and_no_total(roster):
    rows = _rows(canvas_csv(CLASS, RELEASES, roster))
    assert rows[0] == CANVAS_COLUMNS + ["01_attention_as_explanation", "quiz"]
    assert rows[1] == ["Points Possible", "", "", "", "", "4", "8"]  # from the release, whatever a submission says
    assert not any("total" in column.lower() for column in rows[0])
    assert rows[2] == ["'=cmd|' /C calc'!A0", "", "", "'=cmd|' /C calc'!A0", "", "", "1"]  # no lesson: left blank
    assert rows[3] == ["Lovelace, Ada", "", "", "ada", "", "3", "8"]  # matched on SIS Login ID, named from the roster


def test_moodle_file_identifies_users_by_username_with_their_email(roster):
    rows = _rows(moodle_csv(CLASS, RELEASES, roster))
    assert rows[0] == ["username", "email", "01_attention_as_explanation", "quiz"]
    assert ["ada", "ada@example.org", "3", "8"] in rows


def test_a_roster_without_ids_or_with_a_repeated_id_is_refused_with_the_line(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("name,email\nAda,ada@example.org\n")
    with pytest.raises(CourseError, match="no `id` column"):
        load_roster(path)
    path.write_text("id,first name\nada,Ada\nada,Augusta\n")
    with pytest.raises(CourseError, match="line 3"):
        load_roster(path)
    with pytest.raises(CourseError, match="cannot read the roster"):
        load_roster(tmp_path / "missing.csv")
