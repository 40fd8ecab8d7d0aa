"""
The hidden tests of a test cell, read from its source: where they start, which library names they
declare withheld (`# graded without: ...`, autograder/pipeline/guards.py), the part a student sees,
and a notebook without them (what a kernel may read of its own notebook).

The student's kernel (RobustExecute) and the kernel apart (GradeApart) both read cells this way, so
this module sits below both of them.
"""

from __future__ import annotations

import copy
import re

from nbformat import NotebookNode

from autograder.course.notebooks import is_answer, is_graded

HIDDEN_START, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
DECLARATION = re.compile(r"^\s*#\s*graded without:\s*(.+)$")


def hidden_from(source: str) -> int | None:
    """The line number (1-based) of the hidden tests' start marker, or None."""
    return next((n for n, line in enumerate(source.splitlines(), 1) if line.strip() == HIDDEN_START), None)


def withheld_names(source: str) -> list[str]:
    """The library names a test cell's hidden tests declare withheld (empty: not graded apart)."""
    start = hidden_from(source)
    if start is None:
        return []
    names = []
    for line in source.splitlines()[start:]:
        match = DECLARATION.match(line)
        if match:
            names += [name.strip() for name in match.group(1).split(",") if name.strip()]
    return names


def is_test_cell(cell: NotebookNode) -> bool:
    return cell.cell_type == "code" and is_graded(cell) and not is_answer(cell)


def visible_part(source: str) -> str:
    """A test cell's source before its hidden tests (all of it when it has none)."""
    start = hidden_from(source)
    return source if start is None else "".join(source.splitlines(keepends=True)[: start - 1])


def without_hidden_tests(nb: NotebookNode) -> NotebookNode:
    """A copy of nb as the student may see it: no hidden test (they hold the key), no output."""
    shown = copy.deepcopy(nb)
    for cell in shown.cells:
        kept, hidden = [], False
        for line in cell.source.splitlines(keepends=True):
            if line.strip() == HIDDEN_START:
                hidden = True
            elif hidden and line.strip() == HIDDEN_END:
                hidden = False
            elif not hidden:
                kept.append(line)
        cell.source = "".join(kept)
        if cell.cell_type == "code":
            cell.outputs = []
    return shown
