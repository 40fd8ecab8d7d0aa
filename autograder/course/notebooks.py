"""Small notebook helpers shared by build, grade and check: nbgrader cell metadata, headers, safe reading."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from autograder.course.config import CourseError

NBGRADER_SCHEMA_VERSION = 3
# The kernel and language metadata exactly as JupyterLab writes them (ipykernel's kernel_info): a notebook
# that differs is rewritten, and shown as modified, as soon as JupyterLab connects it to its kernel. The
# version is the Python that builds the course, the one whose kernel runs the lessons.
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
    "version": ".".join(map(str, sys.version_info[:3])),
}
HEADER_ID = "generated-header"
# JupyterLab (and nbclient) go on running the next cells after an error in a cell with this tag.
RAISES_TAG = "raises-exception"
_HEADING = re.compile(r"#+\s+(.+?)\s*(\(\d+ points?\))?\s*$")


def nbgrader_metadata(
    grade_id: str, *, grade: bool = False, solution: bool = False, locked: bool = False, points: int | None = None
) -> dict:
    """The metadata.nbgrader dict of nbgrader's schema version 3 (points only on graded cells)."""
    meta = {
        "grade": grade,
        "solution": solution,
        "locked": locked,
        "grade_id": grade_id,
        "schema_version": NBGRADER_SCHEMA_VERSION,
    }
    if grade:
        meta["points"] = points
    return meta


# --- nbgrader cell metadata: read only through these, whatever a submission did to it --------------


def nbgrader_of(cell: NotebookNode) -> dict:
    """The cell's nbgrader metadata: {} when it has none, or when a submission mangled it into a non-dict."""
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def grade_id_of(cell: NotebookNode) -> str:
    """The cell's nbgrader grade id, or "" (also for metadata a submission has mangled)."""
    grade_id = nbgrader_of(cell).get("grade_id")
    return grade_id if isinstance(grade_id, str) else ""


def is_graded(cell: NotebookNode) -> bool:
    """A cell nbgrader scores: a test cell of an exercise or a quiz question's answer check."""
    return bool(nbgrader_of(cell).get("grade"))


def is_answer(cell: NotebookNode) -> bool:
    """A cell the student writes in (nbgrader's "solution" cell)."""
    return bool(nbgrader_of(cell).get("solution"))


def points_of(cell: NotebookNode) -> float:
    """The points of a graded cell (0 for any other)."""
    return float(nbgrader_of(cell).get("points") or 0) if is_graded(cell) else 0.0


def generated_header(source: str, how: str = "python -m autograder build") -> NotebookNode:
    """The first cell of every generated notebook: what it was generated from and how to regenerate it."""
    cell = nbformat.v4.new_markdown_cell(
        f"*This notebook is generated from `{source}` by `{how}`. "
        "Work in it freely; the course maintainers edit the source, not this file.*"
    )
    cell.id = HEADER_ID
    return cell


def set_course_metadata(nb: NotebookNode) -> None:
    """Every course notebook runs on the course's Python, described as JupyterLab describes it."""
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = json.loads(json.dumps(LANGUAGE_INFO))


def graded_cell_titles(nb: NotebookNode) -> dict[str, str]:
    """
    Grade id of every graded cell -> the heading of the markdown cell above it, without its points:
    "Exercise 1: attention from queries and keys", "Question 3". Read it from a course-written notebook
    (the release or the instructor's), never from a submission, whose markdown the student can edit.
    """
    titles, heading = {}, None
    for cell in nb.cells:
        match = _HEADING.fullmatch(cell.source.partition("\n")[0]) if cell.cell_type == "markdown" else None
        if match:
            heading = match.group(1)
        elif cell.cell_type == "code" and is_graded(cell):
            titles[grade_id_of(cell)] = heading or grade_id_of(cell)
    return titles


def notebook_title(nb: NotebookNode) -> str | None:
    """The notebook's first top-level heading ("Lesson 00 — A tiny transformer you can look inside")."""
    for cell in nb.cells:
        first = cell.source.partition("\n")[0] if cell.cell_type == "markdown" else ""
        if first.startswith("# "):
            return first[2:].strip()
    return None


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


def read_checkable(path: Path, max_bytes: int) -> NotebookNode:
    """The notebook a student asked `check` to check, or a CourseError saying why it cannot be checked."""
    try:
        nb, _ = read_notebook(path, max_bytes=max_bytes)
    except NotANotebook as error:
        raise CourseError(f"{path} cannot be checked: {error}") from None
    except OSError as error:
        raise CourseError(f"{path} cannot be read: {error.strerror}") from None
    return nb


MAX_CELLS = 20_000  # a lesson has about 100
MAX_DIGITS = 4000  # below Python's int-str limit (4300): a longer integer is read as none
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _bounded_int(digits: str) -> int | None:
    return int(digits) if len(digits.lstrip("-")) <= MAX_DIGITS else None


def _repaired(value: object, fixes: set[str]) -> object:
    """value with every lone surrogate (an escape JSON allows, which no file can hold) replaced by U+FFFD."""
    if isinstance(value, str):
        if _LONE_SURROGATE.search(value):
            fixes.add("surrogate")
            return _LONE_SURROGATE.sub("\ufffd", value)
        return value
    if isinstance(value, list):
        return [_repaired(item, fixes) for item in value]
    if isinstance(value, dict):
        return {_repaired(key, fixes): _repaired(item, fixes) for key, item in value.items()}
    return value


def _raw_notebook(text: str) -> tuple[dict, list[str]]:
    """The JSON of a notebook, repaired where no meaning is lost: (raw, sentences saying what was repaired)."""
    big_numbers = []

    def parse_int(digits: str) -> int | None:
        value = _bounded_int(digits)
        if value is None:
            big_numbers.append(len(digits))
        return value

    try:
        # A JSON number of any length is valid; Python refuses to read one of more than 4300 digits as an int.
        raw = json.loads(text, parse_int=parse_int)
    except json.JSONDecodeError as error:
        raise NotANotebook(
            "not_json",
            f"the file is not valid JSON (line {error.lineno}: {error.msg}); "
            "it was probably damaged while editing or uploading",
        ) from None
    except RecursionError:
        raise NotANotebook("not_json", "the file is not a readable notebook (its JSON is nested too deeply)") from None
    except ValueError as error:  # numbers json refuses (a float literal of thousands of digits)
        raise NotANotebook("not_json", f"the file holds a value that cannot be read ({type(error).__name__})") from None
    fixes: set[str] = set()
    if _SURROGATE_ESCAPE.search(text):  # the only way a lone surrogate gets in: an escape in the JSON text
        raw = _repaired(raw, fixes)
    notes = []
    if big_numbers:
        notes.append(f"{len(big_numbers)} number(s) of more than {MAX_DIGITS} digits were left out of the notebook")
    if fixes:
        notes.append("characters that cannot be saved (lone UTF-16 surrogates) were replaced by the character U+FFFD")
    return raw, notes


def read_notebook(
    path: Path, max_bytes: int | None = None, notes: list[str] | None = None
) -> tuple[NotebookNode, list[str]]:
    """
    Read a notebook a student submitted: (notebook, cell ids that were repeated and have been renamed).
    Every way the file can be broken becomes NotANotebook, with a status and a message; what was repaired
    on the way (a byte-order mark, unsavable characters, an older format) is said in `notes`, if given.
    """
    notes = notes if notes is not None else []
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise NotANotebook(
            "too_large",
            f"the file is {size / 2**20:.1f} MB, more than the {max_bytes / 2**20:g} MB a "
            "notebook may have; clear its outputs (Edit > Clear Outputs of All Cells) and save it again",
        )
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark (some editors on Windows) is dropped
    except UnicodeDecodeError:
        raise NotANotebook("not_a_notebook", "the file is not text (is it really a .ipynb notebook?)") from None
    raw, repairs = _raw_notebook(text)
    notes += repairs
    version = raw.get("nbformat") if isinstance(raw, dict) else None
    if version == 3 and "worksheets" in raw:
        raw = _from_version_3(raw)
        notes.append("the notebook was in the old format 3 and was converted to format 4")
    elif type(version) is int and version != 4:
        raise NotANotebook(
            "not_a_notebook",
            f"the notebook is in format {version}, which cannot be graded; open it in JupyterLab and save it again",
        )
    if not isinstance(raw, dict) or "cells" not in raw or "nbformat" not in raw:
        raise NotANotebook("not_a_notebook", "the file is JSON but not a Jupyter notebook (no 'cells' or 'nbformat')")
    if isinstance(raw["cells"], list) and len(raw["cells"]) > MAX_CELLS:  # validating them would take minutes
        raise NotANotebook(
            "too_large",
            f"the notebook has {len(raw['cells'])} cells, more than the {MAX_CELLS} a notebook may have; "
            "delete the cells you added and save it again",
        )
    try:
        # to_notebook rather than reads: reads would silently give repeated cell ids random new ones.
        if raw["nbformat"] != 4:
            raise ValueError("not format 4")
        nb = nbformat.v4.to_notebook(raw)
        nb.nbformat_minor = max(nb.get("nbformat_minor", 0), 5)  # cell ids exist from 4.5 on
        repeated = unique_cell_ids(nb)
        nbformat.validate(nb)
    except Exception as error:  # nbformat raises several unrelated types for malformed notebooks
        raise NotANotebook("not_a_notebook", f"the notebook is malformed ({type(error).__name__})") from None
    return nb, repeated


def _from_version_3(raw: dict) -> dict:
    """A format 3 notebook as format 4 (nbformat's own conversion), or NotANotebook."""
    from nbformat.v4 import upgrade

    try:
        converted = upgrade(nbformat.from_dict(raw), from_version=3, from_minor=raw.get("nbformat_minor", 0))
        return json.loads(json.dumps(converted))
    except Exception as error:  # a broken format 3 file fails in many ways inside the conversion
        raise NotANotebook(
            "not_a_notebook", f"the format 3 notebook could not be converted ({type(error).__name__})"
        ) from None
