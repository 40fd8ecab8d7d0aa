"""
The unit of grading work: one submission, run through the grading pipeline in a sandbox of its own.

A worker runs the half of the grading pipeline that runs student code (autograder/pipeline.py); the
other half, which holds the answer key and decides the scores, runs in the grading process. A Task is
plain data (the submission and the instructor's notebook as JSON text, the pipeline's settings), so
the same task runs in this process, in a local process pool (`grade --workers N`) or on
a Dask worker on another machine (`grade --scheduler ADDRESS`), and gives the same executed notebook.
Workers never touch OUT or the gradebook: the grading process decides scores and writes everything.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

# This process's grading slot (set once per worker process): its kernels get a sandbox uid of their own.
_SLOT: int | None = None


@dataclass(frozen=True)
class Task:
    key: str  # "<student>/<assignment>"
    notebook: str  # the clean submitted copy (intake.py), JSON
    source: str  # the instructor's notebook of the assignment (hidden tests included), JSON
    settings: dict  # nbgrader_api.pipeline_settings(...): timeouts, sandbox, limits


@dataclass(frozen=True)
class Outcome:
    key: str
    executed: str | None  # the executed notebook, JSON; None when the pipeline failed
    failure: str | None  # the exception type that stopped it (its text is never kept)
    seconds: float
    worker: str


def _slot() -> int:
    from autograder.sandbox import process_slot

    return _SLOT if _SLOT is not None else process_slot()


def init_local_worker(slots) -> None:
    """ProcessPoolExecutor initializer: take a grading slot of this machine's own."""
    global _SLOT
    _SLOT = slots.get()


def run_task(task: Task) -> Outcome:
    """Run one submission; every failure is contained in the Outcome."""
    import nbformat

    from autograder.nbgrader_api import config_from_settings
    from autograder.pipeline import execute

    start = time.perf_counter()
    settings = {section: dict(values) for section, values in task.settings.items()}
    settings["RobustExecute"]["sandbox_slot"] = _slot()
    try:
        with tempfile.TemporaryDirectory(prefix="attnlab-task-") as folder:
            nb = nbformat.reads(task.notebook, as_version=4)
            source = nbformat.reads(task.source, as_version=4)
            executed = execute(nb, source, folder, config_from_settings(settings))
        return Outcome(task.key, nbformat.writes(executed), None, time.perf_counter() - start, _worker_name())
    except Exception as error:  # contained: this submission's status (its text is not kept: it may be the student's)
        return Outcome(task.key, None, type(error).__name__, time.perf_counter() - start, _worker_name())


def _worker_name() -> str:
    return f"{os.uname().nodename}:{os.getpid()}"


def run_all(tasks: list[Task], workers: int = 1, scheduler: str | None = None) -> Iterator[Outcome]:
    """Every task's Outcome, in the order they finish: here, in a local pool, or on a Dask cluster."""
    if scheduler:
        yield from _on_dask(tasks, scheduler)
    elif workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            yield run_task(task)
    else:
        yield from _in_pool(tasks, workers)


def _in_pool(tasks: list[Task], workers: int) -> Iterator[Outcome]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")  # no fork of a process that has threads and torch loaded
    slots = context.Queue()
    for slot in range(1, workers + 1):
        slots.put(slot)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=init_local_worker, initargs=(slots,)) as pool:
        futures = [pool.submit(run_task, task) for task in tasks]
        for future in as_completed(futures):
            yield future.result()


def _on_dask(tasks: list[Task], scheduler: str) -> Iterator[Outcome]:
    from distributed import Client, as_completed

    with Client(scheduler, timeout="30s") as client:
        # A worker that dies takes its running tasks with it; the scheduler gives them to another (retries).
        futures = [
            client.submit(run_task, task, key=f"grade-{n}-{task.key}", pure=False, retries=3)
            for n, task in enumerate(tasks)
        ]
        for future in as_completed(futures):
            yield future.result()
