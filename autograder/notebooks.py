"""Small notebook helpers shared by build, grade and check: nbgrader cell metadata, headers, safe reading."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbformat import NotebookNode

NBGRADER_SCHEMA_VERSION = 3
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
HEADER_ID = "generated-header"


def nbgrader_metadata(
    grade_id: str, *, grade: bool = False, solution: bool = False, locked: bool = False, points: int | None = None
) -> dict:
    """The metadata.nbgrader dict of nbgrader's schema version 3 (points only on graded cells)."""
    meta = {"grade": grade, "solution": solution, "locked": locked, "grade_id": grade_id,
            "schema_version": NBGRADER_SCHEMA_VERSION}
    if grade:
        meta["points"] = points
    return meta


def generated_header(source: str, how: str = "python -m autograder build") -> NotebookNode:
    """The first cell of every generated notebook: what it was generated from and how to regenerate it."""
    cell = nbformat.v4.new_markdown_cell(
        f"*This notebook is generated from `{source}` by `{how}`. "
        "Work in it freely; the course maintainers edit the source, not this file.*"
    )
    cell.id = HEADER_ID
    return cell


def with_header(nb: NotebookNode, source: str) -> NotebookNode:
    """A copy of nb whose first cell is the generated header (replacing an older one)."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    nb.cells = [generated_header(source)] + [cell for cell in nb.cells if cell.get("id") != HEADER_ID]
    return nb


def write_notebook(nb: NotebookNode, path: Path) -> None:
    """Write with a trailing newline and stable key order, so regenerating gives no diff."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")


class NotANotebook(Exception):
    """The file exists but is not a readable notebook; str(error) says why, for a student."""


def read_notebook(path: Path) -> NotebookNode:
    """Read a notebook a student submitted, turning every way it can be broken into NotANotebook."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise NotANotebook("the file is not text (is it really a .ipynb notebook?)") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise NotANotebook(f"the file is not valid JSON (line {error.lineno}: {error.msg}); "
                           "it was probably damaged while editing or uploading") from None
    if not isinstance(raw, dict) or "cells" not in raw or "nbformat" not in raw:
        raise NotANotebook("the file is JSON but not a Jupyter notebook (no 'cells' or 'nbformat')")
    try:
        return nbformat.reads(text, as_version=4)
    except Exception as error:  # nbformat raises several unrelated types for malformed notebooks
        raise NotANotebook(f"the notebook is malformed: {error}") from None


def code_cells_with_grade_id(nb: NotebookNode) -> dict[str, NotebookNode]:
    """grade_id -> cell for every nbgrader cell (the last one wins, as in nbgrader's DeduplicateIds)."""
    return {cell.metadata["nbgrader"]["grade_id"]: cell for cell in nb.cells
            if cell.metadata.get("nbgrader", {}).get("grade_id")}
