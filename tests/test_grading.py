"""`python -m autograder grade` on a class with every kind of broken submission, through real nbgrader.

The class is the bundled examples (autograder/release/examples/, described in autograder/release/example_submissions.py)
plus two submissions made here: a folder with two notebooks, and an endless loop that a plain interrupt
stops (the examples' `dee` ignores interrupts).
"""

import csv
import hashlib
import os
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.course.assignments import assignments
from autograder.course.notebooks import graded_cell_titles
from autograder.course.quizbank import COURSE_QUIZ, load_quizzes
from autograder.run.grade import GradeOptions, Selection, grade

pytestmark = pytest.mark.slow
# Short, so the endless loops of `dee` and `lou` cost little, yet above what every other cell of the examples
# takes with three test workers on two cores: fay's 200,000 printed lines took 6 s alone and over 10 s there.
TIMEOUT = 30


def _fingerprint(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def submissions(tmp_path_factory, course) -> Path:
    folder = tmp_path_factory.mktemp("class") / "submitted"
    shutil.copytree(course.examples_dir, folder)
    kim = folder / "kim" / "quiz"
    kim.mkdir(parents=True)
    for name in ("draft.ipynb", "final.ipynb"):
        shutil.copy(course.quizzes_dir / "quiz.ipynb", kim / name)
    lou = folder / "lou" / "quiz"
    lou.mkdir(parents=True)
    quiz = nbformat.read(folder / "ada" / "quiz" / "quiz.ipynb", as_version=4)
    after_q4 = next(n for n, c in enumerate(quiz.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "q4")
    quiz.cells.insert(after_q4 + 1, nbformat.v4.new_code_cell("while True:\n    pass"))
    nbformat.write(quiz, lou / "quiz.ipynb")
    (lou / "timestamp.txt").write_text("2026-11-20 09:30:00.000000 UTC")  # as nbgrader's collect writes it
    return folder


@pytest.fixture(scope="module")
def quizzes(course):
    return load_quizzes(course.quiz_bank, course.shuffle_seed)


@pytest.fixture(scope="module")
def graded(tmp_path_factory, course, submissions):
    before = _fingerprint(submissions)
    out = tmp_path_factory.mktemp("graded")
    report = grade(course, submissions, out, GradeOptions(timeout=TIMEOUT))
    return report, before


def _rows(out: Path) -> list[dict]:
    with (out / "grades.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _one(report, student: str, assignment: str):
    [item] = [g for g in report.graded if (g.submission.student, g.submission.assignment) == (student, assignment)]
    return item


# (student, assignment): (score, None for full marks or "odd" for the odd-numbered questions; the statuses)
EXPECTED = {
    ("ada", "quiz"): (None, []),
    ("ada", "01_attention_as_explanation"): (None, []),
    ("ben", "quiz"): (5, []),
    ("ben", "00_tiny_transformer"): (0, []),
    ("cy", "quiz"): (5, ["cells_restored"]),
    ("dee", "quiz"): (None, ["timeout"]),
    ("eve", "quiz"): (7, ["kernel_died"]),
    ("fay", "quiz"): (4, ["renamed", "duplicate_ids", "output_truncated"]),
    ("gus", "quiz"): (0, ["not_json"]),
    ("hal", "01_attention_as_explanation"): (0, ["missing_notebook"]),
    ("ivy", "01_attention_as_explanation"): (None, []),
    ("jo", "quiz_05"): ("odd", []),
    ("max", "01_attention_as_explanation"): (5, []),  # nbgrader's own autograde gives the same (test_nbgrader_path)
    ("ida", "quiz"): (0, ["not_a_notebook"]),
    ("kim", "quiz"): (0, ["missing_notebook"]),
    ("lou", "quiz"): (None, ["timeout"]),
}


def test_every_submission_is_graded_and_none_stops_the_batch(graded):
    report, _ = graded
    assert {(g.submission.student, g.submission.assignment) for g in report.graded} == set(EXPECTED)


@pytest.mark.parametrize("key", list(EXPECTED), ids=lambda k: f"{k[0]}-{k[1]}")
def test_each_submission_gets_its_score_and_status(graded, key):
    report, _ = graded
    item = _one(report, *key)
    score, statuses = EXPECTED[key]
    assert item.submission.status == statuses, item.submission.notes
    expected = {None: item.max_score, "odd": (item.max_score + 1) // 2}.get(score, score)
    assert item.score == expected, [(v.question, v.message) for v in item.verdicts]
    assert len(item.submission.notes) >= len(statuses)  # every problem is explained in a sentence


def test_broken_submissions_say_what_went_wrong(graded):
    report, _ = graded
    notes = {(g.submission.student, g.submission.assignment): " ".join(g.submission.notes) for g in report.graded}
    # Said without the names the students chose (notes reach grades.csv and the feedback).
    assert "another name than quiz.ipynb" in notes["fay", "quiz"] and "(1)" not in notes["fay", "quiz"]
    assert "2 notebooks and none named quiz.ipynb" in notes["kim", "quiz"] and "draft" not in notes["kim", "quiz"]
    cy = {v.question: v.message for v in _one(report, "cy", "quiz").verdicts}
    assert "letter in quotes" in cy["q1"] and "letter in quotes" in cy["q2"]  # fake equality, answer read from a file
    for student in ("dee", "lou"):
        assert f"({TIMEOUT} s)" in " ".join(_one(report, student, "quiz").submission.notes)
    eve = _one(report, "eve", "quiz")
    assert [v.question for v in eve.verdicts if not v.passed] == [
        "q2"
    ]  # eve's one wrong answer; the crash costs nothing


def test_grades_csv_has_one_row_per_student_assignment_and_graded_cell(graded, course, quizzes):
    report, _ = graded
    rows = _rows(report.out)
    assert list(rows[0]) == ["student_id", "assignment", "question", "score", "max_score", "status", "message"]
    for quiz in ("quiz", "quiz_05"):
        quiz_rows = [r for r in rows if r["assignment"] == quiz]
        students = {r["student_id"] for r in quiz_rows}
        assert len(quiz_rows) == len(quizzes[quiz].questions) * len(students)
        assert {r["question"] for r in quiz_rows} == {q.test_id for q in quizzes[quiz].questions}
    quiz_rows = [r for r in rows if r["assignment"] == "quiz"]
    fay = [r for r in quiz_rows if r["student_id"] == "fay"]
    assert {r["status"] for r in fay} == {"renamed;duplicate_ids;output_truncated"}
    for item in report.graded:
        mine = [
            r
            for r in rows
            if (r["student_id"], r["assignment"]) == (item.submission.student, item.submission.assignment)
        ]
        assert sum(float(r["score"]) for r in mine) == item.score
        assert all(r["message"] for r in mine)


def test_the_gradebook_records_every_student_and_every_graded_submission(graded, course, submissions, quizzes):
    report, _ = graded
    n = len(quizzes[COURSE_QUIZ].questions)
    with Gradebook(f"sqlite:///{report.out / 'gradebook.db'}", course.course_id) as gb:
        assert {s.id for s in gb.students} == {k[0] for k in EXPECTED}
        assert {a.name for a in gb.assignments} >= {
            "quiz",
            "quiz_05",
            "00_tiny_transformer",
            "01_attention_as_explanation",
        }
        quiz = gb.find_notebook("quiz", "quiz")
        assert sum(c.max_score for c in quiz.grade_cells) == n
        ada = gb.find_submission_notebook("quiz", "quiz", "ada")
        assert ada.score == n and ada.max_score == n
        jo = gb.find_submission_notebook("quiz_05", "quiz_05", "jo")
        assert jo.max_score == len(quizzes["quiz_05"].questions) and jo.score == _one(report, "jo", "quiz_05").score
        # When the submission was handed in: nbgrader's timestamp.txt, else when the notebook was saved.
        assert gb.find_submission("quiz", "lou").timestamp == datetime(2026, 11, 20, 9, 30)
        saved = datetime.fromtimestamp((submissions / "ada" / "quiz" / "quiz.ipynb").stat().st_mtime, UTC)
        assert gb.find_submission("quiz", "ada").timestamp == saved.replace(tzinfo=None)
        ben = gb.find_submission_notebook("quiz", "quiz", "ben")
        assert {g.name: g.score for g in ben.grades} == {
            v.question: v.score for v in _one(report, "ben", "quiz").verdicts
        }


def test_the_submissions_are_never_modified(graded, submissions):
    _, before = graded
    assert _fingerprint(submissions) == before


def test_feedback_shows_verdicts_and_explanations_but_no_hidden_test(graded, quizzes, course):
    report, _ = graded
    released = {a.id: nbformat.read(course.root / a.student_version, as_version=4) for a in assignments(course)}
    for item in report.graded:
        page = (
            report.out
            / "feedback"
            / item.submission.student
            / item.submission.assignment
            / f"{item.submission.assignment}.html"
        )
        text = page.read_text()
        assert "HIDDEN TESTS" not in text and "is not the correct option" not in text
        assert '<meta name="viewport"' in text and "CheckFailed" not in text
        titles = graded_cell_titles(released[item.submission.assignment])
        for v in item.verdicts:  # named as in the notebook: "Exercise 1: attention from queries and keys"
            assert titles[v.question] in text
        if item.submission.assignment not in quizzes:
            assert not any(f">{v.question}<" in text for v in item.verdicts)  # no bare grade ids
            continue
        questions = {q.test_id: q for q in quizzes[item.submission.assignment].questions}
        for v in item.verdicts:
            if v.choice and not v.passed:
                # A wrong answer is explained, but the right option is not given away.
                question = questions[v.question]
                right = question.option(question.answer).text
                assert v.explanation in text and right not in text


def test_grading_the_same_folder_again_gives_the_same_grades(graded, course, submissions, tmp_path):
    report, _ = graded
    subset = tmp_path / "submitted"
    for student in ("ben", "fay", "gus"):
        shutil.copytree(submissions / student, subset / student)
    first = grade(course, subset, tmp_path / "out", GradeOptions(timeout=TIMEOUT))
    again = grade(course, subset, tmp_path / "out", GradeOptions(timeout=TIMEOUT))
    assert (first.out / "grades.csv").read_text() == (again.out / "grades.csv").read_text()
    original = [r for r in _rows(report.out) if r["student_id"] in {"ben", "fay", "gus"}]
    assert _rows(again.out) == original


def test_a_gradebook_anywhere_sqlalchemy_can_reach(course, submissions, tmp_path):
    subset = tmp_path / "submitted"
    shutil.copytree(submissions / "gus", subset / "gus")
    url = f"sqlite:///{tmp_path / 'elsewhere' / 'class.db'}"
    (tmp_path / "elsewhere").mkdir()
    grade(course, subset, tmp_path / "out", GradeOptions(db_url=url))
    assert not (tmp_path / "out" / "gradebook.db").exists()
    with Gradebook(url, course.course_id) as gb:
        assert [s.id for s in gb.students] == ["gus"]


def test_a_new_gradebook_is_the_one_nbgrader_itself_creates(tmp_path, monkeypatch):
    from sqlalchemy import create_engine, inspect, text

    from autograder.pipeline.nbgrader_api import create_gradebook, sqlite_url

    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")  # nbgrader runs `alembic`
    ours, theirs = sqlite_url(tmp_path / "ours.db"), sqlite_url(tmp_path / "theirs.db")
    create_gradebook(ours)
    with Gradebook(theirs, "course"):
        pass

    def schema(url: str) -> tuple:
        engine = create_engine(url)
        with engine.connect() as connection:
            version = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        tables = {
            name: sorted(c["name"] for c in inspect(engine).get_columns(name))
            for name in inspect(engine).get_table_names()
        }
        engine.dispose()
        return version, tables

    assert schema(ours) == schema(theirs)
    with Gradebook(ours, "course") as gb:  # and nbgrader opens it as its own
        gb.add_student("ada")
        assert [s.id for s in gb.students] == ["ada"]


def test_the_lms_files_list_every_student_with_the_release_points(graded):
    report, _ = graded
    with (report.out / "grades_canvas.csv").open(newline="", encoding="utf-8") as f:
        canvas = list(csv.reader(f))
    students = {g.submission.student for g in report.graded}
    assert canvas[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert canvas[1][0] == "Points Possible" and canvas[1][canvas[0].index("quiz")] == "8"
    assert {row[3] for row in canvas[2:]} == students
    with (report.out / "grades_moodle.csv").open(newline="", encoding="utf-8") as f:
        moodle = list(csv.DictReader(f))
    ada = next(row for row in moodle if row["username"] == "ada")
    assert ada["quiz"] == "8"


def test_a_roster_puts_names_in_the_gradebook(course, submissions, tmp_path):
    from autograder.course.roster import Student

    roster = {"ada": Student("ada", "Ada", "Lovelace", "ada@example.org")}
    only = Selection(frozenset({"ada"}), frozenset({"quiz"}))
    report = grade(course, submissions, tmp_path / "out", GradeOptions(timeout=TIMEOUT, selection=only, roster=roster))
    with Gradebook(f"sqlite:///{tmp_path / 'out' / 'gradebook.db'}", course.course_id) as gb:
        ada = gb.find_student("ada")
        assert (ada.first_name, ada.last_name, ada.email) == ("Ada", "Lovelace", "ada@example.org")
    with (report.out / "grades_canvas.csv").open(newline="", encoding="utf-8") as f:
        assert ["Lovelace, Ada", "", "", "ada", ""] == next(r for r in csv.reader(f) if r[3] == "ada")[:5]


def test_a_gradebook_changed_behind_grades_back_is_regraded_not_kept(course, submissions, tmp_path):
    """An Autograde in the Formgrader of OUT/course (an older pipeline, a slip) changes the gradebook: the next
    `grade` notices, says so, and grades the submission again instead of keeping it as unchanged."""
    only = Selection(frozenset({"ben"}), frozenset({"quiz"}))
    out = tmp_path / "out"
    first = grade(course, submissions, out, GradeOptions(timeout=TIMEOUT, selection=only))
    right = {v.question: v.score for v in _one(first, "ben", "quiz").verdicts}
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", course.course_id) as gb:
        cell = gb.find_grade("q8", "quiz", "quiz", "ben")
        assert cell.auto_score == 0
        cell.auto_score = 1.0  # ben's wrong answer to q8, marked right behind grade's back
        gb.db.commit()
    said = []
    second = grade(course, submissions, out, GradeOptions(timeout=TIMEOUT, selection=only, progress=said.append))
    assert [(g.submission.student, g.submission.assignment) for g in second.regraded] == [("ben", "quiz")]
    assert any("changed outside this command" in line for line in said)
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", course.course_id) as gb:
        assert gb.find_grade("q8", "quiz", "quiz", "ben").auto_score == right["q8"] == 0
    third = grade(course, submissions, out, GradeOptions(timeout=TIMEOUT, selection=only))
    assert third.regraded == []  # in agreement again: kept
