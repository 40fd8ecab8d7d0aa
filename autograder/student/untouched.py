"""
A notebook none of whose exercises (or answers) was touched yet: its verdict at once, without running it.

`check` (and so the self-check cell) answers such a notebook from its cells alone: every graded cell
"not done yet" (a lesson) or "not answered" (a quiz), in about a second instead of a sandboxed run of
10 s to a minute. Nothing here imports nbgrader or torch. Which cells count as untouched is decided by
attnlab.selfcheck.untouched, the same test the self-check cell makes before starting anything.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from attnlab.selfcheck import untouched
from autograder.course.assignments import Assignment, assignments
from autograder.course.config import CourseConfig, CourseError
from autograder.course.notebooks import grade_id_of, is_graded, points_of

NOT_DONE = "not done yet: write your code where it says YOUR CODE HERE"  # as results.NOT_DONE
NOT_ANSWERED = "not answered"
NOTHING_RUN = "nothing is written yet, so the notebook was not run: the verdict is at once"


@dataclass
class Pending:
    """The verdict of an untouched graded cell: the fields feedback.render_check reads of a Verdict."""

    question: str
    max_score: float
    message: str
    score: float = 0.0
    passed: bool = False
    hint: str = ""
    explanation: str | None = None
    choice: str | None = None


def _grade_ids(nb: NotebookNode) -> set[str]:
    return {grade_id_of(c) for c in nb.cells} - {""}


def identify(course: CourseConfig, nb: NotebookNode, path: Path) -> tuple[Assignment, NotebookNode]:
    """The assignment whose graded cells the notebook shares most, and its instructor notebook."""
    mine = _grade_ids(nb)
    best, best_overlap = None, 0
    for assignment in assignments(course):
        if not assignment.source.exists():
            continue
        source = nbformat.read(assignment.source, as_version=4)
        overlap = len(mine & _grade_ids(source)) + (assignment.id == path.stem)  # ties go to the file name
        if overlap > best_overlap:
            best, best_overlap = (assignment, source), overlap
    if best is None or not mine:
        raise CourseError(f"{path} is not one of the course's lessons or quizzes (it has no graded cells)")
    return best


def pending_verdicts(nb: NotebookNode, source: NotebookNode, is_quiz: bool) -> list[Pending] | None:
    """A verdict per graded cell of the instructor's notebook if nb is untouched, else None."""
    if not untouched(nb):
        return None
    message = NOT_ANSWERED if is_quiz else NOT_DONE
    return [
        Pending(grade_id_of(cell), points_of(cell), message)
        for cell in source.cells
        if cell.cell_type == "code" and is_graded(cell)
    ]


def print_untouched(course: CourseConfig, nb: NotebookNode, path: Path, output: str, notes: list[str]) -> bool:
    """Print the verdict of an untouched notebook as `check` would (text, json or html); False if it is not."""
    start = time.perf_counter()
    assignment, source = identify(course, nb, path)
    found = pending_verdicts(nb, source, assignment.is_quiz)
    if found is None:
        return False
    from autograder.course.notebooks import graded_cell_titles

    titles = graded_cell_titles(source)
    notes = [*notes, NOTHING_RUN]
    seconds = time.perf_counter() - start
    total = sum(v.max_score for v in found)
    if output == "html":
        from autograder.outputs.feedback import render_check

        questions = None
        if assignment.is_quiz:
            from autograder.course.quizbank import load_quizzes

            questions = list(load_quizzes(course.quiz_bank, course.shuffle_seed)[assignment.id].questions)
        print(render_check(assignment.id, found, notes, seconds, source, questions))
    elif output == "json":
        import json

        rows = [  # the fields of results.Verdict.to_dict, and check's title
            {"question": v.question, "score": 0.0, "max_score": v.max_score, "message": v.message}
            | {"choice": None, "explanation": None, "disputed": False, "hint": "", "passed": False}
            | {"title": titles.get(v.question, v.question)}
            for v in found
        ]
        print(
            json.dumps(
                {"notebook": str(path), "assignment": assignment.id, "score": 0.0, "max_score": total}
                | {"seconds": round(seconds, 2), "notes": notes, "questions": rows},
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        print(f"{path} ({assignment.id}): 0 / {total:g}   [{seconds:.1f} s]")
        for note in notes:
            print(f"  note: {note}")
        width = max((len(titles.get(v.question, v.question)) for v in found), default=0)
        for v in found:
            print(f"  ✗ {titles.get(v.question, v.question):<{width}}  0/{v.max_score:g}  {v.message}")
    return True
