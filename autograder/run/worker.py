"""
The unit of grading work: one submission, run through the grading pipeline in a sandbox of its own.

A worker runs the half of the grading pipeline that runs student code (autograder/pipeline/steps.py); the
other half, which holds the answer key and decides the scores, runs in the grading process. A Task is
plain data (the submission and the instructor's notebook as JSON text, the pipeline's settings), so
the same task runs in this process, in a local process pool (`grade --workers N`) or on
a Dask worker on another machine (`grade --scheduler ADDRESS`), and gives the same executed notebook.
Workers never touch OUT or the gradebook: the grading process decides scores and writes everything.

A local worker process that dies (killed, out of memory) breaks its pool, and every task the pool had
not finished comes back broken: each is run once more in a process of its own, so only a submission that
kills its worker again fails (`grading_failed`), never the run. Local workers keep their temporary
folders (kernels' sockets, tasks) in one folder of the run, removed at its end whatever died.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

WORKER_DIED = "the grading process died"  # an Outcome's failure when its worker died twice
REFUSED = "refused"  # an Outcome's failure when a Dask worker is not set up to grade (worker_refusal)
KERNEL_NOT_STARTED = "the notebook's kernel did not start"  # the worker's sandbox or Python is broken, not the notebook


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
    from autograder.sandbox.bwrap import process_slot

    return process_slot()


def init_local_worker(folder: str) -> None:
    """ProcessPoolExecutor initializer: take a grading slot of this machine's own, keep temporary files in folder."""
    tempfile.tempdir = folder
    _slot()


def worker_refusal(address: str | None) -> str | None:
    """Why this process must not grade as a Dask worker at `address`, or None. A worker holds the hidden
    tests of every task it runs; it must be reached over TLS only and must not see the answer key."""
    import attnlab

    if address is not None and not address.startswith("tls://"):
        return f"it listens at {address}, not over TLS (tls://): anyone who reaches it could run code on it"
    if os.geteuid() == 0:
        return "it runs as root: run Dask workers as an unprivileged user (their sandboxes have that user's rights)"
    solutions = Path(attnlab.__file__).resolve().parents[1] / "solutions"
    if solutions.is_dir() and os.access(solutions, os.R_OK):
        return f"it can read the answer key ({solutions}): run workers as a user, or from a copy, without solutions/"
    return None


def _dask_address() -> str | None:
    """The address of the Dask worker running this task, or None outside Dask."""
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return None


def run_task(task: Task) -> Outcome:
    """Run one submission; every failure is contained in the Outcome."""
    import nbformat

    from autograder.pipeline.execution import execute
    from autograder.pipeline.nbgrader_api import config_from_settings

    start = time.perf_counter()
    address = _dask_address()
    if address is not None:
        why = worker_refusal(address)
        if why is not None:
            return Outcome(task.key, None, f"{REFUSED}: {why}", 0.0, _worker_name())
    settings = {section: dict(values) for section, values in task.settings.items()}
    settings["RobustExecute"]["sandbox_slot"] = _slot()
    try:
        with tempfile.TemporaryDirectory(prefix="attnlab-task-") as folder:
            nb = nbformat.reads(task.notebook, as_version=4)
            source = nbformat.reads(task.source, as_version=4)
            executed = execute(nb, source, folder, config_from_settings(settings))
        return Outcome(task.key, nbformat.writes(executed), None, time.perf_counter() - start, _worker_name())
    except Exception as error:  # contained: this submission's status (its text is not kept: it may be the student's)
        from autograder.pipeline.running import kernel_never_started

        failure = KERNEL_NOT_STARTED if kernel_never_started(error) else type(error).__name__
        return Outcome(task.key, None, failure, time.perf_counter() - start, _worker_name())


def _worker_name() -> str:
    return f"{os.uname().nodename}:{os.getpid()}"


def run_all(
    tasks: list[Task], workers: int = 1, scheduler: str | None = None, runner: Callable[[Task], Outcome] = run_task
) -> Iterator[Outcome]:
    """Every task's Outcome, in the order they finish: here, in a local pool, or on a Dask cluster.
    runner is what runs one task (run_task; a test passes one that makes its worker die)."""
    if scheduler:
        yield from _on_dask(tasks, scheduler)
    elif workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            yield runner(task)
    else:
        yield from _in_pool(tasks, workers, runner)


def _in_pool(tasks: list[Task], workers: int, runner: Callable[[Task], Outcome]) -> Iterator[Outcome]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("spawn")  # no fork of a process that has threads and torch loaded
    folder = tempfile.mkdtemp(prefix="attnlab-run-")

    def pool(size: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(size, mp_context=context, initializer=init_local_worker, initargs=(folder,))

    def alone(task: Task) -> Outcome:
        with pool(1) as own:
            try:
                return own.submit(runner, task).result()
            except BrokenProcessPool:
                return Outcome(task.key, None, WORKER_DIED, 0.0, "")

    try:
        broken = []
        with pool(workers) as shared:
            futures = {}
            for task in tasks:
                try:
                    futures[shared.submit(runner, task)] = task
                except BrokenProcessPool:  # broken while the tasks were being handed out
                    broken.append(task)
            for future in as_completed(futures):
                try:
                    outcome = future.result()
                except BrokenProcessPool:
                    broken.append(futures[future])
                    continue
                yield outcome
        if broken:
            with ThreadPoolExecutor(workers) as threads:
                yield from (f.result() for f in as_completed([threads.submit(alone, task) for task in broken]))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def dask_security():
    """The grader's TLS credentials for the cluster, from Dask's own configuration (README, Dask), or a
    CourseError: a cluster reached without them runs anyone's code next to the hidden tests."""
    from distributed.security import Security

    from autograder.course.config import CourseError

    security = Security()  # distributed.comm.tls.{ca-file, client.cert, client.key}, comm.require-encryption
    if not (security.require_encryption and security.tls_ca_file and security.tls_client_cert):
        raise CourseError(
            "the Dask cluster must be reached over TLS with certificates: set Dask's "
            "distributed.comm.require-encryption, distributed.comm.tls.ca-file, .tls.client.cert and "
            ".tls.client.key (README, 'A Dask cluster')"
        )
    return security


def _on_dask(tasks: list[Task], scheduler: str) -> Iterator[Outcome]:
    from distributed import Client, as_completed

    from autograder.course.config import CourseError

    if not scheduler.startswith("tls://"):
        raise CourseError(f"--scheduler {scheduler}: the cluster must be reached over TLS (tls://HOST:PORT)")
    with Client(scheduler, timeout="30s", security=dask_security()) as client:
        # A worker that dies takes its running tasks with it; the scheduler gives them to another (retries).
        futures = [
            client.submit(run_task, task, key=f"grade-{n}-{task.key}", pure=False, retries=3)
            for n, task in enumerate(tasks)
        ]
        for future in as_completed(futures):
            outcome = future.result()
            if outcome.failure and outcome.failure.startswith(REFUSED):
                raise CourseError(
                    f"a Dask worker ({outcome.worker}) refused to grade: {outcome.failure[len(REFUSED) + 2 :]}"
                )
            yield outcome
