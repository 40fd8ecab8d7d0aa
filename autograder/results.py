"""
An executed notebook -> one verdict per graded cell, with a message a student can act on.

The message never quotes a hidden test: a failure inside the hidden part of a test cell is reported
as "fails a hidden test", and tracebacks are never shown. For quiz cells the verdict names the option
chosen and carries its explanation from the quiz bank.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from nbformat import NotebookNode
from nbgrader.utils import determine_grade, is_grade

from autograder.preprocessors import ANSWER_CELL, DIED, STOPPED, TEST_CELL, TRUNCATED, written_answer
from autograder.quizbank import LETTERS, Question, normalize_choice

HIDDEN_START = "### BEGIN HIDDEN TESTS"
TRUNCATED_BY_NBGRADER = "... Output truncated ..."  # nbgrader LimitOutput's marker
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CELL_FRAME = re.compile(r"Cell In\[\d+\], line (\d+)")


@dataclass
class Verdict:
    question: str  # grade id of the graded cell (q1..q8 for the quiz)
    score: float
    max_score: float
    message: str
    choice: str | None = None  # quiz: the option chosen, "B"
    explanation: str | None = None  # quiz: why that option is right or wrong

    @property
    def passed(self) -> bool:
        return self.score >= self.max_score

    def to_dict(self) -> dict:
        return asdict(self) | {"passed": self.passed}


def _first_error(cell: NotebookNode) -> NotebookNode | None:
    return next((out for out in cell.get("outputs", []) if out.output_type == "error"), None)


def _failed_in_hidden_part(cell: NotebookNode, error: NotebookNode) -> bool:
    lines = cell.source.splitlines()
    hidden_from = next((i + 1 for i, line in enumerate(lines) if line.strip() == HIDDEN_START), None)
    if hidden_from is None:
        return False
    for frame in error.get("traceback", []):
        match = _CELL_FRAME.search(_ANSI.sub("", frame))
        if match:
            return int(match.group(1)) > hidden_from
    return True  # no line to go by: say nothing that could come from a hidden test


def _exercise_message(cell: NotebookNode, passed: bool) -> str:
    if passed:
        return "passed"
    error = _first_error(cell)
    if error is None:
        return "failed"
    if error.ename in (STOPPED, DIED):
        return error.evalue
    if error.ename == "NotImplementedError":
        return "not done yet: the exercise still raises NotImplementedError"
    if _failed_in_hidden_part(cell, error):
        return "passes the visible checks but fails a hidden test: try your code on more cases (other shapes, edge cases)"
    first_lines = "\n".join(str(error.evalue).strip().splitlines()[:3])
    return f"{error.ename}: {first_lines}" if first_lines else error.ename


def _quiz_verdict(cell: NotebookNode, question: Question, answer_cell: NotebookNode | None,
                  score: float, max_score: float) -> Verdict:
    verdict = Verdict(question.test_id, score, max_score, "")
    error = _first_error(cell)
    if error is not None and error.ename in (STOPPED, DIED):
        verdict.message = error.evalue
        return verdict
    if answer_cell is None:
        verdict.message = f"the answer cell of {question.variable} is missing"
        return verdict
    written = written_answer(answer_cell.source, question.variable)
    if written.problem:
        verdict.message = written.problem
        return verdict
    if written.literal is None:
        verdict.message = "not answered"
        return verdict
    letter = normalize_choice(written.literal)
    if letter is None:
        verdict.message = f"{written.literal!r} is not one of {', '.join(LETTERS)}"
        return verdict
    option = question.option(letter)
    verdict.choice, verdict.explanation = letter, option.explanation
    verdict.message = f"{'correct' if verdict.passed else 'wrong'}: you chose {letter}) {option.text}"
    return verdict


def verdicts(nb: NotebookNode, questions: list[Question] | None = None) -> list[Verdict]:
    """One Verdict per graded code cell, in notebook order; scores as nbgrader computes them."""
    by_test_id = {q.test_id: q for q in questions or []}
    answer_cells = {}
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
        if ANSWER_CELL.fullmatch(grade_id):
            answer_cells[grade_id] = cell
    found = []
    for cell in nb.cells:
        if cell.cell_type != "code" or not is_grade(cell):
            continue
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        score, max_score = determine_grade(cell)
        score = float(score or 0.0)
        if TEST_CELL.fullmatch(grade_id) and grade_id in by_test_id:
            question = by_test_id[grade_id]
            found.append(_quiz_verdict(cell, question, answer_cells.get(question.answer_id), score, max_score))
        else:
            found.append(Verdict(grade_id, score, max_score, _exercise_message(cell, score >= max_score)))
    return found


class Totals:
    """score, max_score and all_passed of anything that holds a `verdicts` list (a check, a graded submission)."""

    verdicts: list[Verdict]

    @property
    def score(self) -> float:
        return sum(v.score for v in self.verdicts)

    @property
    def max_score(self) -> float:
        return sum(v.max_score for v in self.verdicts)

    @property
    def all_passed(self) -> bool:
        return all(v.passed for v in self.verdicts)


def execution_problems(nb: NotebookNode) -> list[tuple[str, str]]:
    """(status, note) for every cell the robust executor had to stop or survive, graded or not."""
    problems = []
    truncated = [n for n, cell in enumerate(nb.cells, 1) if cell.cell_type == "code" and any(
        TRUNCATED in str(out.get("text", "")) or TRUNCATED_BY_NBGRADER in str(out.get("text", ""))
        for out in cell.get("outputs", []))]
    if truncated:
        problems.append(("output_truncated", f"the output of cell(s) {', '.join(map(str, truncated))} was too large "
                                             "and was cut"))
    for number, cell in enumerate(nb.cells, 1):
        error = _first_error(cell) if cell.cell_type == "code" else None
        if error is not None and error.ename == STOPPED:
            limit = re.search(r"within (\d+ s)", error.evalue)
            problems.append(("timeout", f"cell {number} ran past the time limit ({limit.group(1) if limit else 'see the course'}) "
                                        "and was stopped; the rest of the notebook was still graded"))
        elif error is not None and error.ename == DIED:
            problems.append(("kernel_died", f"the kernel died in cell {number} (os._exit or a crash); it was restarted "
                                            "and the rest of the notebook was still graded"))
    return problems
