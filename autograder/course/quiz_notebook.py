"""A quiz of the bank as an nbgrader notebook (the instructor version, solutions/<quiz id>.ipynb)."""

from __future__ import annotations

import inspect

import nbformat
from nbformat import NotebookNode

from autograder.course.notebooks import generated_header, nbgrader_metadata, set_course_metadata
from autograder.course.quizbank import LETTERS, Question, Quiz, normalize_choice

# nbgrader puts this where the solution was; the line above it in the answer cell stays.
ANSWER_STUB = "# YOUR ANSWER HERE"
READER_ID = "answer_reader"  # the locked cell that defines normalize_choice for the checks


def _intro(quiz: Quiz) -> str:
    n = len(quiz.questions)
    if quiz.lesson is None:
        title = "# Quiz: attention interpretability"
    else:
        title = f"# Quiz on lesson {quiz.lesson[:2]}\n\nQuestions on `lessons/{quiz.lesson}.ipynb`."
    return f"""{title}

{n} question{"s" if n != 1 else ""}, one point each. For each question, set the variable in the answer cell to the
letter of your choice, **in quotes**: `ANSWER_N = "<letter>"`. Case, spaces and a trailing `)`
do not matter (`" b) "` counts as `B`). Only a letter written in the answer cell counts: an
answer computed when the notebook runs scores 0.

Run the next cell first, then the cell under each answer to check its format. For an instant
verdict with explanations, run this notebook's last cell on its own, or
`python -m autograder check work/quizzes/{quiz.id}.ipynb` in a terminal."""


def _reader_source() -> str:
    """The grader's own answer reader, as code the notebook's checks run (autograder/course/quizbank.py)."""
    return (
        f"# How an answer is read; the grader reads it with this same function.\nLETTERS = {LETTERS!r}\n\n\n"
        + inspect.getsource(normalize_choice).rstrip()
        + "\n\n\n# Says what is wrong with an answer; lets the last cell tell Run All from a run of its own.\n"
        "from attnlab.selfcheck import answer_problem, watch_runs\n\nwatch_runs()"
    )


def _question_markdown(question: Question) -> str:
    options = "\n\n".join(f"{letter}) {option.text}" for letter, option in zip(LETTERS, question.options))
    return (
        f"## Question {question.number}\n\n{question.prompt}\n\n{options}\n\n"
        f"*(Taught in lesson {question.lesson[:2]}, `lessons/{question.lesson}.ipynb`.)*"
    )


# Examples show no letter for a question: one that happened to be the key would read as a hint.
def _answer_source(question: Question) -> str:
    v = question.variable
    return (
        f"{v} = None  # replace None with your letter in quotes: A, B, C or D\n"
        f'### BEGIN SOLUTION\n{v} = "{question.answer}"\n### END SOLUTION'
    )


def _test_source(question: Question) -> str:
    v = question.variable
    return (
        f"# Checks that {v} is one of the letters; whether it is the right one is checked when graded.\n"
        f'assert normalize_choice(globals().get("{v}")) is not None, answer_problem("{v}")\n'
        f'print("{v} is a valid choice.")\n'
        "### BEGIN HIDDEN TESTS\n"
        f'assert normalize_choice({v}) == "{question.answer}", "{v} is not the correct option"\n'
        "### END HIDDEN TESTS"
    )


def _cell(kind: str, source: str, cell_id: str, **meta) -> NotebookNode:
    cell = nbformat.v4.new_markdown_cell(source) if kind == "markdown" else nbformat.v4.new_code_cell(source)
    cell.id = cell_id.replace("_", "-")  # stable ids: regenerating gives no diff
    cell.metadata["nbgrader"] = nbgrader_metadata(cell_id, **meta)
    return cell


def quiz_notebook(quiz: Quiz, bank_name: str) -> NotebookNode:
    nb = nbformat.v4.new_notebook()
    set_course_metadata(nb)
    intro = nbformat.v4.new_markdown_cell(_intro(quiz))
    intro.id = "quiz-intro"
    nb.cells = [generated_header(bank_name), intro, _cell("code", _reader_source(), READER_ID, locked=True)]
    for question in quiz.questions:
        nb.cells += [
            _cell("markdown", _question_markdown(question), question.text_id, locked=True),
            _cell("code", _answer_source(question), question.answer_id, solution=True),
            _cell("code", _test_source(question), question.test_id, grade=True, locked=True, points=1),
        ]
    return nb
