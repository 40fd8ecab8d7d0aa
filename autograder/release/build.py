"""
`python -m autograder build`: the course's single sources -> an nbgrader course -> student versions.

    solutions/quiz_bank.toml --quiz_notebook--> solutions/quiz.ipynb, solutions/quiz_00.ipynb, ... (one per quiz)
    solutions/<id>.ipynb --(+ the student cells: student_cells.py)--> COURSE/source/<id>/<id>.ipynb
        --nbgrader generate_assignment--> COURSE/release/<id>/<id>.ipynb --> lessons/<id>.ipynb, quizzes/<quiz id>.ipynb

Lessons get a stub that raises "not done yet" (student_cells.EXERCISE_STUB), so an unfinished exercise
says so when run; the quiz gets a comment, so an unanswered quiz runs without errors (both by the
course folder's own configuration, preprocessors.CourseStubs, so nbgrader's Generate does the same).
The course folder also gets its answer key for grading under nbgrader (autograder/pipeline/key.py).

A generated notebook someone changed is never overwritten: each of lessons/ and quizzes/ holds a manifest
(MANIFEST, committed) of the hash of every notebook as build last wrote it. A notebook whose bytes differ
from its recorded hash (a student's answers, say) is moved to KEPT_DIR beside it before the new one is
written, and build says where. Students work in work/ (autograder/student/lab.py), which build never touches.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import nbformat

from autograder.course.assignments import Assignment, assignments
from autograder.course.config import KEY_DIR, CourseConfig, CourseError
from autograder.course.notebooks import write_notebook
from autograder.course.quiz_notebook import quiz_notebook
from autograder.course.quizbank import load_quizzes
from autograder.course.student_cells import for_students
from autograder.pipeline import course_folder, nbgrader_api
from autograder.release.example_submissions import write_examples

EXAMPLES_DIR = Path("autograder") / "release" / "examples"
MANIFEST = ".generated.json"  # in lessons/ and quizzes/: {notebook name: sha256 of what build wrote}
KEPT_DIR = "changed-copies"  # lessons/changed-copies/<name>-<UTC time>.ipynb: changes build did not overwrite


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
    course_folder.write_config_file(course, course_dir, db_url)
    from autograder.pipeline.key import write_bank  # nbgrader's imports: not on a student's `check` path

    write_bank(course, course_dir / KEY_DIR)
    nbgrader_api.create_gradebook(db_url)
    api = nbgrader_api.api(course_folder.course_config(course, course_dir, db_url))
    for assignment in todo:
        nbgrader_api.run(api.generate_assignment(assignment.id), f"release {assignment.id}")
    return todo


@dataclass(frozen=True)
class BuildReport:
    written: list[Path]
    seconds: float
    kept: list[tuple[Path, Path]] = field(default_factory=list)  # (generated notebook, where its changed copy went)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_manifest(folder: Path) -> dict[str, str]:
    try:
        recorded = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return recorded if isinstance(recorded, dict) else {}


def write_manifest(folder: Path, recorded: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST).write_text(json.dumps(dict(sorted(recorded.items())), indent=1) + "\n", encoding="utf-8")


def write_generated(nb: nbformat.NotebookNode, target: Path, recorded: dict[str, str]) -> Path | None:
    """
    Write the generated notebook nb to target unless that would lose changes: a target whose bytes are
    neither what build last wrote there (recorded[name]) nor what it writes now is moved aside first.
    Updates recorded; returns where a changed copy was moved, if one was.
    """
    text = nbformat.writes(nb) + "\n"
    new = digest(text.encode("utf-8"))
    kept = None
    if target.exists():
        current = digest(target.read_bytes())
        if current not in (new, recorded.get(target.name)):
            stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
            kept = target.parent / KEPT_DIR / f"{target.stem}-{stamp}{target.suffix}"
            kept.parent.mkdir(parents=True, exist_ok=True)
            target.replace(kept)
    if kept is not None or not target.exists() or digest(target.read_bytes()) != new:
        write_notebook(nb, target)
    recorded[target.name] = new
    return kept


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
    manifests: dict[Path, dict[str, str]] = {}
    kept = []
    releases, solutions = {}, {}
    for assignment in done:
        releases[assignment.id] = nbformat.read(
            course_dir / "release" / assignment.id / assignment.notebook_name, as_version=4
        )
        solutions[assignment.id] = nbformat.read(sources_of(assignment, quiz_sources), as_version=4)
        target = dest_root / assignment.student_version
        recorded = manifests.setdefault(target.parent, read_manifest(target.parent))
        moved = write_generated(releases[assignment.id], target, recorded)
        if moved is not None:
            kept.append((target, moved))
        written.append(target)
    for folder, recorded in manifests.items():
        write_manifest(folder, recorded)
    written += write_examples(
        dest_root / EXAMPLES_DIR, releases, solutions, load_quizzes(course.quiz_bank, course.shuffle_seed)
    )
    return BuildReport(written, time.perf_counter() - start, kept)


def kept_message(generated: Path, moved: Path, root: Path) -> str:
    """What build and demo print for a generated notebook with changes they did not overwrite."""
    return (
        f"{generated.relative_to(root)} had changes made after it was generated: they are kept in "
        f"{moved.relative_to(root)} (work in work/, which `make lab` opens and build never touches)"
    )
