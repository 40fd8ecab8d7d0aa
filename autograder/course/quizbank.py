"""
The quiz bank (solutions/quiz_bank.toml) as data: quizzes, their questions, the options in the order a
student sees them, the key.

Every question belongs to one quiz: the course quiz `quiz` (the seed's eight questions, marked
`quiz = "quiz"` in the bank), or else the quiz of the lesson that teaches it, `quiz_<NN>` (lesson
`03_beyond_attention` -> `quiz_03`). A question's number counts within its quiz.

The options are shuffled with a per-question generator seeded by (course seed, question prompt), so
adding a question never reorders the others, and the correct option keeps being the bank's correct
option wherever it lands.

This module is also the one home of two conventions the grader and the notebooks share: the ids of
a question's cells (`answer_cell_id`, `graded_cell_id`, and reading a number back from an id) and how a written
answer is read (`normalize_choice`, whose source the quiz notebook carries for its own checks).
"""

from __future__ import annotations

import random
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from autograder.course.config import CourseError

LETTERS = "ABCD"
COURSE_QUIZ = "quiz"
LESSON = re.compile(r"(\d\d)_\w+")

# The nbgrader grade ids of question n's three cells (grades.csv reports the test cell's id), and the
# variable its answer cell sets.
_ANSWER_ID = re.compile(r"answer_(\d+)")
_TEST_ID = re.compile(r"q(\d+)")


def answer_variable(number: int) -> str:
    return f"ANSWER_{number}"


def text_cell_id(number: int) -> str:
    return f"question_{number}"


def answer_cell_id(number: int) -> str:
    return f"answer_{number}"


def graded_cell_id(number: int) -> str:
    return f"q{number}"


def answer_cell_number(grade_id: str) -> int | None:
    """The question number of an answer cell's grade id ("answer_3" -> 3), None for any other id."""
    match = _ANSWER_ID.fullmatch(grade_id)
    return int(match.group(1)) if match else None


def graded_cell_number(grade_id: str) -> int | None:
    """The question number of a graded (test) cell's grade id ("q3" -> 3), None for any other id."""
    match = _TEST_ID.fullmatch(grade_id)
    return int(match.group(1)) if match else None


def lesson_quiz_id(lesson: str) -> str:
    """The quiz of a lesson: "03_beyond_attention" -> "quiz_03"."""
    return f"{COURSE_QUIZ}_{lesson[:2]}"


def normalize_choice(answer: object) -> str | None:
    """' b) ' -> 'B': case-insensitive, surrounding spaces and one trailing ')' ignored. None if not a letter."""
    if type(answer) is not str:
        return None
    letter = answer.strip().removesuffix(")").strip().upper()
    return letter if len(letter) == 1 and letter in LETTERS else None


@dataclass(frozen=True)
class Option:
    text: str
    explanation: str
    correct: bool = False


@dataclass(frozen=True)
class Question:
    number: int  # 1-based, the order within its quiz
    prompt: str
    lesson: str
    options: tuple[Option, ...]  # in the order the student sees them, labelled A) to D)

    @property
    def variable(self) -> str:
        return answer_variable(self.number)

    @property
    def answer(self) -> str:
        """The letter of the correct option."""
        return next(LETTERS[i] for i, option in enumerate(self.options) if option.correct)

    def option(self, letter: str) -> Option:
        return self.options[LETTERS.index(letter)]

    @property
    def text_id(self) -> str:
        return text_cell_id(self.number)

    @property
    def answer_id(self) -> str:
        return answer_cell_id(self.number)

    @property
    def test_id(self) -> str:
        return graded_cell_id(self.number)


@dataclass(frozen=True)
class Quiz:
    id: str  # the nbgrader assignment id: "quiz" or "quiz_03"
    lesson: str | None  # the lesson a lesson quiz checks, None for the course quiz
    questions: tuple[Question, ...]


def _shuffled(options: list[Option], seed: int, prompt: str) -> tuple[Option, ...]:
    order = list(options)
    random.Random(f"{seed}:{prompt}").shuffle(order)
    return tuple(order)


def _question(number: int, entry: dict, seed: int, where: str) -> Question:
    for key in ("prompt", "option"):
        if key not in entry:
            raise CourseError(f"{where}: missing '{key}'")
    raw = entry["option"]
    if len(raw) != len(LETTERS):
        raise CourseError(f"{where}: needs exactly {len(LETTERS)} options, has {len(raw)}")
    options = []
    for i, option in enumerate(raw, 1):
        if not option.get("text") or not option.get("explanation"):
            raise CourseError(f"{where}, option {i}: needs a 'text' and an 'explanation'")
        options.append(Option(option["text"], option["explanation"], bool(option.get("correct", False))))
    if sum(option.correct for option in options) != 1:
        raise CourseError(f"{where}: exactly one option must have correct = true")
    return Question(number, entry["prompt"], entry["lesson"], _shuffled(options, seed, entry["prompt"]))


def _quiz_of(entry: dict, where: str) -> str:
    """The quiz an entry belongs to: "quiz" if it says so, else its lesson's."""
    lesson = entry.get("lesson")
    if lesson is None:
        raise CourseError(f"{where}: missing 'lesson'")
    if not isinstance(lesson, str) or not LESSON.fullmatch(lesson):
        raise CourseError(f"{where}: lesson should name a lesson like '02_faithfulness', got {lesson!r}")
    quiz = entry.get("quiz", lesson_quiz_id(lesson))
    if quiz not in (COURSE_QUIZ, lesson_quiz_id(lesson)):
        raise CourseError(
            f'{where}: quiz = "{COURSE_QUIZ}" puts a question in the course quiz; without it, the '
            f"question is in its lesson's quiz ({lesson_quiz_id(lesson)}); got quiz = {quiz!r}"
        )
    return quiz


def load_quizzes(path: Path, seed: int) -> dict[str, Quiz]:
    """Every quiz of the bank by id: the course quiz first, then the lesson quizzes in lesson order."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise CourseError(f"cannot read the quiz bank {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise CourseError(f"the quiz bank {path} is not valid TOML: {error}") from None
    entries = raw.get("question", [])
    if not entries:
        raise CourseError(f"the quiz bank {path} has no [[question]] entries")
    grouped: dict[str, list[tuple[str, dict]]] = {}
    for position, entry in enumerate(entries, 1):
        where = f"{path}, entry {position}"
        grouped.setdefault(_quiz_of(entry, where), []).append((where, entry))
    quizzes = {}
    for quiz in sorted(grouped, key=lambda q: (q != COURSE_QUIZ, q)):
        questions = tuple(
            _question(number, entry, seed, f"{where} ({quiz}, question {number})")
            for number, (where, entry) in enumerate(grouped[quiz], 1)
        )
        quizzes[quiz] = Quiz(quiz, None if quiz == COURSE_QUIZ else questions[0].lesson, questions)
    return quizzes
