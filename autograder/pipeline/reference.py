"""
The instructor's records: what the hidden tests record when they run on the solution.

An exercise is scored by comparing the records of a submission's hidden tests with these
(autograder/pipeline/records.py). They come from running the instructor's notebook, hidden tests included,
through the same pipeline as a submission (in the sandbox, with the model cache writable: it is the
instructor's code). They are cached on disk by the content of the notebook and of the library, so a
class is compared with one run of the solution and a self-learner pays for it once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from autograder.course.config import CourseConfig, CourseError
from autograder.course.files import write_atomically
from autograder.course.notebooks import grade_id_of, is_graded
from autograder.pipeline.preprocessors import stopped
from autograder.pipeline.records import from_payload, record_payloads
from autograder.pipeline.results import References
from autograder.pipeline.running import run_notebook

FORMAT = 1


@lru_cache(maxsize=1)
def _library_digest() -> str:
    """The library's and the grader's source and the torch version, read once per process."""
    import torch

    import attnlab

    digest = hashlib.sha256(f"{FORMAT}:{torch.__version__}".encode())
    for path in sorted(Path(attnlab.__file__).resolve().parent.rglob("*.py")):
        digest.update(path.read_bytes())
    # The grader's own code too: how a hidden test runs (graded apart, say) changes what it records.
    for path in sorted(Path(__file__).resolve().parents[1].rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def fingerprint(source: NotebookNode) -> str:
    """What the records depend on: the notebook's code, the library's source and the torch version."""
    digest = hashlib.sha256(_library_digest().encode())
    digest.update("\n".join(cell.source for cell in source.cells if cell.cell_type == "code").encode())
    return digest.hexdigest()[:20]


def records_of(executed: NotebookNode, name: str) -> dict[str, list[dict]]:
    """grade id -> record payloads of an executed instructor notebook; refuses a solution that fails its tests."""
    found = {}
    for cell in executed.cells:
        if cell.cell_type != "code" or not is_graded(cell):
            continue
        failed = stopped(cell) or any(out.get("output_type") == "error" for out in cell.get("outputs", []))
        if failed:
            raise CourseError(
                f"the instructor's notebook {name} fails its own test cell {grade_id_of(cell)}: "
                "run it in JupyterLab to see why"
            )
        found[grade_id_of(cell)] = record_payloads(cell)
    return found


def as_references(payloads: dict[str, list[dict]]) -> References:
    return {grade_id: [from_payload(p) for p in items] for grade_id, items in payloads.items()}


def cache_file(folder: Path, name: str, source: NotebookNode) -> Path:
    return folder / f"{Path(name).stem}-{fingerprint(source)}.json"


def _load_payloads(path: Path) -> dict[str, list[dict]] | None:
    try:
        payloads = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return payloads if isinstance(payloads, dict) else None


def save(path: Path, payloads: dict[str, list[dict]]) -> None:
    write_atomically(path, json.dumps(payloads))


def instructor_references(course: CourseConfig, source_path: Path, folder: Path, execution) -> References:
    """The records of the instructor's notebook at source_path: from the cache in folder, or by running it."""
    return as_references(instructor_payloads(course, source_path, folder, execution))


def instructor_payloads(course: CourseConfig, source_path: Path, folder: Path, execution) -> dict[str, list[dict]]:
    """instructor_references, as the raw payloads (what a cache or the course folder's key keeps)."""
    source = nbformat.read(source_path, as_version=4)
    path = cache_file(folder, source_path.name, source)
    cached = _load_payloads(path)
    if cached is not None:
        return cached
    with one_process_at_a_time(path):
        cached = _load_payloads(path)  # another process may have run the solution while this one waited
        if cached is not None:
            return cached
        trusted = replace(execution, writable_cache=True)  # the instructor's code may train and cache the models
        executed = run_notebook(course, source, source, source_path.parent, trusted)
        payloads = records_of(executed, source_path.name)
        save(path, payloads)
    return payloads


@contextmanager
def one_process_at_a_time(path: Path) -> Iterator[None]:
    """Held while the records for `path` are computed: two grading runs (or a run and a `check`) that
    need the same solution at the same time run it once; the second waits and reads the first's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl  # Linux and macOS; a self-learner's `check` on Windows has none
    except ImportError:
        yield  # unlocked, two runs may both compute the records: the same ones, each written whole
        return
    with path.with_name(path.name + ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        yield


def references_cache(course: CourseConfig) -> Path:
    """Beside the model cache, never inside it: the sandbox sees the model cache, and these hold the answers.
    Refuses (CourseError) a model cache that holds them anyway, or the course (ATTNLAB_CACHE_DIR set to a
    folder above its default place)."""
    from attnlab.settings import cache_dir
    from autograder.sandbox.bwrap import require_safe_model_cache

    require_safe_model_cache(course.root)
    models = cache_dir()
    return models.with_name(models.name + "-grader") / "reference"
