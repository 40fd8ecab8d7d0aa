"""
An executed notebook -> one verdict per graded cell. Scores are decided here, in the grader's process:

- a quiz question scores from the letter literally written in its answer cell, against the key. The
  score nbgrader computed inside the student's kernel must agree; when it does not, the verdict is
  marked disputed and gets the lower of the two (a disagreement never gives points);
- an exercise scores from the records its hidden test handed out (autograder/pipeline/records.py), judged
  against the instructor's records of the same test.

Messages are course-written text only: the quiz bank's explanations, the hints written in the test
cell by the instructor, our own sentences, and the name of a builtin exception type. Never the free
text of an exception or an output of the student's code, and never a hidden test.
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import asdict, dataclass

from nbformat import NotebookNode
from nbgrader.utils import determine_grade, is_grade

from autograder.course.notebooks import grade_id_of
from autograder.course.quizbank import LETTERS, Question, answer_cell_number, normalize_choice
from autograder.pipeline.guards import WITHHELD
from autograder.pipeline.hidden import hidden_from
from autograder.pipeline.preprocessors import BUDGET, DIED, STOPPED, stopped, truncated, written_answer
from autograder.pipeline.records import Record, judge, read_records

TRUNCATED_BY_NBGRADER = "... Output truncated ..."  # nbgrader LimitOutput's marker
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CELL_FRAME = re.compile(r"Cell In\[\d+\], line (\d+)")
BUILTIN_EXCEPTIONS = frozenset(
    name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException)
)
CHECK_FAILURES = ("CheckFailed", "AssertionError")  # what attnlab.checks and plain asserts raise
NOT_DONE = "not done yet: write your code where it says YOUR CODE HERE"


@dataclass
class Verdict:
    question: str  # grade id of the graded cell (q1, q2, ... for a quiz)
    score: float
    max_score: float
    message: str
    choice: str | None = None  # quiz: the option chosen, "B"
    explanation: str | None = None  # quiz: why that option is right or wrong
    disputed: bool = False  # the score computed in the student's kernel disagreed with ours
    hint: str = ""  # exercise: the instructor's hint for what went wrong

    @property
    def text(self) -> str:
        """The message and its hint in one line, for a CSV cell or a report."""
        return f"{self.message}. Hint: {self.hint}" if self.hint else self.message

    @property
    def passed(self) -> bool:
        return self.score >= self.max_score

    def to_dict(self) -> dict:
        return asdict(self) | {"passed": self.passed}

    @classmethod
    def from_dict(cls, data: dict) -> Verdict:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})


References = dict[str, list[Record]]  # grade id -> the instructor's records of that test cell


def _first_error(cell: NotebookNode) -> NotebookNode | None:
    return next((out for out in cell.get("outputs", []) if out.get("output_type") == "error"), None)


def _failed_in_hidden_part(cell: NotebookNode, error: NotebookNode) -> bool:
    start = hidden_from(cell.source)
    if start is None:
        return False
    for frame in error.get("traceback", []):
        match = _CELL_FRAME.search(_ANSI.sub("", str(frame)))
        if match:
            return int(match.group(1)) > start
    return True  # no line to go by: say nothing that could come from a hidden test


def course_strings(source: str) -> set[str]:
    """Every plain string literal of the visible part of a test cell: text the instructor wrote."""
    start = hidden_from(source)
    visible = "\n".join(source.splitlines()[: start - 1]) if start else source
    try:
        tree = ast.parse(visible)
    except SyntaxError:
        return set()
    return {
        node.value.strip() for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def error_message(cell: NotebookNode, error: NotebookNode) -> tuple[str, str]:
    """What went wrong in a test cell, and the hint for it, said with course-written words only."""
    ename = str(error.get("ename", ""))
    if ename == "NotImplementedError":
        return NOT_DONE, ""
    hidden = _failed_in_hidden_part(cell, error)
    if ename in CHECK_FAILURES and not hidden:
        # A visible check's message is "problem\nHint: hint"; show the parts the instructor wrote literally.
        problem, _, hint = str(error.get("evalue", "")).partition("\nHint: ")
        known = course_strings(cell.source)
        said = "a visible check failed"
        if problem.strip() in known:
            said += f": {problem.strip()}"
        return said, hint.strip() if hint.strip() in known else ""
    if ename == "RuntimeError" and str(error.get("evalue", "")).endswith(WITHHELD):
        # The library function the exercise asks for, called while graded apart (autograder/pipeline/guards.py).
        return "your code calls a library function this exercise asks you to write; it " + WITHHELD, ""
    what = f"raised {ename}" if ename in BUILTIN_EXCEPTIONS else "raised an exception"
    if hidden:
        return f"passes the visible checks, but your code {what} in a hidden test", ""
    return f"your code {what}", ""


def _exercise_verdict(cell: NotebookNode, grade_id: str, max_score: float, reference: list[Record] | None) -> Verdict:
    verdict = Verdict(grade_id, 0.0, max_score, "")
    stop = stopped(cell)
    error = _first_error(cell)
    if stop is not None:
        verdict.message = stop["message"]
    elif not reference:
        verdict.message = "cannot be graded: the instructor's results for this exercise are missing"
    elif error is not None:
        verdict.message, verdict.hint = error_message(cell, error)
    else:
        judgement = judge(read_records(cell), reference)
        if judgement.all_passed:
            verdict.score, verdict.message = max_score, "passed"
        else:
            verdict.message = (
                f"passes the visible checks but fails a hidden test ({judgement.passed} of "
                f"{judgement.total} hidden cases right): try your code on more cases "
                "(other shapes, edge cases)"
            )
            if judgement.first_failed is not None:
                verdict.hint = judgement.first_failed.hint or ""
    return verdict


def _quiz_verdict(
    cell: NotebookNode, question: Question, answer_cell: NotebookNode | None, kernel_score: float, max_score: float
) -> Verdict:
    verdict = Verdict(question.test_id, 0.0, max_score, "")
    stop = stopped(cell)
    if answer_cell is None:
        verdict.message = f"the answer cell of {question.variable} is missing"
        return verdict
    written = written_answer(answer_cell.source, question.variable)
    letter = normalize_choice(written.literal) if written.literal is not None else None
    verdict.score = max_score if letter == question.answer else 0.0
    if kernel_score != verdict.score:  # our score from the literal and the kernel's disagree: never a gain
        verdict.disputed = stop is None  # a cell the grader stopped did not run: that is said, not disputed
        verdict.score = min(verdict.score, kernel_score)
    if stop is not None:
        verdict.message = stop["message"]
    elif written.problem:
        verdict.message = written.problem
    elif written.literal is None:
        verdict.message = "not answered"
    elif letter is None:
        verdict.message = f"{written.literal[:20]!r} is not one of {', '.join(LETTERS)}"
    else:
        option = question.option(letter)
        verdict.choice, verdict.explanation = letter, option.explanation
        verdict.message = f"{'correct' if verdict.passed else 'wrong'}: you chose {letter}) {option.text}"
        if verdict.disputed:
            verdict.message += " (the check run in your notebook disagreed; the lower score counts)"
    return verdict


def verdicts(
    nb: NotebookNode, questions: list[Question] | None = None, references: References | None = None
) -> list[Verdict]:
    """One Verdict per graded code cell, in notebook order."""
    by_test_id = {q.test_id: q for q in questions or []}
    answer_cells = {}
    for cell in nb.cells:
        grade_id = grade_id_of(cell)
        if answer_cell_number(grade_id) is not None and cell.cell_type == "code":
            answer_cells[grade_id] = cell
    found = []
    for cell in nb.cells:
        if cell.cell_type != "code" or not is_grade(cell):
            continue
        grade_id = grade_id_of(cell)
        kernel_score, max_score = determine_grade(cell)
        if grade_id in by_test_id:
            question = by_test_id[grade_id]
            found.append(
                _quiz_verdict(
                    cell, question, answer_cells.get(question.answer_id), float(kernel_score or 0.0), max_score
                )
            )
        else:
            found.append(_exercise_verdict(cell, grade_id, max_score, (references or {}).get(grade_id)))
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
    """(status, note) for every cell the grader had to stop or cut, graded or not."""
    problems = []
    cut = [
        n
        for n, cell in enumerate(nb.cells, 1)
        if cell.cell_type == "code"
        and (
            truncated(cell) or any(TRUNCATED_BY_NBGRADER in str(out.get("text", "")) for out in cell.get("outputs", []))
        )
    ]
    if cut:
        problems.append(
            ("output_truncated", f"the output of cell(s) {', '.join(map(str, cut))} was too large and was cut")
        )
    for number, cell in enumerate(nb.cells, 1):
        stop = stopped(cell) if cell.cell_type == "code" else None
        if stop is None:
            continue
        if stop["status"] == STOPPED:
            problems.append(
                (
                    STOPPED,
                    f"cell {number} ran past the time limit ({stop['seconds']:g} s) and was "
                    "stopped; the rest of the notebook was still graded",
                )
            )
        elif stop["status"] == DIED:
            problems.append(
                (
                    DIED,
                    f"the kernel died in cell {number} (os._exit, a crash or running out of "
                    "memory); it was restarted and the rest of the notebook was still graded",
                )
            )
        elif stop["status"] == BUDGET and not any(status == BUDGET for status, _ in problems):
            problems.append(
                (BUDGET, f"the notebook used up its time budget in cell {number}; the cells after it were not run")
            )
    return problems
