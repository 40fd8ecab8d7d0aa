"""Small notebook helpers shared by build, grade and check: nbgrader cell metadata, headers, safe reading."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbformat.v4.rwbase import rejoin_lines

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
    nb.metadata["kernelspec"] = dict(KERNELSPEC)  # every course notebook runs on the course's Python
    nb.cells = [generated_header(source)] + [cell for cell in nb.cells if cell.get("id") != HEADER_ID]
    return nb


def write_notebook(nb: NotebookNode, path: Path) -> None:
    """Write with a trailing newline and stable key order, so regenerating gives no diff."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")


class NotANotebook(Exception):
    """The file exists but is not a readable notebook; str(error) says why, for a student."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status  # "not_json", "not_a_notebook" or "too_large"


def unique_cell_ids(nb: NotebookNode) -> list[str]:
    """Give every cell a unique id (nbformat would pick random ones); returns the ids that were repeated."""
    seen: set[str] = set()
    repeated = []
    for index, cell in enumerate(nb.cells):
        cell_id = cell.get("id")
        if cell_id is not None and cell_id in seen:
            repeated.append(cell_id)
        if cell_id is None or cell_id in seen:
            cell_id = f"cell-{index}"
            while cell_id in seen:
                cell_id += "-x"
            cell.id = cell_id
        seen.add(cell_id)
    return repeated


def read_notebook(path: Path, max_bytes: int | None = None) -> tuple[NotebookNode, list[str]]:
    """
    Read a notebook a student submitted: (notebook, cell ids that were repeated and have been renamed).
    Every way the file can be broken becomes NotANotebook, with a status and a message.
    """
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise NotANotebook("too_large", f"the file is {size / 2**20:.1f} MB, more than the {max_bytes / 2**20:g} MB a "
                           "notebook may have; clear its outputs (Edit > Clear Outputs of All Cells) and save it again")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise NotANotebook("not_a_notebook", "the file is not text (is it really a .ipynb notebook?)") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise NotANotebook("not_json", f"the file is not valid JSON (line {error.lineno}: {error.msg}); "
                           "it was probably damaged while editing or uploading") from None
    except RecursionError:
        raise NotANotebook("not_json", "the file is not a readable notebook (its JSON is nested too deeply)") from None
    if not isinstance(raw, dict) or "cells" not in raw or "nbformat" not in raw:
        raise NotANotebook("not_a_notebook", "the file is JSON but not a Jupyter notebook (no 'cells' or 'nbformat')")
    try:
        # from_dict rather than reads: reads would silently give repeated cell ids random new ones.
        nb = rejoin_lines(nbformat.from_dict(raw)) if raw["nbformat"] == 4 else nbformat.reads(text, as_version=4)
        nb.nbformat_minor = max(nb.get("nbformat_minor", 0), 5)  # cell ids exist from 4.5 on
        repeated = unique_cell_ids(nb)
        nbformat.validate(nb)
    except Exception as error:  # nbformat raises several unrelated types for malformed notebooks
        raise NotANotebook("not_a_notebook", f"the notebook is malformed ({type(error).__name__})") from None
    return nb, repeated
