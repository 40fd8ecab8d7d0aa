"""
The class report an instructor reads (OUT/report.html, OUT/report.json): items by title with their
grade id, hard items flagged, discrimination explained, integer histogram ticks, "none" under empty
tables, what a partial regrade changed, and nothing a student wrote active in the page. Mostly built
from graded results made here, with the course's own releases and quiz bank; one slow test regrades
two example quizzes for real, one (marker `browser`) shows the page in Chromium.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from attnlab import settings
from autograder.course.quizbank import COURSE_QUIZ, load_quizzes
from autograder.outputs.grades import Graded
from autograder.outputs.report import histogram_figure, previous_scores, summarize, write_report
from autograder.pipeline.intake import NO_ASSIGNMENT, Submission, shown
from autograder.pipeline.results import Verdict
from autograder.run.store import store as _store

REPO = Path(__file__).resolve().parents[1]
LESSON = "01_attention_as_explanation"
# A student folder named so that it would run in the instructor's browser: not a usable id, it reaches the
# report as intake's shown() gives it, quoted.
HOSTILE = shown("<svg onload=window.pwned=1>")


@pytest.fixture(scope="module")
def releases() -> dict[str, nbformat.NotebookNode]:
    return {
        LESSON: nbformat.read(REPO / "lessons" / f"{LESSON}.ipynb", as_version=4),
        COURSE_QUIZ: nbformat.read(REPO / "quizzes" / "quiz.ipynb", as_version=4),
    }


@pytest.fixture(scope="module")
def quizzes(course):
    return load_quizzes(course.quiz_bank, course.shuffle_seed)


def _lesson(student: str, scores: dict[str, float], regraded: bool = True) -> Graded:
    points = {"test_attention_mass": 1.0, "test_flip_rate": 2.0, "test_block_prediction": 1.0}
    verdicts = [
        Verdict(grade_id, scores.get(grade_id, 0.0), maximum, "ok" if scores.get(grade_id) == maximum else "wrong")
        for grade_id, maximum in points.items()
    ]
    return Graded(Submission(student, LESSON, Path("x.ipynb")), verdicts, 1.0, regraded=regraded)


def _quiz(student: str, quiz, right: set[int], regraded: bool = True) -> Graded:
    """A quiz submission with questions `right` answered right and the others with the first wrong option."""
    verdicts = []
    for q in quiz.questions:
        choice = q.answer if q.number in right else next(letter for letter in "ABCD" if letter != q.answer)
        verdicts.append(Verdict(q.test_id, float(q.number in right), 1.0, "", choice=choice))
    return Graded(Submission(student, COURSE_QUIZ, Path("x.ipynb")), verdicts, 1.0, regraded=regraded)


def _class(quiz) -> list[Graded]:
    """Four students: exercise 2 fully right once (25%), exercises 1 and 3 twice (50%)."""
    return [
        _lesson("ada", {"test_attention_mass": 1, "test_flip_rate": 2, "test_block_prediction": 1}),
        _lesson("ben", {"test_attention_mass": 1, "test_flip_rate": 1, "test_block_prediction": 1}),
        _lesson("cy", {}),
        _lesson("dee", {"test_flip_rate": 1}),
        _quiz("ada", quiz, set(range(1, 9))),
        _quiz("ben", quiz, {1, 2, 3, 4, 5, 6}),
        _quiz("cy", quiz, {1, 2, 3, 4, 6}),
        _quiz("dee", quiz, {1, 2, 3, 4, 6, 7}),
    ]


def _write(tmp_path: Path, graded, quizzes, releases, previous=None) -> tuple[dict, str]:
    write_report(tmp_path, graded, quizzes, releases, previous)
    return json.loads((tmp_path / "report.json").read_text()), (tmp_path / "report.html").read_text()


def _row(html: str, needle: str) -> str:
    """The <tr> of the report holding needle."""
    rows = [r for r in re.findall(r"<tr[^>]*>.*?</tr>", html, flags=re.S) if needle in r]
    assert len(rows) == 1, f"{len(rows)} rows hold {needle!r}"
    return rows[0]


def test_items_are_named_by_their_title_with_the_grade_id_beside_it(tmp_path, quizzes, releases):
    quiz = quizzes[COURSE_QUIZ]
    report, html = _write(tmp_path, _class(quiz), quizzes, releases)
    assert report["assignments"][LESSON]["title"] == "Lesson 01 — Attention as explanation"
    assert f'<h2 id="assignment-1">Lesson 01 — Attention as explanation <code>{LESSON}</code></h2>' in html
    items = {i["item"]: i for i in report["assignments"][LESSON]["items"]}
    assert items["test_flip_rate"]["title"] == "Exercise 2: how often does an erasure flip the prediction?"
    row = _row(html, "<code>test_flip_rate</code>")
    assert "<b>Exercise 2: how often does an erasure flip the prediction?</b> <code>test_flip_rate</code>" in row
    fifth = quiz.questions[4]
    q5 = next(i for i in report["assignments"][COURSE_QUIZ]["items"] if i["item"] == fifth.test_id)
    assert (q5["title"], q5["prompt"]) == ("Question 5", fifth.prompt)
    row = _row(html, f"<b>Question 5</b> <code>{fifth.test_id}</code>")
    assert '<div class="prompt">' in row  # the prompt is in the item's row, not only in the option tables


def test_items_under_half_full_marks_are_flagged(tmp_path, quizzes, releases):
    quiz = quizzes[COURSE_QUIZ]
    report, html = _write(tmp_path, _class(quiz), quizzes, releases)
    hard = {i["item"] for entry in report["assignments"].values() for i in entry["items"] if i["hard"]}
    # Exercise 2 and question 8: 1 of 4 full marks. Exercises 1 and 3, questions 5 and 7: 2 of 4, half, not under.
    assert hard == {"test_flip_rate", "q8"}
    assert _row(html, "<code>test_flip_rate</code>").startswith('<tr class="hard">')
    assert not _row(html, "<code>test_attention_mass</code>").startswith('<tr class="hard">')  # 50%: not flagged
    assert "Full marks in fewer than half of the submissions: Exercise 2" in html


def test_discrimination_is_explained_and_said_unreliable_in_a_small_class(tmp_path, quizzes, releases):
    quiz = quizzes[COURSE_QUIZ]
    _, html = _write(tmp_path, _class(quiz), quizzes, releases)
    assert "<b>Discrimination</b>: how well an item separates" in html
    assert "Below about 20 submissions it is unreliable" in html
    assert html.count("Too few for the discrimination to mean much") == 2  # 4 submissions in each assignment
    big = [_quiz(f"s{n:02}", quiz, set(range(1, 1 + n % 9))) for n in range(20)]
    _, html = _write(tmp_path, big, quizzes, releases)
    assert "Too few for the discrimination" not in html


def test_histograms_count_whole_submissions(tmp_path):
    import matplotlib.pyplot as plt

    # Two submissions at most per score: matplotlib's default ticks would be 0, 0.5, 1, 1.5, 2.
    fig = histogram_figure([0, 0, 2, 4], 4, "a lesson")
    fig.canvas.draw()
    ax = fig.axes[0]
    assert [t for t in ax.get_yticks() if 0 <= t <= 2] == [0, 1, 2]
    assert all(float(t).is_integer() for t in ax.get_xticks())
    plt.close(fig)


def test_empty_tables_say_none(tmp_path, quizzes, releases):
    quiz = quizzes[COURSE_QUIZ]
    everyone_right = [_quiz("ada", quiz, set(range(1, 9))), _quiz("ben", quiz, set(range(1, 9)))]
    report, html = _write(tmp_path, everyone_right, quizzes, releases)
    assert report["problems"] == [] and report["frequent_messages"] == []
    for table in ("messages", "problems"):
        body = re.search(rf'<table class="{table}">(.*?)</table>', html, flags=re.S).group(1)
        assert re.search(r'<td colspan="\d" class="none">none</td>', body), table


def test_a_partial_regrade_marks_what_changed_and_names_the_regraded(tmp_path, quizzes, releases):
    quiz = quizzes[COURSE_QUIZ]
    graded = [
        _quiz("ada", quiz, set(range(1, 9)), regraded=False),  # kept from the last run
        _quiz("ben", quiz, {1, 2, 3, 4, 5, 6}),  # regraded, same score
        _quiz("carol", quiz, {1, 2, 3, 4, 5, 6}),  # regraded: question 5 now right
        _quiz("dee", quiz, {1}),  # new this run
    ]
    before = {f"q{n}": float(n <= 6) for n in range(1, 9)}
    previous = {
        ("ada", COURSE_QUIZ): {f"q{n}": 1.0 for n in range(1, 9)},
        ("ben", COURSE_QUIZ): before,
        ("carol", COURSE_QUIZ): before | {"q5": 0.0},
    }
    report, html = _write(tmp_path, graded, quizzes, releases, previous)
    run = report["regraded"]
    assert run["partial"] and run["kept"] == 1
    assert [(r["student"], r["was"]) for r in run["submissions"]] == [("ben", 6.0), ("carol", 5.0), ("dee", None)]
    carol = run["submissions"][1]
    assert carol["changed_items"] == [{"item": "q5", "score": 1.0, "was": 0.0, "title": "Question 5"}]
    cells = {row["student"]: row["scores"][COURSE_QUIZ] for row in report["scores"]}
    assert cells["carol"]["was"] == 5.0 and cells["ada"]["was"] is None
    scores = re.search(r'<table class="scores">(.*?)</table>', html, flags=re.S).group(1)
    assert '<td class="changed">6/8<span class="was">, was 5/8</span></td>' in _row(scores, "carol")
    for unchanged in ("ada", "ben", "dee"):
        assert "was" not in _row(scores, unchanged)
    assert "This run regraded 3 submissions</b>;\n1 unchanged was kept" in html
    assert "<b>carol</b>, quiz: <span" in html and "Question 5 <code>q5</code>: 1, was 0" in html
    assert "Regraded with the same score: <b>ben</b>, quiz (6/8)." in html
    assert "Graded for the first time: <b>dee</b>, quiz (1/8)." in html


def test_a_first_run_marks_nothing(tmp_path, quizzes, releases):
    report, html = _write(tmp_path, _class(quizzes[COURSE_QUIZ]), quizzes, releases, previous={})
    assert not report["regraded"]["partial"]
    assert "Every submission was graded in this run" in html and ", was " not in html


def test_previous_scores_read_what_grade_stored(tmp_path):
    graded = _lesson("ada", {"test_attention_mass": 1, "test_flip_rate": 1})
    _store(tmp_path, graded, "fingerprint")
    (tmp_path / "results" / "ben").mkdir()
    (tmp_path / "results" / "ben" / f"{LESSON}.json").write_text("{ half written")
    assert previous_scores(tmp_path / "results") == {
        ("ada", LESSON): {"test_attention_mass": 1.0, "test_flip_rate": 1.0, "test_block_prediction": 0.0}
    }
    assert previous_scores(tmp_path / "nothing here") == {}


def _hostile_class(quiz) -> list[Graded]:
    mallory = _quiz("mallory", quiz, {1})
    mallory.submission.problem("cells_restored", "the cell <img src=x onerror='window.pwned=2'> was deleted")
    refused = Graded(Submission(HOSTILE, NO_ASSIGNMENT, None), [], 0.0)
    refused.submission.problem("bad_id", f"the folder name {HOSTILE} is not a usable student id")
    lesson = _lesson("eve", {})
    lesson.verdicts[0].message = "got <script>window.pwned = 3</script>"
    return [_quiz("ada", quiz, set(range(1, 9))), mallory, refused, lesson]


def test_what_students_wrote_is_escaped(tmp_path, quizzes, releases):
    _, html = _write(tmp_path, _hostile_class(quizzes[COURSE_QUIZ]), quizzes, releases)
    assert "<script" not in html and "<img src=x" not in html and "<svg" not in html
    assert "&lt;svg onload=window.pwned=1&gt;" in html  # the student id, as text
    assert "&lt;img src=x onerror=" in html and "got &lt;script&gt;window.pwned = 3" in html
    assert html.count("<img ") == 2  # the two histograms, nothing else


def test_summarize_without_releases_names_items_by_grade_id(quizzes):
    report = summarize([_lesson("ada", {"test_flip_rate": 2})], quizzes)
    assert [i["title"] for i in report["assignments"][LESSON]["items"]] == [
        "test_attention_mass",
        "test_flip_rate",
        "test_block_prediction",
    ]


# --- In a real browser --------------------------------------------------------------------------------

CHROMIUM = settings.chromium()


@pytest.mark.browser
def test_the_report_in_chromium(tmp_path, quizzes, releases):
    """A regraded class with hostile strings, as Chromium shows it; the screenshot stays in tmp_path."""
    if not CHROMIUM.exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: install it (Debian: apt-get install chromium) or set ATTNLAB_CHROMIUM")
    from playwright.sync_api import sync_playwright

    quiz = quizzes[COURSE_QUIZ]
    graded = _class(quiz) + _hostile_class(quiz)[1:]
    graded[5] = _quiz("ben", quiz, {1, 2, 3, 4, 5, 6, 7})  # ben's quiz regraded after he fixed question 7
    for g in graded[:4]:
        g.regraded = False
    previous = {("ben", COURSE_QUIZ): {f"q{n}": float(n <= 6) for n in range(1, 9)}}
    write_report(tmp_path, graded, quizzes, releases, previous)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"] if os.geteuid() == 0 else []
        )
        page = chromium.new_page(viewport={"width": 1400, "height": 900})
        dialogs = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto((tmp_path / "report.html").as_uri())
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        assert page.title() == "Class report"
        assert page.evaluate("window.pwned") is None and dialogs == []  # no student string ran
        assert page.locator(".problems td", has_text="<svg onload=window.pwned=1>").count() == 2
        images = page.locator("img")
        assert images.count() == 2
        for n in range(images.count()):  # each histogram decoded and shown at its size
            assert images.nth(n).evaluate("img => img.complete && img.naturalWidth") > 300
        changed = page.locator(".scores td.changed")
        assert changed.count() == 1 and changed.text_content() == "7/8, was 6/8"
        assert page.locator("#this-run").text_content().count("ben") == 1
        assert page.locator("tr.hard").count() >= 1
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scrolling
        chromium.close()
    assert (tmp_path / "report.png").stat().st_size > 10_000


# --- After a real partial regrade -----------------------------------------------------------------------


@pytest.mark.slow
def test_a_real_partial_regrade_reports_the_score_before(tmp_path, course, quizzes):
    from autograder.run.grade import GradeOptions, grade
    from autograder.sandbox.bwrap import bwrap_path

    if bwrap_path() is None:
        pytest.skip("needs bubblewrap (bwrap)")
    folder = tmp_path / "submitted"
    for student in ("ada", "ben"):
        shutil.copytree(course.examples_dir / student / "quiz", folder / student / "quiz")
    out = tmp_path / "out"
    first = grade(course, folder, out, GradeOptions(timeout=10))
    ada = next(g for g in first.graded if g.submission.student == "ada")
    assert ada.score == 8  # the example's ada answers every question right
    last = quizzes[COURSE_QUIZ].questions[-1]
    wrong = next(letter for letter in "ABCD" if letter != last.answer)
    quiz = folder / "ada" / "quiz" / "quiz.ipynb"
    nb = nbformat.read(quiz, as_version=4)
    (answer,) = [c for c in nb.cells if c.source.startswith(f"{last.variable} =")]
    answer.source = f'{last.variable} = "{wrong}"'  # ada changes her last answer to a wrong one
    nbformat.write(nb, quiz)
    grade(course, folder, out, GradeOptions(timeout=10))
    run = json.loads((out / "report.json").read_text())["regraded"]
    assert run["kept"] == 1 and [(r["student"], r["score"], r["was"]) for r in run["submissions"]] == [
        ("ada", 7.0, 8.0)
    ]
    assert run["submissions"][0]["changed_items"] == [
        {"item": last.test_id, "score": 0.0, "was": 1.0, "title": f"Question {last.number}"}
    ]
    html = (out / "report.html").read_text()
    assert '<td class="changed">7/8<span class="was">, was 8/8</span></td>' in html
