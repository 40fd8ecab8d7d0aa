"""The course's assignments: every lesson in solutions/ (NN_<name>.ipynb), then every quiz of the bank."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from autograder.course.config import CourseConfig
from autograder.course.quizbank import load_quizzes


@dataclass(frozen=True)
class Assignment:
    id: str  # nbgrader assignment id; the notebook inside is <id>.ipynb
    source: Path  # instructor version in solutions/
    student_version: Path  # relative to the repository root: lessons/<id>.ipynb or quizzes/<id>.ipynb
    is_quiz: bool = False  # generated from the quiz bank

    @property
    def notebook_name(self) -> str:
        return f"{self.id}.ipynb"


def assignments(course: CourseConfig) -> list[Assignment]:
    """Every lesson in solutions/ (NN_<name>.ipynb), then every quiz of the bank (the course quiz first)."""
    lessons = sorted(p for p in course.solutions_dir.glob("[0-9][0-9]_*.ipynb"))
    found = [Assignment(p.stem, p, Path("lessons") / p.name) for p in lessons]
    quizzes = [
        Assignment(q, course.solutions_dir / f"{q}.ipynb", Path("quizzes") / f"{q}.ipynb", is_quiz=True)
        for q in load_quizzes(course.quiz_bank, course.shuffle_seed)
    ]
    return found + quizzes
