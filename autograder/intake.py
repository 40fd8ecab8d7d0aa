"""
A submissions folder -> the course's submitted/ folder, one clean notebook per (student, assignment).

SUBMISSIONS/<student_id>/<assignment_id>/<notebook>.ipynb is read, never modified. What can be
fixed is fixed in the copy and noted (a renamed notebook, duplicated cell ids, deleted or edited
test cells put back as released); what cannot (not JSON, not a notebook, no notebook) is recorded
with a status and graded 0, and the batch goes on.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from autograder.notebooks import KERNELSPEC, NotANotebook, read_notebook, write_notebook
from autograder.preprocessors import RestoreSourceCells


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
    if (folder / expected).is_file():
        return folder / expected
    found = sorted(p for p in folder.glob("*.ipynb") if p.is_file())
    if len(found) == 1:
        submission.problem("renamed", f"the notebook is named {found[0].name}, not {expected}; it was graded as {expected}")
        return found[0]
    if not found:
        submission.problem("missing_notebook", f"no notebook in the submission (expected {expected})")
    else:
        names = ", ".join(p.name for p in found)
        submission.problem("missing_notebook", f"several notebooks ({names}) and none named {expected}")
    return None


def _note_duplicates(nb: NotebookNode, repeated_ids: list[str], submission: Submission) -> None:
    for cell_id in repeated_ids:
        submission.problem("duplicate_ids", f"two cells had the id {cell_id!r}; one was given a new id")
    grade_ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")]
    for grade_id in sorted({g for g in grade_ids if grade_ids.count(g) > 1}):
        submission.problem("duplicate_ids", f"the graded cell {grade_id!r} appears {grade_ids.count(grade_id)} times; "
                                            "only the last one is graded")


def _check_against_release(nb: NotebookNode, release: NotebookNode, submission: Submission) -> None:
    present = {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")}
    for cell in release.cells:
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if not grade_id or not (meta.get("grade") or meta.get("solution")):
            continue
        if grade_id not in present:
            kind = "answer" if meta.get("solution") else "test"
            submission.problem("cells_restored", f"the {kind} cell {grade_id} was deleted; the released version was put back")
        elif meta.get("locked") and present[grade_id].source != cell.source:
            submission.problem("cells_restored", f"the test cell {grade_id} was edited; the released version was graded")
    RestoreSourceCells(release).preprocess(nb, {})


def take_in(submissions: Path, course_submitted: Path, releases: dict[str, NotebookNode]) -> tuple[list[Submission], list[str]]:
    """Copy every submission into course_submitted; returns the submissions and warnings about the folder."""
    taken, warnings = [], []
    shutil.rmtree(course_submitted, ignore_errors=True)
    for student_dir in sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for assignment_dir in sorted(p for p in student_dir.iterdir() if not p.name.startswith(".")):
            if not assignment_dir.is_dir():
                warnings.append(f"{student_dir.name}: {assignment_dir.name} is not inside an assignment folder; ignored")
                continue
            if assignment_dir.name not in releases:
                known = ", ".join(sorted(releases))
                warnings.append(f"{student_dir.name}: unknown assignment {assignment_dir.name!r} ignored (known: {known})")
                continue
            taken.append(_take_one(student_dir.name, assignment_dir, course_submitted, releases[assignment_dir.name]))
    return taken, warnings


def _copy_timestamp(folder: Path, notebook: Path, target: Path) -> None:
    """nbgrader's timestamp.txt when the submission has one, else the time the notebook was last saved."""
    if (folder / "timestamp.txt").is_file():
        shutil.copy(folder / "timestamp.txt", target)
    else:
        saved = datetime.fromtimestamp(notebook.stat().st_mtime, timezone.utc)
        target.write_text(saved.strftime("%Y-%m-%d %H:%M:%S.%f %Z"))


def _take_one(student: str, folder: Path, course_submitted: Path, release: NotebookNode) -> Submission:
    assignment = folder.name
    expected = f"{assignment}.ipynb"
    submission = Submission(student, assignment, None)
    chosen = _choose_notebook(folder, expected, submission)
    if chosen is None:
        return submission
    try:
        nb, repeated_ids = read_notebook(chosen)
    except NotANotebook as error:
        submission.problem(error.status, f"{chosen.name} cannot be graded: {error}")
        return submission
    _note_duplicates(nb, repeated_ids, submission)
    _check_against_release(nb, release, submission)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)  # a student's local kernel name means nothing here
    target = course_submitted / student / assignment / expected
    write_notebook(nbformat.from_dict(nb), target)
    _copy_timestamp(folder, chosen, target.parent / "timestamp.txt")
    submission.path = target
    return submission
