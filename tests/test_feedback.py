"""The verdicts as HTML: the feedback page and the self-check's verdict name what they judge and escape everything."""

import nbformat

from autograder.outputs.feedback import render, render_check
from autograder.pipeline.results import Verdict


def _lesson() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    cells = [
        ("markdown", "# Lesson 00 — A tiny transformer"),
        ("markdown", "### Exercise 1: attention (2 points)\n\nDo it."),
        ("code", "def f(): ..."),
        ("code", "check(f())"),
    ]
    nb.cells = [
        nbformat.v4.new_markdown_cell(s) if kind == "markdown" else nbformat.v4.new_code_cell(s) for kind, s in cells
    ]
    nb.cells[3].metadata["nbgrader"] = {"grade": True, "grade_id": "test_attention", "points": 2}
    return nb


FAILED = Verdict(
    "test_attention", 0.0, 2.0, "a visible check failed: the row sums are wrong", hint="softmax over the last dimension"
)


def test_the_page_names_the_exercise_and_puts_the_hint_on_a_line_of_its_own():
    page = render("ada", "00_tiny_transformer", [FAILED], [], notebook=_lesson())
    assert "<title>Lesson 00 — A tiny transformer: feedback for ada</title>" in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "<b>Exercise 1: attention</b>" in page and "test_attention" not in page
    assert '<div class="hint"><b>Hint:</b> softmax over the last dimension</div>' in page
    assert "0 / 2" in page


def test_every_value_is_escaped():
    hostile = Verdict("test_attention", 0.0, 2.0, "<script>alert(1)</script>", hint="a & b")
    page = render("<b>eve</b>", "00_tiny_transformer", [hostile], ["quiz <1>.ipynb"], notebook=_lesson())
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<b>eve</b>" not in page and "a &amp; b" in page and "quiz &lt;1&gt;.ipynb" in page


def test_the_self_check_verdict_is_a_fragment_with_its_own_style():
    fragment = render_check(
        "00_tiny_transformer", [FAILED, Verdict("test_other", 1.0, 1.0, "passed")], [], 12.3, notebook=_lesson()
    )
    assert fragment.startswith('<div class="verdicts">') and "<html" not in fragment
    assert "score <b>1 / 3</b>" in fragment and "12 s" in fragment
    assert "<b>test_other</b>" in fragment  # a graded cell without a heading keeps its id
