"""
`python -m autograder build`: the course's single sources -> an nbgrader course -> student versions.

    solutions/quiz_bank.toml --quiz_notebook--> solutions/quiz.ipynb, solutions/quiz_00.ipynb, ... (one per quiz)
    solutions/<id>.ipynb --(+ the student cells: student_cells.py)--> COURSE/source/<id>/<id>.ipynb
        --nbgrader generate_assignment--> COURSE/release/<id>/<id>.ipynb --> lessons/<id>.ipynb, quizzes/<quiz id>.ipynb

Lessons get a stub that raises "not done yet" (student_cells.EXERCISE_STUB), so an unfinished exercise
says so when run; the quiz gets a comment, so an unanswered quiz runs without errors (both by the
course folder's own configuration, preprocessors.CourseStubs, so nbgrader's Generate does the same).
The course folder also gets its answer key for grading under nbgrader (autograder/key.py).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder import nbgrader_api
from autograder.config import CourseConfig, CourseError
from autograder.example_submissions import write_examples
from autograder.judge import KEY_DIR
from autograder.key import write_bank
from autograder.notebooks import write_notebook
from autograder.quiz_notebook import quiz_notebook
from autograder.quizbank import load_quizzes
from autograder.student_cells import for_students

EXAMPLES_DIR = Path("autograder") / "examples"


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


def write_quiz_sources(course: CourseConfig, dest_root: Path) -> dict[str, Path]:
    """solutions/<quiz id>.ipynb for every quiz of the bank; returns {quiz id: path}."""
    bank = course.quiz_bank.relative_to(course.root).as_posix()
    written = {}
    for quiz in load_quizzes(course.quiz_bank, course.shuffle_seed).values():
        written[quiz.id] = dest_root / "solutions" / f"{quiz.id}.ipynb"
        write_notebook(quiz_notebook(quiz, bank), written[quiz.id])
    return written


def sources_of(assignment: Assignment, overrides: dict[str, Path]) -> Path:
    return overrides.get(assignment.id, assignment.source)


def prepare_course(
    course: CourseConfig, course_dir: Path, db_url: str, sources: dict[str, Path], only: set[str] | None = None
) -> list[Assignment]:
    """Copy the sources into COURSE/source and release them with nbgrader (all, or those in `only`)."""
    todo = [a for a in assignments(course) if only is None or a.id in only]
    for assignment in todo:
        source = sources_of(assignment, sources)
        if not source.exists():
            raise CourseError(f"missing source notebook {source}")
        nb = nbformat.read(source, as_version=4)
        header_source = assignment.source.relative_to(course.root).as_posix()
        target = course_dir / "source" / assignment.id / assignment.notebook_name
        shutil.rmtree(target.parent, ignore_errors=True)
        write_notebook(for_students(nb, header_source, assignment.is_quiz), target)
    nbgrader_api.write_config_file(course, course_dir, db_url)
    write_bank(course, course_dir / KEY_DIR)
    nbgrader_api.create_gradebook(db_url)
    api = nbgrader_api.api(nbgrader_api.course_config(course, course_dir, db_url))
    for assignment in todo:
        nbgrader_api.run(api.generate_assignment(assignment.id), f"release {assignment.id}")
    return todo


@dataclass(frozen=True)
class BuildReport:
    written: list[Path]
    seconds: float


def build(course: CourseConfig, dest_root: Path | None = None, course_dir: Path | None = None) -> BuildReport:
    """Regenerate the quizzes' sources, lessons/, quizzes/ and the example class under dest_root (default: the repo)."""
    start = time.perf_counter()
    dest_root = dest_root or course.root
    course_dir = course_dir or course.root / "build" / "course"
    shutil.rmtree(course_dir, ignore_errors=True)
    quiz_sources = write_quiz_sources(course, dest_root)
    db_url = nbgrader_api.sqlite_url(course_dir / "gradebook.db")
    course_dir.mkdir(parents=True, exist_ok=True)
    done = prepare_course(course, course_dir, db_url, quiz_sources)
    written = list(quiz_sources.values())
    releases, solutions = {}, {}
    for assignment in done:
        releases[assignment.id] = nbformat.read(
            course_dir / "release" / assignment.id / assignment.notebook_name, as_version=4
        )
        solutions[assignment.id] = nbformat.read(sources_of(assignment, quiz_sources), as_version=4)
        target = dest_root / assignment.student_version
        write_notebook(releases[assignment.id], target)
        written.append(target)
    written += write_examples(
        dest_root / EXAMPLES_DIR, releases, solutions, load_quizzes(course.quiz_bank, course.shuffle_seed)
    )
    return BuildReport(written, time.perf_counter() - start)
