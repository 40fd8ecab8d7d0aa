"""
The one place that calls nbgrader and holds the settings of the grading pipeline's steps, so build,
grade, check and the tests agree on how.

nbgrader's Python API is used in-process (nbgrader is imported once, not once per CLI call); its methods
never raise, they return {"success": bool, "log": str, "error": str}, so `run` turns failures into
NbgraderFailed. The settings of the steps (pipeline_settings) are what `check` and the grading workers
run the steps with, and part of a course folder's whole nbgrader configuration (course_folder.py), which
names the steps themselves.
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
    and the grading workers run the steps with (execution.execution_steps and steps.judging_steps), and the
    step settings of course_folder.nbgrader_settings (the nbgrader configuration and the nbgrader_config.py
    written for instructors).
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
            # The pipeline runs GradeApart right after it (execution.RUN_STUDENT_CODE): the hidden part of a
            # test cell graded apart runs there, not in the student's kernel.
            "grade_apart_follows": True,
        },
        "TruncateOutputs": {"max_chars": course.max_output_chars, "max_total_chars": course.max_total_output_chars},
        "JudgeGrades": {"shuffle_seed": course.shuffle_seed},
        # A test cell's score must not depend on warnings: drop every stderr stream before grading.
        "IgnorePattern": {"enabled": True, "pattern": ALL_STDERR},
    }


def config_from_settings(settings: dict[str, dict]) -> Config:
    """pipeline_settings(...) or nbgrader_settings(...) as a traitlets Config."""
    c = Config()
    for section, values in settings.items():
        for trait, value in values.items():
            setattr(c[section], trait, value)
    return c


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
