"""
Running a notebook through the grading pipeline's first half without a gradebook
(autograder/pipeline/execution.py), in
the sandbox when one is asked for, and saying in one sentence why its kernel did not start when it
did not. `check`, the instructor's references and every grading worker run notebooks this way.
"""

from __future__ import annotations

from pathlib import Path

from nbformat import NotebookNode

from autograder.course.config import CourseConfig, CourseError
from autograder.course.notebooks import KERNELSPEC
from autograder.pipeline.execution import execute
from autograder.pipeline.nbgrader_api import Execution, config_from_settings, pipeline_settings


def run_notebook(
    course: CourseConfig, nb: NotebookNode, source: NotebookNode, folder: Path, execution: Execution
) -> NotebookNode:
    """nb with its code run by the grading pipeline, without a gradebook (the instructor's test cells from source)."""
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    try:
        return execute(nb, source, str(folder), config_from_settings(pipeline_settings(course, execution)))
    except RuntimeError as error:
        if not kernel_never_started(error):
            raise
        raise CourseError(kernel_start_problem(course, execution)) from None


def kernel_never_started(error: BaseException) -> bool:
    """jupyter_client's words for a kernel that died before it could answer: it never started."""
    return isinstance(error, RuntimeError) and "Kernel died before replying" in str(error)


def kernel_start_problem(course: CourseConfig, execution: Execution) -> str:
    """Why the notebook's kernel cannot start, in one sentence: what its Python says when started the same
    way (in the same sandbox, when there is one): bwrap's own message, or the path that is missing."""
    import shutil
    import subprocess
    import sys

    probe = [sys.executable, "-c", "import ipykernel"]
    runtime = None
    if execution.sandbox:
        from autograder.sandbox.bwrap import Sandbox

        box = Sandbox(course.sandbox_limits, slot=execution.slot or 0)
        runtime = box.runtime_dir()
        probe = box.command(probe, runtime)
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"the notebook's kernel could not start: {error}"
    finally:
        if runtime is not None:
            shutil.rmtree(runtime, ignore_errors=True)
    said = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    where = " in the sandbox" if execution.sandbox else ""
    if done.returncode == 0:
        return f"the notebook's kernel started{where} but died before answering; run the check again"
    return f"the notebook's kernel could not start{where}: {said[-1] if said else f'exit status {done.returncode}'}"
