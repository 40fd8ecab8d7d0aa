"""
The quiz bank (quizzes/bank.toml) as data: questions, options in the order a student sees them, the key.

The seed's options are shuffled with a per-question generator seeded by (course seed, question
prompt), so adding a question never reorders the others, and the correct option keeps being the
seed's correct option wherever it lands.
"""

from __future__ import annotations

import random
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from autograder.config import CourseError

LETTERS = "ABCD"


@dataclass(frozen=True)
class Option:
    text: str
    explanation: str
    correct: bool = False


@dataclass(frozen=True)
class Question:
    number: int  # 1-based, the quiz order
    prompt: str
    lesson: str
    options: tuple[Option, ...]  # in the order the student sees them, labelled A) to D)

    @property
    def variable(self) -> str:
        return f"ANSWER_{self.number}"

    @property
    def answer(self) -> str:
        """The letter of the correct option."""
        return next(LETTERS[i] for i, option in enumerate(self.options) if option.correct)

    def option(self, letter: str) -> Option:
        return self.options[LETTERS.index(letter)]

    # nbgrader grade ids of the question's three cells (grades.csv reports the test cell's id).
    @property
    def text_id(self) -> str:
        return f"question_{self.number}"

    @property
    def answer_id(self) -> str:
        return f"answer_{self.number}"

    @property
    def test_id(self) -> str:
        return f"q{self.number}"


def normalize_choice(answer: object) -> str | None:
    """' b) ' -> 'B': case-insensitive, surrounding spaces and one trailing ')' ignored. None if not a letter."""
    if type(answer) is not str:
        return None
    letter = answer.strip().removesuffix(")").strip().upper()
    return letter if len(letter) == 1 and letter in LETTERS else None


def _shuffled(options: list[Option], seed: int, prompt: str) -> tuple[Option, ...]:
    order = list(options)
    random.Random(f"{seed}:{prompt}").shuffle(order)
    return tuple(order)


def _question(number: int, entry: dict, seed: int, source: Path) -> Question:
    where = f"{source}, question {number}"
    for key in ("prompt", "lesson", "option"):
        if key not in entry:
            raise CourseError(f"{where}: missing '{key}'")
    if not re.fullmatch(r"\d\d_\w+", entry["lesson"]):
        raise CourseError(f"{where}: lesson should name a lesson like '02_faithfulness', got {entry['lesson']!r}")
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


def load_bank(path: Path, seed: int) -> list[Question]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise CourseError(f"cannot read the quiz bank {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise CourseError(f"the quiz bank {path} is not valid TOML: {error}") from None
    entries = raw.get("question", [])
    if not entries:
        raise CourseError(f"the quiz bank {path} has no [[question]] entries")
    return [_question(number, entry, seed, path) for number, entry in enumerate(entries, 1)]
