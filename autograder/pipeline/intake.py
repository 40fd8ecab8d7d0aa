"""
A submissions folder -> the course's submitted/ folder, one clean notebook per (student, assignment).

SUBMISSIONS/<student_id>/<assignment_id>/<notebook>.ipynb is read, never modified, and never
followed through a symbolic link. What can be fixed is fixed in the copy and noted (a renamed
notebook, duplicated cell ids, deleted or edited test cells put back as released, an unreadable
timestamp.txt ignored); what cannot (not JSON, not a notebook, too large, no notebook, a link, an id
nbgrader cannot take) is recorded with a status and graded 0, and the batch goes on. Notes never
repeat a file name the student chose: they go to grades.csv and the feedback.
"""

from __future__ import annotations

import re
import shutil
import stat
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from autograder.course.notebooks import (
    KERNELSPEC,
    NotANotebook,
    grade_id_of,
    is_answer,
    is_graded,
    nbgrader_of,
    read_notebook,
    write_notebook,
)
from autograder.pipeline.preprocessors import RestoreSourceCells

# Ids nbgrader can take safely: it uses them as glob patterns and path parts.
VALID_ID = re.compile(r"[A-Za-z0-9_@+-][A-Za-z0-9_.@+-]{0,63}")
NO_ASSIGNMENT = "-"  # the assignment column of a problem found at the student folder's level
MAX_TIMESTAMP_BYTES = 200
SECRET = "submission_secret.txt"  # nbgrader's exchange: what ties a feedback file to its submission


def shown(name: str) -> str:
    """A file or folder name as it may appear in a report: printable, short, no quotes to escape."""
    return name if VALID_ID.fullmatch(name) else repr(name[:40])


def _kind(path: Path) -> str:
    """ "dir", "file", "link" or "other", without following a link."""
    mode = path.lstat().st_mode
    return "link" if stat.S_ISLNK(mode) else "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"


@dataclass
class Submission:
    student: str
    assignment: str
    path: Path | None  # the clean copy nbgrader grades; None when nothing can be graded
    status: list[str] = field(default_factory=list)  # machine-readable problems; empty means ok
    notes: list[str] = field(default_factory=list)  # one sentence per problem, for people

    def problem(self, status: str, note: str) -> None:
        if status not in self.status:
            self.status.append(status)
        self.notes.append(note)


def _choose_notebook(folder: Path, expected: str, submission: Submission) -> Path | None:
    entries = {p.name: _kind(p) for p in folder.iterdir() if p.name.endswith(".ipynb")}
    links = sorted(name for name, kind in entries.items() if kind in ("link", "other"))
    if links:
        submission.problem(
            "symlink", f"{len(links)} notebook file(s) are links or special files; links are never followed"
        )
        return None
    if entries.get(expected) == "file":
        return folder / expected
    found = sorted(folder / name for name, kind in entries.items() if kind == "file")
    if len(found) == 1:
        submission.problem("renamed", f"the notebook has another name than {expected}; it was graded as {expected}")
        return found[0]
    if not found:
        submission.problem("missing_notebook", f"no notebook in the submission (expected {expected})")
    else:
        submission.problem("missing_notebook", f"{len(found)} notebooks and none named {expected}")
    return None


def _note_duplicates(nb: NotebookNode, repeated_ids: list[str], release: NotebookNode, submission: Submission) -> None:
    # Notes name no id the student wrote (it could be anything); only the course's own grade ids.
    if repeated_ids:
        submission.problem(
            "duplicate_ids", f"{len(repeated_ids)} cell(s) shared an id with another cell; they were given new ids"
        )
    course_ids = {grade_id_of(c) for c in release.cells} - {""}
    counts = Counter(grade_id_of(c) for c in nb.cells)  # one pass: a notebook may hold 100,000s of cells
    for grade_id in sorted(g for g in course_ids if counts[g] > 1):
        submission.problem(
            "duplicate_ids",
            f"the graded cell {grade_id!r} appears {counts[grade_id]} times; only the last one is graded",
        )


def _check_against_release(nb: NotebookNode, release: NotebookNode, submission: Submission) -> None:
    present = {grade_id_of(c): c for c in nb.cells if grade_id_of(c)}
    for cell in release.cells:
        grade_id = grade_id_of(cell)
        if not grade_id or not (is_graded(cell) or is_answer(cell)):
            continue
        kind = "answer" if is_answer(cell) else "test"
        if grade_id not in present:
            submission.problem(
                "cells_restored", f"the {kind} cell {grade_id} was deleted; the released version was put back"
            )
        elif present[grade_id].cell_type != cell.cell_type:
            submission.problem(
                "cells_restored",
                f"the {kind} cell {grade_id} was changed into a {present[grade_id].cell_type} "
                f"cell; it was made a {cell.cell_type} cell again",
            )
        elif nbgrader_of(cell).get("locked") and present[grade_id].source != cell.source:
            submission.problem(
                "cells_restored", f"the test cell {grade_id} was edited; the released version was graded"
            )
    RestoreSourceCells(release).preprocess(nb, {})


def take_in(
    submissions: Path, course_submitted: Path, releases: dict[str, NotebookNode], max_notebook_bytes: int | None = None
) -> tuple[list[Submission], list[str]]:
    """Copy every submission into course_submitted; returns the submissions and warnings about the folder."""
    taken, warnings = [], []
    shutil.rmtree(course_submitted, ignore_errors=True)
    for student_dir in sorted(p for p in submissions.iterdir() if not p.name.startswith(".")):
        student, kind = student_dir.name, _kind(student_dir)
        if kind == "file":
            warnings.append(f"{shown(student)} is a file, not a student folder; ignored")
            continue
        if not VALID_ID.fullmatch(student):
            taken.append(
                _refused(
                    shown(student),
                    "bad_id",
                    f"the folder name {shown(student)} is not a usable "
                    "student id (letters, digits and _ . @ + - only, not starting with a dot)",
                )
            )
            continue
        if kind != "dir":
            taken.append(_refused(student, "symlink", "the student folder is a link; links are never followed"))
            continue
        for assignment_dir in sorted(p for p in student_dir.iterdir() if not p.name.startswith(".")):
            name, kind = assignment_dir.name, _kind(assignment_dir)
            if name not in releases:
                known = ", ".join(sorted(releases))
                warnings.append(f"{student}: {shown(name)} is not an assignment folder; ignored (known: {known})")
                continue
            if kind != "dir":
                taken.append(
                    _refused(
                        student,
                        "symlink",
                        f"{name} is a link or a file, not a folder; links are never followed",
                        assignment=name,
                    )
                )
                continue
            taken.append(
                _take_one_safely(student, assignment_dir, course_submitted, releases[name], max_notebook_bytes)
            )
    return taken, warnings


def _refused(student: str, status: str, note: str, assignment: str = NO_ASSIGNMENT) -> Submission:
    submission = Submission(student, assignment, None)
    submission.problem(status, note)
    return submission


def _copy_timestamp(folder: Path, notebook: Path, target: Path, submission: Submission) -> None:
    """nbgrader's timestamp.txt when the submission has a readable one, else the time the notebook was last saved."""
    from nbgrader.utils import parse_utc

    stamp = folder / "timestamp.txt"
    if stamp.exists() or stamp.is_symlink():
        try:
            if _kind(stamp) != "file" or stamp.stat().st_size > MAX_TIMESTAMP_BYTES:
                raise ValueError("not a small file")
            text = stamp.read_text(encoding="utf-8").strip()
            parse_utc(text)
            target.write_text(text)
            return
        except (ValueError, OverflowError, TypeError, UnicodeDecodeError, OSError):
            submission.notes.append(
                "timestamp.txt could not be read as a date; the time the notebook was saved was used instead"
            )
    saved = datetime.fromtimestamp(notebook.lstat().st_mtime, UTC)
    target.write_text(saved.strftime("%Y-%m-%d %H:%M:%S.%f %Z"))


def _copy_secret(folder: Path, target: Path) -> None:
    """nbgrader's submission_secret.txt, kept so that `nbgrader release_feedback` can return the feedback."""
    secret = folder / SECRET
    try:
        if _kind(secret) == "file" and secret.stat().st_size <= MAX_TIMESTAMP_BYTES:
            text = secret.read_text(encoding="ascii").strip()
            if text and all(c.isascii() and (c.isalnum() or c == "-") for c in text):
                (target / SECRET).write_text(text)
    except (OSError, UnicodeDecodeError):
        pass  # no secret: the feedback is still written; only the exchange cannot return it


def _take_one_safely(
    student: str, folder: Path, course_submitted: Path, release: NotebookNode, max_notebook_bytes: int | None
) -> Submission:
    """_take_one, with any failure it did not foresee kept to this submission: a status naming it, never the batch."""
    try:
        return _take_one(student, folder, course_submitted, release, max_notebook_bytes)
    except Exception as error:  # the bytes are the student's: whatever they trip, the class goes on
        shutil.rmtree(course_submitted / student / folder.name, ignore_errors=True)
        return _refused(
            student,
            "not_a_notebook",
            f"the submission could not be read ({type(error).__name__}); it was not graded",
            assignment=folder.name,
        )


def _take_one(
    student: str, folder: Path, course_submitted: Path, release: NotebookNode, max_notebook_bytes: int | None
) -> Submission:
    assignment = folder.name
    expected = f"{assignment}.ipynb"
    submission = Submission(student, assignment, None)
    chosen = _choose_notebook(folder, expected, submission)
    if chosen is None:
        return submission
    repairs: list[str] = []
    try:
        nb, repeated_ids = read_notebook(chosen, max_bytes=max_notebook_bytes, notes=repairs)
    except NotANotebook as error:
        submission.problem(error.status, f"the notebook cannot be graded: {error}")
        return submission
    submission.notes.extend(repairs)
    _note_duplicates(nb, repeated_ids, release, submission)
    _check_against_release(nb, release, submission)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)  # a student's local kernel name means nothing here
    target = course_submitted / student / assignment / expected
    write_notebook(nbformat.from_dict(nb), target)
    _copy_timestamp(folder, chosen, target.parent / "timestamp.txt", submission)
    _copy_secret(folder, target.parent)
    submission.path = target
    return submission
