"""
A course folder's nbgrader configuration: the course, the whole grading pipeline by import name
(autograder/pipeline/steps.py) and the settings of its steps (nbgrader_api.pipeline_settings), as the
Config `build` and `grade` hand nbgrader and as the nbgrader_config.py written for instructors, so
`nbgrader ...` and the Formgrader run the course's pipeline too.

It names the whole pipeline, the judge and its answer key included, so it sits above all of them;
nbgrader_api, which the steps' own runners use, stays below.
"""

from __future__ import annotations

import os
from pathlib import Path

from traitlets.config import Config

from autograder.course.config import CourseConfig
from autograder.pipeline.nbgrader_api import Execution, config_from_settings, pipeline_settings

AS_CONFIGURED = Execution()  # the timeout of course.toml, in the sandbox


def nbgrader_settings(course: CourseConfig, db_url: str, execution: Execution = AS_CONFIGURED) -> dict[str, dict]:
    """
    The whole nbgrader configuration of a course directory, as plain data: the course, the steps of the
    grading pipeline (execution.SANITIZE and steps.AUTOGRADE, by import name) and their settings. The one
    source of the configuration `build` and `grade` hand nbgrader and of the nbgrader_config.py written
    for instructors; `check` and the grading workers run the same steps from pipeline_settings.
    """
    # These import nbgrader (seconds): kept out of `python -m autograder build --help`.
    from autograder.pipeline.execution import SANITIZE
    from autograder.pipeline.steps import AUTOGRADE, GENERATE_ASSIGNMENT, GENERATE_FEEDBACK

    return {
        "CourseDirectory": {"course_id": course.course_id, "db_url": db_url},
        "Autograde": {
            "sanitize_preprocessors": _import_names(SANITIZE),
            "autograde_preprocessors": _import_names(AUTOGRADE),
        },
        "GenerateAssignment": {"preprocessors": _import_names(GENERATE_ASSIGNMENT)},
        "GenerateFeedback": {"preprocessors": _import_names(GENERATE_FEEDBACK)},
        **pipeline_settings(course, execution),
    }


def _import_names(steps: list[type]) -> list[str]:
    return [f"{step.__module__}.{step.__qualname__}" for step in steps]


def course_config(
    course: CourseConfig, course_dir: Path, db_url: str, *, execution: Execution = AS_CONFIGURED
) -> Config:
    """nbgrader configuration for a course directory, with our grading pipeline (steps.py)."""
    c = config_from_settings(nbgrader_settings(course, db_url, execution))
    c.CourseDirectory.root = str(course_dir.resolve())
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
