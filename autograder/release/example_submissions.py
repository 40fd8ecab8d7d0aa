"""
The bundled example class (autograder/release/examples/): submissions made from the released notebooks the
way real students make them, including every kind of broken submission the grader must survive.

`python -m autograder build` regenerates them, so they always match the current release.
Layout: examples/<student_id>/<assignment_id>/<notebook>.ipynb, as nbgrader's submitted/ folder.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from autograder.course.notebooks import grade_id_of, is_answer
from autograder.course.quizbank import COURSE_QUIZ, LETTERS, Question, Quiz

SOLUTION_REGION = re.compile(r"[ \t]*### BEGIN SOLUTION\n(.*?)[ \t]*### END SOLUTION\n?", re.S)


def _cell(nb: NotebookNode, grade_id: str) -> NotebookNode:
    return next(c for c in nb.cells if grade_id_of(c) == grade_id)


def _answer(nb: NotebookNode, question: Question, source: str) -> None:
    _cell(nb, question.answer_id).source = source


def _insert_after(nb: NotebookNode, grade_id: str, source: str, cell_id: str) -> None:
    cell = nbformat.v4.new_code_cell(source)
    cell.id = cell_id
    nb.cells.insert(nb.cells.index(_cell(nb, grade_id)) + 1, cell)


def _delete(nb: NotebookNode, grade_id: str) -> None:
    nb.cells.remove(_cell(nb, grade_id))


def _wrong(question: Question) -> str:
    return next(letter for letter in LETTERS if letter != question.answer)


def solved_copy(release: NotebookNode, solution: NotebookNode) -> NotebookNode:
    """The release with every exercise answered by the instructor's solution (markers removed)."""
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        if is_answer(cell) and cell.cell_type == "code":
            cell.source = SOLUTION_REGION.sub(lambda m: m.group(1), _cell(solution, grade_id_of(cell)).source)
    return nb


@dataclass(frozen=True)
class Example:
    student: str
    assignment: str
    what: str  # what this submission exercises, shown by the demo
    make: Callable[[dict, list[Question]], NotebookNode | bytes | None]  # None: an empty folder
    file_name: str | None = None  # default: <assignment>.ipynb


def _quiz(answers: Callable[[Question], str], quiz: str = COURSE_QUIZ) -> Callable:
    def make(ctx: dict, questions: list[Question]) -> NotebookNode:
        nb = copy.deepcopy(ctx["release"][quiz])
        for q in questions:
            _answer(nb, q, answers(q))
        return nb

    return make


def _ada_quiz(q: Question) -> str:
    # Formats the rules accept: lower case, spaces, a trailing ")".
    return f'{q.variable} = "{[q.answer, q.answer.lower(), f" {q.answer}) "][q.number % 3]}"'


def _ben_quiz(q: Question) -> str:
    return f'{q.variable} = "{q.answer if q.number <= 5 else _wrong(q)}"'


def _jo_quiz(q: Question) -> str:
    return f'{q.variable} = "{q.answer if q.number % 2 else _wrong(q)}"'


def _cy_quiz(ctx: dict, questions: list[Question]) -> NotebookNode:
    nb = _quiz(lambda q: f'{q.variable} = "{q.answer}"')(ctx, questions)
    q1, q2, q3, q4 = questions[:4]
    _answer(
        nb,
        q1,
        "class Anything(str):\n    __eq__ = lambda self, other: True\n    __hash__ = str.__hash__\n\n"
        f'{q1.variable} = Anything("{_wrong(q1)}")',
    )
    _answer(nb, q2, f'{q2.variable} = open("answer_key.txt").read().strip()  # "found" the key')
    _answer(nb, q3, f'{q3.variable} = "{_wrong(q3)}"')
    _cell(nb, q3.test_id).source = "assert True  # my own test"
    _delete(nb, q4.test_id)
    return nb


def _dee_quiz(ctx: dict, questions: list[Question]) -> NotebookNode:
    nb = _quiz(lambda q: f'{q.variable} = "{q.answer}"')(ctx, questions)
    _insert_after(
        nb,
        questions[3].test_id,
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "while True:  # an endless loop that ignores the interrupt\n    pass",
        "dee-loop",
    )
    return nb


def _eve_quiz(ctx: dict, questions: list[Question]) -> NotebookNode:
    nb = _quiz(lambda q: f'{q.variable} = "{q.answer if q.number != 2 else _wrong(q)}"')(ctx, questions)
    _insert_after(nb, questions[5].test_id, "import os\nos._exit(1)  # the kernel dies here", "eve-exit")
    return nb


def _fay_quiz(ctx: dict, questions: list[Question]) -> NotebookNode:
    nb = _quiz(lambda q: f'{q.variable} = "{q.answer if q.number % 2 else _wrong(q)}"')(ctx, questions)
    _insert_after(
        nb, questions[0].answer_id, 'for i in range(200_000):\n    print("spam", i)\nprint("x" * 5_000_000)', "fay-spam"
    )
    _cell(nb, questions[0].answer_id).id = _cell(nb, questions[0].text_id).id  # a copy-paste left two cells with one id
    return nb


def _gus_quiz(ctx: dict, questions: list[Question]) -> bytes:
    text = json.dumps(_quiz(lambda q: f'{q.variable} = "{q.answer}"')(ctx, questions), indent=1)
    return text[: len(text) // 2].encode()  # the upload was cut in half


def _lesson(assignment: str, change: Callable[[NotebookNode], None] | None = None, solved: bool = True) -> Callable:
    def make(ctx: dict, questions: list[Question]) -> NotebookNode:
        release = ctx["release"][assignment]
        nb = solved_copy(release, ctx["solution"][assignment]) if solved else copy.deepcopy(release)
        if change:
            change(nb)
        return nb

    return make


def _warn_in_exercise(nb: NotebookNode) -> None:
    cell = _cell(nb, "ex_attention_mass")
    cell.source = "import warnings\n" + cell.source.replace(
        "    return", '    warnings.warn("a warning on stderr must not cost the point")\n    return', 1
    )


def _hard_code_visible_example(nb: NotebookNode) -> None:
    _cell(nb, "ex_attention_mass").source = (
        "def attention_mass_on(rows: torch.Tensor, rationale: torch.Tensor) -> torch.Tensor:\n"
        "    return torch.tensor([0.6, 0.5])  # the visible check's answer, whatever the input\n"
    )


EXAMPLES = [
    Example("ada", "quiz", "all correct, in every accepted format", _quiz(_ada_quiz)),
    Example("ada", "01_attention_as_explanation", "every exercise solved", _lesson("01_attention_as_explanation")),
    Example("ben", "quiz", "the first five right, the others wrong", _quiz(_ben_quiz)),
    Example("ben", "00_tiny_transformer", "opened but not attempted", _lesson("00_tiny_transformer", solved=False)),
    Example("cy", "quiz", "fake-equality object, answer read from a file, edited and deleted test cells", _cy_quiz),
    Example("dee", "quiz", "an endless loop that ignores interrupts after question 4", _dee_quiz),
    Example("eve", "quiz", "the kernel dies (os._exit) after question 6", _eve_quiz),
    Example("fay", "quiz", "renamed notebook, duplicated cell id, enormous output", _fay_quiz, "quiz (1).ipynb"),
    Example("gus", "quiz", "file cut in half: not JSON", _gus_quiz),
    Example("hal", "01_attention_as_explanation", "no notebook in the folder", lambda ctx, qs: None),
    Example(
        "ida",
        "quiz",
        "JSON, but not a notebook (answers typed into a list)",
        lambda ctx, qs: json.dumps({"answers": [q.answer for q in qs]}).encode(),
    ),
    Example(
        "ivy",
        "01_attention_as_explanation",
        "solved, with a warning printed to stderr",
        _lesson("01_attention_as_explanation", _warn_in_exercise),
    ),
    Example(
        "max",
        "01_attention_as_explanation",
        "exercise 1 returns the visible check's answer: passes it, fails the hidden cases",
        _lesson("01_attention_as_explanation", _hard_code_visible_example),
    ),
    Example("jo", "quiz_05", "a lesson's quiz: the odd-numbered questions right", _quiz(_jo_quiz, "quiz_05")),
]


def write_examples(
    dest: Path, releases: dict[str, NotebookNode], solutions: dict[str, NotebookNode], quizzes: dict[str, Quiz]
) -> list[Path]:
    """Every example submission under dest; a quiz example gets its quiz's questions."""
    shutil.rmtree(dest, ignore_errors=True)
    ctx = {"release": releases, "solution": solutions}
    written = []
    for example in EXAMPLES:
        folder = dest / example.student / example.assignment
        folder.mkdir(parents=True, exist_ok=True)
        quiz = quizzes.get(example.assignment)
        made = example.make(ctx, list(quiz.questions) if quiz else [])
        path = folder / (example.file_name or f"{example.assignment}.ipynb")
        if made is None:
            path = folder / "README.txt"
            path.write_text("I could not get the notebook to save, sorry!\n")
        elif isinstance(made, bytes):
            path.write_bytes(made)
        else:  # plain JSON: nbformat would silently repair the broken ids some examples need
            path.write_text(json.dumps(made, sort_keys=True, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written
