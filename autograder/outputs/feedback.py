"""
The verdicts of a notebook as HTML: the feedback page a student gets back (`grade`), and the verdict
the self-check cell shows in the notebook (`check --html`). Per exercise or question: right or
wrong, the message, the hint, and for the quiz the explanation of the option chosen.

Built from verdicts and from the headings of the course's own notebook (the release or the
instructor's), never from the cells of a submission, so no hidden test, no answer key and nothing a
student wrote can appear in it. The templates (autograder/outputs/templates/) escape every value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from jinja2 import Environment, PackageLoader
from nbformat import NotebookNode

from autograder.course.notebooks import graded_cell_titles, notebook_title
from autograder.course.quizbank import Question

if TYPE_CHECKING:  # results imports nbgrader (seconds): an untouched notebook's verdict is rendered without it
    from autograder.pipeline.results import Verdict

TEMPLATES = Environment(
    loader=PackageLoader("autograder.outputs", "templates"), autoescape=True, trim_blocks=True, lstrip_blocks=True
)


@dataclass(frozen=True)
class Row:
    passed: bool
    title: str  # "Exercise 1: attention from queries and keys", "Question 3"
    prompt: str | None  # the quiz question
    score: str  # "1 / 2"
    message: str
    hint: str
    explanation: str | None


def _rows(verdicts: list[Verdict], notebook: NotebookNode | None, questions: list[Question] | None) -> list[Row]:
    titles = graded_cell_titles(notebook) if notebook is not None else {}
    by_test_id = {q.test_id: q for q in questions or []}
    return [
        Row(
            v.passed,
            titles.get(v.question, v.question),
            by_test_id[v.question].prompt if v.question in by_test_id else None,
            f"{v.score:g} / {v.max_score:g}",
            v.message,
            v.hint,
            v.explanation,
        )
        for v in verdicts
    ]


def _context(
    assignment: str,
    verdicts: list[Verdict],
    notes: list[str],
    notebook: NotebookNode | None,
    questions: list[Question] | None,
) -> dict:
    score = sum(v.score for v in verdicts)
    total = sum(v.max_score for v in verdicts)
    return {
        "heading": (notebook_title(notebook) if notebook is not None else None) or assignment,
        "score": f"{score:g} / {total:g}",
        "all_passed": all(v.passed for v in verdicts),
        "notes": notes,
        "rows": _rows(verdicts, notebook, questions),
        "is_quiz": bool(questions),
    }


def render(
    student: str,
    assignment: str,
    verdicts: list[Verdict],
    notes: list[str],
    questions: list[Question] | None = None,
    notebook: NotebookNode | None = None,
) -> str:
    """The feedback page of one submission; `notebook` is the assignment's release, for its headings."""
    context = _context(assignment, verdicts, notes, notebook, questions)
    return TEMPLATES.get_template("feedback.html.j2").render(context, student=student) + "\n"


def render_check(
    assignment: str,
    verdicts: list[Verdict],
    notes: list[str],
    seconds: float,
    notebook: NotebookNode | None = None,
    questions: list[Question] | None = None,
) -> str:
    """The verdict of `python -m autograder check --html`, shown in the notebook by its self-check cell."""
    context = _context(assignment, verdicts, notes, notebook, questions)
    return TEMPLATES.get_template("check.html.j2").render(context, seconds=f"{seconds:.0f} s") + "\n"
