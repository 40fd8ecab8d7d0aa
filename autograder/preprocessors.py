"""
Our additions to nbgrader's autograde pipeline, each one step, like nbgrader's own preprocessors.

PinChoiceAnswers   grade a multiple-choice answer from the letter written in its answer cell
RobustExecute      nbgrader's Execute, but a cell that hangs past the timeout (even ignoring
                   interrupts) or kills the kernel no longer fails the whole submission: the kernel
                   is restarted, the cells that ran before are run again, and grading goes on; a
                   cell interrupted at the timeout is marked as stopped, so the student learns why
TruncateOutputs    cap the characters of every output, so a runaway print cannot flood the gradebook
RestoreSourceCells for self-checks without a gradebook: put the instructor's test cells (hidden
                   tests included) back in place, as nbgrader's OverwriteCells does from the gradebook

SANITIZE and AUTOGRADE are the lists given to nbgrader's Autograde converter.
"""

from __future__ import annotations

import ast
import copy
import re
import subprocess
from dataclasses import dataclass

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbformat import NotebookNode
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearOutput,
    DeduplicateIds,
    Execute,
    IgnorePattern,
    LimitOutput,
    NbGraderPreprocessor,
    OverwriteCells,
    OverwriteKernelspec,
    SaveAutoGrades,
)
from traitlets import Integer

ANSWER_CELL = re.compile(r"answer_(\d+)")
TEST_CELL = re.compile(r"q(\d+)")
PIN_MARK = "# pinned by the autograder"
# The kernel process's own stderr carries only start-up noise ("running over TCP without
# encryption"); what a cell prints reaches the notebook through the messaging channels instead.
KERNEL_OUTPUT = {"stderr": subprocess.DEVNULL}
TRUNCATED = "output truncated by the autograder"
# IgnorePattern's pattern for "every stderr stream": a test cell's score must not depend on warnings.
ALL_STDERR = r"[\s\S]"
STOPPED = "CellTimeoutError"
DIED = "DeadKernelError"


def _grade_id(cell: NotebookNode) -> str:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")


@dataclass(frozen=True)
class WrittenAnswer:
    """What an answer cell assigns to ANSWER_N: a string literal, or the reason there is none."""

    literal: str | None
    problem: str | None = None  # None when literal is set, or when the answer is still None


def written_answer(source: str, variable: str) -> WrittenAnswer:
    """The last top-level `variable = "..."` in the cell, read without running anything."""
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        return WrittenAnswer(None, f"the answer cell has a syntax error (line {error.lineno}); write {variable} = \"B\"")
    last = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == variable for t in node.targets):
            last = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == variable:
            last = node.value
    if last is None or (isinstance(last, ast.Constant) and last.value is None):
        return WrittenAnswer(None)
    if isinstance(last, ast.Constant) and isinstance(last.value, str):
        return WrittenAnswer(last.value)
    return WrittenAnswer(None, f"{variable} must be a letter in quotes (A, B, C or D); "
                               "an answer computed when the notebook runs is not graded")


def pin_line(variable: str, answer: WrittenAnswer | None) -> str:
    if answer is None:
        return f'raise ValueError("the answer cell of {variable} is missing from the notebook")  {PIN_MARK}'
    if answer.problem:
        return f"raise ValueError({answer.problem!r})  {PIN_MARK}"
    return f"{variable} = {answer.literal!r}  {PIN_MARK}"


class PinChoiceAnswers(NbGraderPreprocessor):
    """
    Before a quiz test cell `qN` runs, set ANSWER_N to the literal written in answer cell `answer_N`.
    Whatever else the notebook does at run time (an object equal to everything, an answer read from
    a file, a later cell rebinding the name) cannot change the graded value.
    """

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        answers = {}
        for cell in nb.cells:
            match = ANSWER_CELL.fullmatch(_grade_id(cell))
            if match and cell.cell_type == "code":
                answers[match.group(1)] = written_answer(cell.source, f"ANSWER_{match.group(1)}")
        for cell in nb.cells:
            match = TEST_CELL.fullmatch(_grade_id(cell))
            if match and cell.cell_type == "code" and PIN_MARK not in cell.source:
                number = match.group(1)
                cell.source = pin_line(f"ANSWER_{number}", answers.get(number)) + "\n" + cell.source
        return nb, resources


class RobustExecute(Execute):
    """Execute every cell; survive cells that hang or kill the kernel (see the module docstring)."""

    def preprocess(self, nb: NotebookNode, resources=None, km=None):
        # nbconvert's ExecutePreprocessor.preprocess, with the per-cell loop made to recover.
        from nbclient import NotebookClient

        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self.shutdown_kernel = "immediate"  # a hung kernel will not answer a polite shutdown
        with self.setup_kernel(**KERNEL_OUTPUT):
            info = self.wait_for_reply(self.kc.kernel_info())
            self.nb.metadata["language_info"] = info["content"]["language_info"]
            finished: list[int] = []  # cells that ran to completion, to replay after a restart
            for index, cell in enumerate(self.nb.cells):
                self._timed_out = False
                try:
                    self.preprocess_cell(cell, resources, index)
                except (CellTimeoutError, DeadKernelError) as error:
                    died = isinstance(error, DeadKernelError)
                    self._record_stop(cell, DIED if died else STOPPED, (
                        "the kernel died while running this cell (os._exit, a crash or running out of memory); "
                        "it was restarted and the cells before this one were run again" if died else
                        f"this cell did not finish within {self.timeout} s and ignored the interrupt; it was "
                        "stopped, the kernel restarted and the cells before it run again"))
                    self._restart_and_replay(finished)
                    continue
                if self._timed_out:  # interrupted at the timeout, the kernel and its variables intact
                    self._record_stop(cell, STOPPED, f"this cell did not finish within {self.timeout} s and was "
                                                     "interrupted; the cells after it still ran")
                else:
                    finished.append(index)
        self.set_widgets_metadata()
        return self.nb, self.resources

    async def _async_handle_timeout(self, timeout: int, cell: NotebookNode | None = None):
        # nbgrader interrupts a cell at the timeout and goes on; remember it, so the student is told why.
        self._timed_out = True
        return await super()._async_handle_timeout(timeout, cell)

    def _record_stop(self, cell: NotebookNode, ename: str, evalue: str) -> None:
        self.log.warning("%s: %s", ename, evalue)
        cell.outputs = [o for o in cell.get("outputs", []) if o.get("ename") not in (STOPPED, "KeyboardInterrupt")]
        cell.outputs.append(NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"]))

    def _restart_and_replay(self, finished: list[int]) -> None:
        self._cleanup_kernel()
        self.km, self.kc = None, None
        self.km = self.create_kernel_manager()
        self.start_new_kernel(**KERNEL_OUTPUT)
        self.start_new_kernel_client()
        for index in finished:
            # Replayed on a copy: the graded outputs stay those of the first run.
            try:
                self.execute_cell(copy.deepcopy(self.nb.cells[index]), index, store_history=False)
            except (CellTimeoutError, DeadKernelError):
                self.log.warning("cell %d failed when replayed; the remaining cells run without it", index)
                break


class TruncateOutputs(NbGraderPreprocessor):
    """Keep at most max_chars characters of each text output (stream, text data, error value), and drop
    an image or other binary output larger than max_data_chars (a lesson's figure is 20-150 kB)."""

    max_chars = Integer(20000, help="characters kept per text output").tag(config=True)
    max_data_chars = Integer(1_000_000, help="largest image or other binary output kept").tag(config=True)

    def _cut(self, text: str) -> str:
        if len(text) <= self.max_chars:
            return text
        return text[: self.max_chars] + f"\n... {TRUNCATED} ({len(text)} characters) ..."

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                output.text = self._cut(output.text)
            elif output.output_type == "error":
                output.evalue = self._cut(output.evalue)
            elif "data" in output:
                for mime in list(output.data):
                    value = output.data[mime]
                    text = value if isinstance(value, str) else "".join(value) if isinstance(value, list) else str(value)
                    if mime.startswith("text/") and len(text) > self.max_chars:
                        output.data[mime] = self._cut(text)
                    elif not mime.startswith("text/") and len(text) > self.max_data_chars:
                        del output.data[mime]
                if not output.data:
                    output.data["text/plain"] = "[output removed by the autograder: too large]"
        return cell, resources


class RestoreSourceCells(NbGraderPreprocessor):
    """Replace locked and graded cells by the instructor's version; add back the ones that are missing."""

    def __init__(self, source: NotebookNode, **kwargs) -> None:
        super().__init__(**kwargs)
        self.source = source

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        source_cells = [c for c in self.source.cells if _grade_id(c)]
        submitted = {_grade_id(c): c for c in nb.cells if _grade_id(c)}
        cells = list(nb.cells)
        previous = None
        for original in source_cells:
            grade_id = _grade_id(original)
            meta = original.metadata["nbgrader"]
            if grade_id in submitted:
                cell = submitted[grade_id]
                if meta.get("locked") or meta.get("grade") and not meta.get("solution"):
                    cell.source, cell.cell_type = original.source, original.cell_type
                    cell.metadata["nbgrader"] = copy.deepcopy(meta)
            else:
                cell = copy.deepcopy(original)
                if cell.cell_type == "code":
                    cell.outputs, cell.execution_count = [], None
                if meta.get("solution"):  # never hand the learner the instructor's solution
                    cell.source = "# (this answer cell was missing from the notebook)"
                at = next(i for i, c in enumerate(cells) if c is previous) + 1 if previous is not None else 0
                cells.insert(at, cell)
            previous = cell
        nb.cells = cells
        return nb, resources


SANITIZE = [ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, PinChoiceAnswers, CheckCellMetadata]
AUTOGRADE = [
    RobustExecute,
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    TruncateOutputs,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]
