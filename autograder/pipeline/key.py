"""
The answer key inside a course folder, for grading under nbgrader itself (autograder/pipeline/judge.py).

    COURSE/grading/quiz_bank.toml               a copy of the quiz bank (the quizzes' key)
    COURSE/grading/references/<assignment>.json the instructor's records of a lesson's hidden tests, with
                                                the fingerprint of the source notebook they come from

The folder sits beside source/ and release/, never inside them: nbgrader releases release/<assignment>/
only, so nothing here reaches students. `build` and `grade` write the bank; `grade` writes the records
it computed; under nbgrader, records that are missing or out of date (the instructor changed
source/<assignment>) are computed from the course's own source notebook, in the sandbox.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from autograder.course.config import CourseConfig
from autograder.course.files import write_atomically
from autograder.course.quizbank import Question, load_quizzes
from autograder.pipeline.execution import execute
from autograder.pipeline.reference import as_references, fingerprint, one_process_at_a_time, records_of
from autograder.pipeline.results import References

BANK = "quiz_bank.toml"


def write_bank(course: CourseConfig, key_dir: Path) -> None:
    key_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(course.quiz_bank, key_dir / BANK)


def _records_file(key_dir: Path, assignment: str) -> Path:
    return key_dir / "references" / f"{assignment}.json"


def save_records(key_dir: Path, assignment: str, source: NotebookNode, payloads: dict[str, list[dict]]) -> None:
    """Keep the instructor's records of a lesson, computed for (a notebook with the code of) source."""
    data = {"fingerprint": fingerprint(source), "records": payloads}
    write_atomically(_records_file(key_dir, assignment), json.dumps(data))


def _saved_records(key_dir: Path, assignment: str, source: NotebookNode) -> dict | None:
    try:
        data = json.loads(_records_file(key_dir, assignment).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("fingerprint") != fingerprint(source):
        return None
    return data.get("records") if isinstance(data.get("records"), dict) else None


def load_key(
    key_dir: Path, course_root: Path, assignment: str, shuffle_seed: int, config
) -> tuple[list[Question] | None, References | None]:
    """The questions of a quiz, or the instructor's records of a lesson (computed when missing)."""
    bank = key_dir / BANK
    if bank.is_file():
        quiz = load_quizzes(bank, shuffle_seed).get(assignment)
        if quiz is not None:
            return list(quiz.questions), None
    source_path = course_root / "source" / assignment / f"{assignment}.ipynb"
    if not source_path.is_file():
        return None, None  # every exercise then says the instructor's results are missing
    source = nbformat.read(source_path, as_version=4)
    payloads = _saved_records(key_dir, assignment, source)
    if payloads is None:
        with one_process_at_a_time(_records_file(key_dir, assignment)):
            payloads = _saved_records(key_dir, assignment, source)
            if payloads is None:
                payloads = records_of(_run_solution(source, source_path.parent, config), source_path.name)
                save_records(key_dir, assignment, source, payloads)
    return None, as_references(payloads)


def _run_solution(source: NotebookNode, folder: Path, config) -> NotebookNode:
    """The instructor's notebook through the same steps that run a submission's code (sandboxed), allowed to
    train and cache models. Those steps never read a key (execution.py): the key is built on them."""
    trusted = copy.deepcopy(config)
    trusted.RobustExecute.writable_cache = True
    return execute(copy.deepcopy(source), source, str(folder), trusted)
