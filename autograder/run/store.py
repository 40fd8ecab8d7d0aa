"""
What lets a second grading run into the same OUT regrade only what changed, and keeps two runs apart:

    OUT/.grading.lock                       one run per OUT at a time (OutLock)
    OUT/results/<student>/<assignment>.json a submission's verdicts, kept with the fingerprint of all its
                                            grade depends on: its files, the course, the settings, the
                                            grader's own code; a run keeps a stored result whose
                                            fingerprint still matches and that the gradebook still counts
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

from autograder.course.config import PACKAGE_DIR, CourseError
from autograder.course.files import write_atomically
from autograder.outputs.grades import Graded
from autograder.pipeline.intake import Submission
from autograder.pipeline.results import Verdict

RESULTS_FORMAT = 1
MANUAL = "manual"  # a cell the instructor scored by hand
GRADING_FAILED = "grading_failed"


class OutLock:
    """One grading run per OUT at a time: a second one refuses at once with a clear message."""

    def __init__(self, out: Path) -> None:
        self.path = out / ".grading.lock"

    def __enter__(self) -> OutLock:
        self.file = self.path.open("a+")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.seek(0)
            holder = self.file.read().strip() or "another process"
            self.file.close()
            raise CourseError(
                f"{self.path.parent} is being graded by {holder}; wait until it finishes, "
                "or grade into another --out folder"
            ) from None
        self.file.seek(0)
        self.file.truncate()
        self.file.write(f"process {os.getpid()}")
        self.file.flush()
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()  # closing releases the lock


def result_file(out: Path, submission: Submission) -> Path:
    return out / "results" / submission.student / f"{submission.assignment}.json"


@lru_cache(maxsize=4)
def grader_digest(package: Path = PACKAGE_DIR) -> str:
    """The grader's own code and templates: a change to how grades are made regrades everything."""
    digest = hashlib.sha256()
    for path in sorted([*package.rglob("*.py"), *package.glob("outputs/templates/**/*")]):
        if path.is_file():
            digest.update(f"{path.relative_to(package)}\n".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def fingerprint(submission: Submission, task_inputs: str) -> str:
    """What a submission's grade depends on: its clean copy, its timestamp, the course, the settings and the
    grader's own code."""
    digest = hashlib.sha256(
        f"{RESULTS_FORMAT}\n{grader_digest()}\n{task_inputs}\n{submission.status}\n{submission.notes}".encode()
    )
    if submission.path is not None:
        digest.update(submission.path.read_bytes())
        digest.update((submission.path.parent / "timestamp.txt").read_bytes())
    return digest.hexdigest()


def store(out: Path, item: Graded, fingerprint: str) -> None:
    data = {
        "fingerprint": fingerprint,
        "status": item.submission.status,
        "notes": item.submission.notes,
        "seconds": item.seconds,
        "verdicts": [asdict(v) for v in item.verdicts],
    }
    write_atomically(result_file(out, item.submission), json.dumps(data, indent=1))


def stored(out: Path, submission: Submission, fingerprint: str) -> Graded | None:
    try:
        data = json.loads(result_file(out, submission).read_text(encoding="utf-8"))
        # A grading failure is the grader's, not the submission's: it is never kept, whatever the fingerprint.
        if data["fingerprint"] != fingerprint or GRADING_FAILED in data["status"]:
            return None
        submission.status, submission.notes = list(data["status"]), list(data["notes"])
        return Graded(submission, [Verdict(**v) for v in data["verdicts"]], float(data["seconds"]), regraded=False)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def gradebook_scores(gradebook) -> dict[tuple[str, str], dict[str, float | str | None]]:
    """(student, assignment) -> {graded cell: its automatic score, or MANUAL} of every submission in the gradebook."""
    from nbgrader.api import SubmittedAssignment

    found: dict[tuple[str, str], dict[str, float | str | None]] = {}
    for submitted in gradebook.db.query(SubmittedAssignment):
        cells = found.setdefault((submitted.student_id, submitted.assignment.name), {})
        for notebook in submitted.notebooks:
            for cell in notebook.grades:
                # A cell an instructor scored by hand counts that score, whatever the automatic one: not compared.
                cells[cell.name] = cell.auto_score if cell.manual_score is None else MANUAL
    return found


def agrees(stored: Graded, in_gradebook: dict[tuple[str, str], dict[str, float | str | None]]) -> bool:
    """Whether the gradebook still counts the scores this command stored for the submission."""
    if stored.submission.path is None:
        return True  # nothing of it was written to the gradebook
    scores = in_gradebook.get((stored.submission.student, stored.submission.assignment), {})
    return all(scores.get(v.question) in (v.score, MANUAL) for v in stored.verdicts)
