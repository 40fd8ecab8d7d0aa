"""The course configuration (autograder/course/course.toml) and where things live in the repository."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # autograder/

KEY_DIR = "grading"  # the course folder's answer key, beside source/ and release/: what nbgrader's own runs read


class CourseError(Exception):
    """A problem the user can fix (a wrong path, a broken bank entry); printed without a traceback."""


class NoAnswerKey(CourseError):
    """No solutions/ folder: not run from the course repository, or a student's copy without the key."""


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of each sandboxed kernel (course.toml, [sandbox]; see autograder/sandbox/bwrap.py)."""

    memory_mb: int = 4096  # address space of every process in the sandbox
    processes: int = 256  # processes and threads
    file_size_mb: int = 64  # largest file it may write
    disk_mb: int = 256  # size of each writable folder (home, /tmp)
    open_files: int = 1024


@dataclass(frozen=True)
class CourseConfig:
    root: Path  # the repository: solutions/, lessons/, quizzes/ live here
    course_id: str
    quiz_bank: Path
    shuffle_seed: int
    timeout: int  # seconds per cell
    max_output_chars: int
    max_total_output_chars: int
    max_notebook_bytes: int
    sandbox_limits: SandboxLimits
    budget: int  # seconds per notebook

    @property
    def solutions_dir(self) -> Path:
        return self.root / "solutions"

    @property
    def lessons_dir(self) -> Path:
        return self.root / "lessons"

    @property
    def quizzes_dir(self) -> Path:
        return self.root / "quizzes"

    @property
    def examples_dir(self) -> Path:
        return PACKAGE_DIR / "release" / "examples"


def find_root(explicit: Path | None = None) -> Path:
    """The repository root: the one given, else the current directory or the nearest parent holding
    solutions/ (a student working in work/lessons/), else the package's parent."""
    here = Path.cwd().absolute()
    candidates = [explicit] if explicit else [here, *here.parents, PACKAGE_DIR.parent]
    for candidate in candidates:
        if (candidate / "solutions").is_dir():
            return candidate.resolve()
    where = explicit or "the current directory"
    raise NoAnswerKey(f"no solutions/ folder in {where}: run this from the course repository (or pass --root)")


def load_config(root: Path | None = None, config_file: Path = PACKAGE_DIR / "course" / "course.toml") -> CourseConfig:
    root = find_root(root)
    try:
        raw = tomllib.loads(config_file.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise CourseError(f"cannot read the course configuration {config_file}: {error}") from None
    try:
        return CourseConfig(
            root=root,
            course_id=raw["course"]["id"],
            quiz_bank=root / raw["quiz"]["bank"],
            shuffle_seed=int(raw["quiz"]["shuffle_seed"]),
            timeout=int(raw["grading"]["timeout"]),
            max_output_chars=int(raw["grading"]["max_output_chars"]),
            max_total_output_chars=int(raw["grading"]["max_total_output_chars"]),
            max_notebook_bytes=int(float(raw["grading"]["max_notebook_mb"]) * 1024 * 1024),
            sandbox_limits=SandboxLimits(
                **{key: int(raw["sandbox"][key]) for key in ("memory_mb", "processes", "file_size_mb", "disk_mb")}
            ),
            budget=int(raw["sandbox"]["budget_seconds"]),
        )
    except (KeyError, ValueError) as error:
        raise CourseError(f"{config_file} is missing or has a bad value for {error}") from None


# The command line checks its arguments with these before importing the grader (seconds of imports), so
# a mistyped path is reported at once; grade() and check() call them too.


def require_grading_arguments(submissions: Path, timeout: int | None, workers: int) -> None:
    if not submissions.is_dir():
        raise CourseError(
            f"{submissions} is not a folder: expected SUBMISSIONS/<student_id>/<assignment_id>/<notebook>.ipynb"
        )
    if timeout is not None and timeout < 1:
        raise CourseError("--timeout must be at least 1 second")
    if workers < 1:
        raise CourseError("--workers must be at least 1")


def require_notebook_file(path: Path) -> None:
    if not path.is_file():
        raise CourseError(f"no such notebook: {path}")
