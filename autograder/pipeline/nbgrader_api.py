"""
The one place that configures and calls nbgrader, so build, grade and the tests agree on how.

nbgrader's Python API is used in-process (nbgrader is imported once, not once per CLI call); its methods
never raise, they return {"success": bool, "log": str, "error": str}, so `run` turns failures into
NbgraderFailed. A course directory gets an `nbgrader_config.py` too, so an instructor can drive it
with the `nbgrader` command (formgrader, export) directly.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from traitlets.config import Config

from autograder.course.config import CourseConfig, CourseError


class NbgraderFailed(CourseError):
    pass


def _venv_on_path() -> None:
    # nbgrader runs the `alembic` executable when it creates a gradebook; it lives next to this Python.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


@dataclass(frozen=True)
class Execution:
    """How student code is run: the per-cell timeout, the sandbox and its slot (one per parallel grader)."""

    timeout: int | None = None  # seconds per cell (default: course.toml)
    sandbox: bool = True
    slot: int | None = None  # None: one of the running process's own (sandbox.process_slot)
    writable_cache: bool = False  # the instructor's own runs may train and cache the mini-models


def pipeline_settings(course: CourseConfig, execution: Execution = Execution()) -> dict[str, dict]:
    """
    Every setting of our grading pipeline's steps, as {configurable class: {trait: value}}: what `check`
    and the grading workers run the steps with (pipeline.execution_steps and judging_steps), and the step settings
    of nbgrader_settings (the nbgrader configuration and the nbgrader_config.py written for instructors).
    """
    from autograder.pipeline.preprocessors import ALL_STDERR

    limits = course.sandbox_limits
    return {
        "Execute": {"timeout": execution.timeout or course.timeout},
        "RobustExecute": {
            "sandbox": execution.sandbox,
            "sandbox_slot": execution.slot,
            "writable_cache": execution.writable_cache,
            "budget": course.budget,
            "memory_mb": limits.memory_mb,
            "processes": limits.processes,
            "file_size_mb": limits.file_size_mb,
            "disk_mb": limits.disk_mb,
        },
        "TruncateOutputs": {"max_chars": course.max_output_chars, "max_total_chars": course.max_total_output_chars},
        "JudgeGrades": {"shuffle_seed": course.shuffle_seed},
        # A test cell's score must not depend on warnings: drop every stderr stream before grading.
        "IgnorePattern": {"enabled": True, "pattern": ALL_STDERR},
    }


def nbgrader_settings(course: CourseConfig, db_url: str, execution: Execution = Execution()) -> dict[str, dict]:
    """
    The whole nbgrader configuration of a course directory, as plain data: the course, the steps of the
    grading pipeline (preprocessors.SANITIZE and AUTOGRADE, by import name) and their settings. The one
    source of the configuration `build` and `grade` hand nbgrader and of the nbgrader_config.py written
    for instructors; `check` and the grading workers run the same steps from pipeline_settings.
    """
    from autograder.pipeline import steps as pipeline  # imports nbgrader: keep `python -m autograder --help` fast

    return {
        "CourseDirectory": {"course_id": course.course_id, "db_url": db_url},
        "Autograde": {
            "sanitize_preprocessors": _import_names(pipeline.SANITIZE),
            "autograde_preprocessors": _import_names(pipeline.AUTOGRADE),
        },
        "GenerateAssignment": {"preprocessors": _import_names(pipeline.GENERATE_ASSIGNMENT)},
        "GenerateFeedback": {"preprocessors": _import_names(pipeline.GENERATE_FEEDBACK)},
        **pipeline_settings(course, execution),
    }


def _import_names(steps: list[type]) -> list[str]:
    return [f"{step.__module__}.{step.__qualname__}" for step in steps]


def course_config(course: CourseConfig, course_dir: Path, db_url: str, *, execution: Execution = Execution()) -> Config:
    """nbgrader configuration for a course directory, with our grading pipeline (see pipeline.py)."""
    c = config_from_settings(nbgrader_settings(course, db_url, execution))
    c.CourseDirectory.root = str(course_dir.resolve())
    return c


def config_from_settings(settings: dict[str, dict]) -> Config:
    """pipeline_settings(...) or nbgrader_settings(...) as a traitlets Config."""
    c = Config()
    for section, values in settings.items():
        for trait, value in values.items():
            setattr(c[section], trait, value)
    return c


def write_config_file(course: CourseConfig, course_dir: Path, db_url: str) -> None:
    """
    nbgrader_config.py for instructors who drive the course folder with nbgrader itself (its commands,
    the Formgrader): the same pipeline, settings and scores as `python -m autograder grade`. Paths are
    written relative to the file, so the folder can be moved or copied to a grading account.
    """
    course_dir.mkdir(parents=True, exist_ok=True)
    settings = nbgrader_settings(course, db_url)
    del settings["CourseDirectory"]["db_url"]
    lines = [
        "# Written by `python -m autograder`: `nbgrader ...` and the Formgrader run in this folder with the",
        "# course's grading pipeline (sandboxed kernels, the course's scores, feedback without hidden tests).",
        "import os",
        "",
        "c = get_config()  # noqa: F821",
        "here = os.path.dirname(os.path.abspath(__file__))",
        "c.CourseDirectory.root = here",
        _db_url_line(course_dir, db_url),
    ]
    for section, values in settings.items():
        lines += [f"c.{section}.{trait} = {value!r}" for trait, value in values.items()]
    (course_dir / "nbgrader_config.py").write_text("\n".join(lines) + "\n")


def _db_url_line(course_dir: Path, db_url: str) -> str:
    """The gradebook's address, relative to the course folder when it is an SQLite file."""
    prefix = "sqlite:///"
    if db_url.startswith(prefix):
        relative = os.path.relpath(db_url[len(prefix) :], course_dir.resolve())
        return f"c.CourseDirectory.db_url = {prefix!r} + os.path.normpath(os.path.join(here, {relative!r}))"
    return f"c.CourseDirectory.db_url = {db_url!r}"


def create_gradebook(db_url: str) -> None:
    """
    Create an empty gradebook at db_url as nbgrader would: its tables, stamped with the head of its migrations.

    nbgrader does this itself on first use, but learns the head by running the `alembic` program: a new
    Python process per class graded. alembic's API reads the same migration scripts in-process; a test
    (test_grading.py) fails when the result differs from the gradebook nbgrader makes itself.
    """
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory
    from nbgrader.api import Base
    from nbgrader.dbutil import ALEMBIC_DIR
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(db_url)
    try:
        if inspect(engine).get_table_names():
            return  # an existing gradebook is nbgrader's to open (and to migrate)
        migrations = AlembicConfig()
        migrations.set_main_option("script_location", ALEMBIC_DIR)
        head = ScriptDirectory.from_config(migrations).get_current_head()
        Base.metadata.create_all(bind=engine)
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
            connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:head)"), {"head": head})
    finally:
        engine.dispose()


def api(config: Config):
    """An NbGraderAPI for the configured course directory, with nbgrader's log noise kept out of the way."""
    _venv_on_path()
    from nbgrader.apps import NbGraderAPI

    for noisy in ("traitlets", "nbgrader", "alembic"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    # nbgrader 0.9.6 trips over its own session on every first submission; the warning is harmless.
    warnings.filterwarnings("ignore", message=".*not in session.*")
    return NbGraderAPI(config=config)


def run(result: dict, what: str) -> dict:
    if not result.get("success"):
        detail = (result.get("error") or result.get("log") or "no details").strip().splitlines()[-12:]
        raise NbgraderFailed(f"nbgrader failed to {what}:\n" + "\n".join(detail))
    return result
