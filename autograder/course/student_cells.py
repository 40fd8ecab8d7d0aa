"""
What every notebook a student receives has besides the lesson itself, added by `build` to every
lesson and to the quiz, so a new lesson gets it too:

- a first cell written for the student: how to run the notebook, its exercises, how to check the work;
- the course's kernel metadata, as JupyterLab writes it (an untouched notebook stays unmodified);
- the `raises-exception` tag on every exercise and check cell, so Run All goes on past an exercise
  that is not done yet (JupyterLab and nbclient stop at the first error of an untagged cell);
- a stub that says "not done yet" in every exercise (nbgrader's `code_stub`);
- a last cell that checks the saved notebook as the grader will (attnlab/selfcheck.py).

None of these cells is graded, and nbgrader ignores tags: checksums and scores stay as they were.
"""

from __future__ import annotations

import json

import nbformat
from nbformat import NotebookNode

from attnlab.selfcheck import STUB
from autograder.course.notebooks import (
    HEADER_ID,
    RAISES_TAG,
    graded_cell_titles,
    is_answer,
    is_graded,
    nbgrader_of,
    set_course_metadata,
)

# Put by nbgrader where an exercise's solution was; on Run All, attnlab.checks shows it as one red line
# naming the exercise, and the self-check cell recognises an exercise still holding it as untouched.
EXERCISE_STUB = f"# YOUR CODE HERE\n{STUB}"
SELF_CHECK_IDS = ("self-check-intro", "self-check")

HOW_TO_RUN = (
    "**How to work in this notebook.** Run it from the top: *Run > Run All Cells*. {unfinished}, "
    "and the cells after it still run."
)
EXERCISES = (
    "Write your code in place of the `raise NotImplementedError(...)` line under `# YOUR CODE HERE`, run "
    "that cell, then the check cell under it: it prints ✓, or what is wrong and a hint."
)
QUESTIONS = (
    "Write the letter of your choice, in quotes, in each answer cell, then run the cell under it: it "
    "checks that the answer is one of the letters."
)
CHECK_YOUR_WORK = (
    "**Check your work** as the grader will, hidden tests included: save the notebook "
    "(*File > Save Notebook*, Ctrl+S), then run the last cell, *Check your work*."
)
SELF_CHECK_INTRO = """## Check your work

The cell below checks your **saved** notebook exactly as `python -m autograder check` does and as the
grader will: {what}, hidden tests included, run from scratch in a sandbox. Save first (*File > Save
Notebook*, Ctrl+S), then run it: it takes 10 s to a minute and shows a verdict per {each}."""
SELF_CHECK_CODE = """# Checks the SAVED notebook, as the grader will: save first (Ctrl+S).
from attnlab.selfcheck import check_this_notebook

check_this_notebook()"""


def _points(points: float) -> str:
    return f"{points:g} point" + ("" if points == 1 else "s")


def guide_cell(nb: NotebookNode, source: str, is_quiz: bool) -> NotebookNode:
    """The first cell: how to work in this notebook, what it asks, how to check it; then where it comes from."""
    graded = [nbgrader_of(c) for c in nb.cells if is_graded(c)]
    if is_quiz:
        parts = [HOW_TO_RUN.format(unfinished="A question you have not answered yet fails its check"), QUESTIONS]
    else:
        titles = graded_cell_titles(nb)
        listing = "\n".join(f"- {titles[meta['grade_id']]} ({_points(meta['points'])})" for meta in graded)
        parts = [
            HOW_TO_RUN.format(unfinished="An exercise you have not done yet says *not done yet* in red"),
            f"**Your exercises** ({_points(sum(meta['points'] for meta in graded))} in all):\n\n{listing}",
            EXERCISES,
        ]
    parts += [
        CHECK_YOUR_WORK,
        f"<sub>Generated from `{source}` by `python -m autograder build`: the course "
        "maintainers edit that file, not this one.</sub>",
    ]
    cell = nbformat.v4.new_markdown_cell("\n\n".join(parts))
    cell.id = HEADER_ID
    return cell


def self_check_cells(is_quiz: bool) -> list[NotebookNode]:
    what, each = (
        ("every answer", "question, with an explanation")
        if is_quiz
        else ("every exercise", "exercise, with a hint when it fails")
    )
    intro = nbformat.v4.new_markdown_cell(SELF_CHECK_INTRO.format(what=what, each=each))
    code = nbformat.v4.new_code_cell(SELF_CHECK_CODE)
    for cell, cell_id in zip((intro, code), SELF_CHECK_IDS):
        cell.id = cell_id
    return [intro, code]


def tag_exercise_cells(nb: NotebookNode) -> None:
    """Exercise and check cells raise until the exercise is done: Run All must go on past them."""
    for cell in nb.cells:
        if cell.cell_type == "code" and (is_graded(cell) or is_answer(cell)):
            tags = cell.metadata.setdefault("tags", [])
            if RAISES_TAG not in tags:
                tags.append(RAISES_TAG)


def for_students(nb: NotebookNode, source: str, is_quiz: bool) -> NotebookNode:
    """A copy of the instructor notebook `nb` (from the file `source`) with everything above added."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    set_course_metadata(nb)
    lesson = [cell for cell in nb.cells if cell.get("id") not in (HEADER_ID, *SELF_CHECK_IDS)]
    nb.cells = lesson
    tag_exercise_cells(nb)
    nb.cells = [guide_cell(nb, source, is_quiz)] + lesson + self_check_cells(is_quiz)
    return nb
