"""
Our additions to nbgrader's autograde pipeline, each one step, like nbgrader's own preprocessors.

PinChoiceAnswers   grade a multiple-choice answer from the letter written in its answer cell
RobustExecute      nbgrader's Execute, but a cell that hangs past the timeout (even ignoring
                   interrupts) or kills the kernel no longer fails the whole submission: the kernel
                   is restarted, the cells that ran before are run again, and grading goes on; a
                   cell interrupted at the timeout is marked as stopped, so the student learns why
TruncateOutputs    cap the characters of every output, so a runaway print cannot flood the gradebook
CourseStubs        nbgrader's ClearSolutions with the course's stubs (quiz answers, "not done yet" exercises)
RestoreSourceCells for self-checks without a gradebook: put the instructor's test cells (hidden
                   tests included) back in place, as nbgrader's OverwriteCells does from the gradebook
GradeApart         (autograder/pipeline/guards.py) run the hidden tests that forbid library shortcuts again, in
                   a fresh sandboxed kernel whose library lacks them; their records replace the cell's

The order in which nbgrader runs them (with nbgrader's own steps and the step that decides the scores,
autograder/pipeline/judge.py) is autograder/pipeline/steps.py.
"""

from __future__ import annotations

import ast
import copy
import json
import time
from dataclasses import dataclass

import nbformat
from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import ClearSolutions, Execute, NbGraderPreprocessor
from traitlets import Bool, Integer

from attnlab.protocol import RECORD_MIME
from attnlab.selfcheck import forgotten_quotes
from autograder.course.config import SandboxLimits
from autograder.course.notebooks import grade_id_of, is_graded, nbgrader_of
from autograder.course.quiz_notebook import ANSWER_STUB
from autograder.course.quizbank import answer_cell_number, answer_variable, graded_cell_number
from autograder.course.student_cells import EXERCISE_STUB
from autograder.pipeline.hidden import is_test_cell, visible_part, withheld_names, without_hidden_tests
from autograder.sandbox.bwrap import Sandbox, process_slot
from autograder.sandbox.kernel import SandboxedKernelManager

PIN_MARK = "# pinned by the autograder"
TRUNCATED = "output truncated by the autograder"
# IgnorePattern's pattern for "every stderr stream": a test cell's score must not depend on warnings.
ALL_STDERR = r"[\s\S]"
# Statuses of a cell the grader had to stop, and the error name the student sees for each.
STOPPED, DIED, BUDGET = "timeout", "kernel_died", "time_budget"
STOP_NAMES = {STOPPED: "CellTimeoutError", DIED: "DeadKernelError", BUDGET: "TimeBudgetExceeded"}


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
        return WrittenAnswer(None, f'the answer cell has a syntax error (line {error.lineno}); write {variable} = "B"')
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
    if isinstance(last, ast.Name) and (said := forgotten_quotes(variable, last.id)):
        return WrittenAnswer(None, said)  # `ANSWER_7 = D`: the notebook's own check says the same
    return WrittenAnswer(
        None,
        f"{variable} must be a letter in quotes (A, B, C or D); "
        "an answer computed when the notebook runs is not graded",
    )


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
            number = answer_cell_number(grade_id_of(cell))
            if number is not None and cell.cell_type == "code":
                answers[number] = written_answer(cell.source, answer_variable(number))
        for cell in nb.cells:
            number = graded_cell_number(grade_id_of(cell))
            if number is not None and cell.cell_type == "code" and PIN_MARK not in cell.source:
                cell.source = pin_line(answer_variable(number), answers.get(number)) + "\n" + cell.source
        return nb, resources


class RobustExecute(Execute):
    """
    Execute every cell in a sandboxed kernel (autograder/sandbox/kernel.py); survive cells that hang or kill the
    kernel; stop the whole notebook when its time budget is spent. Uses nbclient's public interface:
    `preprocess_cell` per cell, `execute_cell`, and the kernel manager's `restart_kernel`.

    What happened to a cell is written to its metadata by the grader (metadata.autograder.stopped), not
    read back from the kernel's outputs, which a student's code could forge.
    """

    sandbox = Bool(True, help="run the kernel inside the bubblewrap sandbox").tag(config=True)
    sandbox_slot = Integer(
        None,
        allow_none=True,
        help="grading slot: parallel graders use different ones (default: one of this process's own)",
    ).tag(config=True)
    writable_cache = Bool(False, help="let the kernel train and cache mini-models (instructor runs only)").tag(
        config=True
    )
    memory_mb = Integer(SandboxLimits.memory_mb).tag(config=True)
    processes = Integer(SandboxLimits.processes).tag(config=True)
    file_size_mb = Integer(SandboxLimits.file_size_mb).tag(config=True)
    disk_mb = Integer(SandboxLimits.disk_mb).tag(config=True)
    budget = Integer(600, help="seconds the whole notebook may run, replays after a restart included").tag(config=True)
    max_received_chars = Integer(64_000_000, help="output kept in memory while running; the rest is dropped").tag(
        config=True
    )
    grade_apart_follows = Bool(
        False,
        help="the pipeline's next step is GradeApart (autograder/pipeline/guards.py), which runs the hidden part of "
        "each test cell that declares `graded without` in a kernel of its own: this kernel runs its visible part only. "
        "Set by the pipeline's settings (nbgrader_api.pipeline_settings); without GradeApart every cell runs whole",
    ).tag(config=True)

    def create_kernel_manager(self):
        sandbox = None
        if self.sandbox:
            limits = SandboxLimits(
                memory_mb=self.memory_mb, processes=self.processes, file_size_mb=self.file_size_mb, disk_mb=self.disk_mb
            )
            slot = process_slot() if self.sandbox_slot is None else self.sandbox_slot
            sandbox = Sandbox(limits, slot=slot, writable_cache=self.writable_cache)
        self.km = SandboxedKernelManager(kernel_name=self.kernel_name or "python3", sandbox=sandbox, config=self.config)
        if sandbox is not None:  # the one file of its scratch folder: a read-only copy of the notebook it runs
            self.km.notebook_copy = self.km.runtime_file("notebook.ipynb", nbformat.writes(self.shown_notebook()))
        return self.km

    def shown_notebook(self) -> NotebookNode:
        """The notebook as the kernel may read it: the one it runs, without hidden tests."""
        return without_hidden_tests(self.nb)

    def source_to_run(self, cell: NotebookNode) -> str:
        """What the kernel runs of a cell. A test cell graded apart (autograder/pipeline/guards.py) runs its visible
        part only: its hidden part runs again in the kernel apart, whose records and errors alone count
        (guards.take_over), so running it here as well would only cost its time. Unless the pipeline says
        GradeApart follows (grade_apart_follows) and is not switched off in the configuration (an instructor's
        `c.GradeApart.enabled = False`: its hidden part would then run nowhere), every cell runs whole."""
        apart = self.grade_apart_follows and self.config.get("GradeApart", {}).get("enabled", True) is not False
        if apart and is_test_cell(cell) and withheld_names(cell.source):
            return visible_part(cell.source)
        return cell.source

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int):
        full, cell.source = cell.source, self.source_to_run(cell)
        try:
            return self._run_cell(cell, resources, index)
        finally:
            cell.source = full  # the notebook keeps the whole cell: GradeApart reads its hidden part

    def _run_cell(self, cell: NotebookNode, resources: dict, index: int):
        if index == 0:
            self._started, self._finished, self._received = time.monotonic(), [], 0
        cell.metadata.pop("autograder", None)  # only the grader writes there; a submission's own is dropped
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, self.resources
        remaining = self._remaining()
        if remaining <= 0:
            cell.outputs = []
            _mark(cell, BUDGET, f"not run: the notebook used up its time budget of {self.budget} s")
            return cell, self.resources
        limit = min(self.timeout, remaining)
        self.timeout_func = lambda _cell: limit
        interrupts, started = self.km.interrupts, time.monotonic()
        try:
            super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            _mark(
                cell,
                DIED,
                "the kernel died while running this cell (os._exit, a crash or running out of memory); "
                "it was restarted and the cells before this one were run again",
            )
            self._restart_and_replay()
        except CellTimeoutError:
            if time.monotonic() - started < limit and self.km.interrupts == interrupts:
                # The cell finished (its reply came) but its output never did: a message over the size cap
                # closed the output channel (kernel.py). Its output is lost; the kernel and its variables are intact.
                cell.metadata.setdefault("autograder", {})["truncated"] = True
                self._reconnect()
                self._finished.append(index)
                return cell, self.resources
            # past the timeout and deaf to the interrupt
            self._mark_timeout(
                cell,
                limit,
                "ignored the interrupt; it was stopped, the kernel restarted and the cells before it run again",
            )
            self._restart_and_replay()
        else:
            if self.km.interrupts > interrupts:  # interrupted at the timeout, the kernel and its variables intact
                self._mark_timeout(cell, limit, "was interrupted; the cells after it still ran")
            else:
                self._finished.append(index)
        return cell, self.resources

    def _mark_timeout(self, cell: NotebookNode, limit: float, then: str) -> None:
        if limit < self.timeout:  # the cell's limit was what remained of the notebook's budget
            _mark(cell, BUDGET, f"the notebook used up its time budget of {self.budget} s in this cell")
        else:
            _mark(cell, STOPPED, f"this cell did not finish within {limit:g} s and {then}", seconds=limit)

    def output(self, outs, msg, display_id, cell_index):
        # A kernel can send output faster than any cap applied afterwards: beyond a bound, drop it now.
        # (nbclient's output() is undocumented: tests/test_internals.py fails if its call changes.)
        content = msg.get("content", {})
        self._received += len(content.get("text", "")) + sum(len(str(v)) for v in content.get("data", {}).values())
        if self._received > self.max_received_chars:
            self.nb.cells[cell_index].metadata.setdefault("autograder", {})["truncated"] = True
            return None
        return super().output(outs, msg, display_id, cell_index)

    def _reconnect(self) -> None:
        """A new client on the same kernel: zmq closes a channel for good on a message over its size cap."""
        self.kc.stop_channels()
        self.kc = self.km.client()
        run_sync(ensure_async_call)(self.kc.start_channels)
        run_sync(self.kc.wait_for_ready)(timeout=self.startup_timeout)

    def _remaining(self) -> float:
        return self.budget - (time.monotonic() - self._started)

    def _restart_and_replay(self) -> None:
        run_sync(self.km.restart_kernel)(now=True)
        self._reconnect()  # a fresh client: the old one's channels may have been closed by an oversized message
        for index in self._finished:
            remaining = self._remaining()
            if remaining <= 0:
                break
            self.timeout_func = lambda _cell, left=remaining: min(self.timeout, left)
            # Replayed on a copy: the graded outputs stay those of the first run.
            replay = copy.deepcopy(self.nb.cells[index])
            replay.source = self.source_to_run(replay)
            try:
                self.execute_cell(replay, index, store_history=False)
            except (CellTimeoutError, DeadKernelError):
                self.log.warning("cell %d failed when replayed; the remaining cells run without it", index)
                break


async def ensure_async_call(function) -> None:
    """Call a client method that is a coroutine in some jupyter_client versions and plain in others."""
    await ensure_async(function())


def _mark(cell: NotebookNode, status: str, message: str, **details) -> None:
    """Say in the cell's output why it stopped (for the student), and in its metadata (for the grader)."""
    cell.outputs = [
        o for o in cell.get("outputs", []) if o.get("ename") not in ("CellTimeoutError", "KeyboardInterrupt")
    ]
    cell.outputs.append(
        NotebookNode(
            output_type="error",
            ename=STOP_NAMES[status],
            evalue=message,
            traceback=[f"{STOP_NAMES[status]}: {message}"],
        )
    )
    cell.metadata.setdefault("autograder", {})["stopped"] = {"status": status, "message": message, **details}


def stopped(cell: NotebookNode) -> dict | None:
    """{"status": ..., "message": ..., ["seconds": limit]} if the grader had to stop this cell, else None."""
    return cell.get("metadata", {}).get("autograder", {}).get("stopped")


def truncated(cell: NotebookNode) -> bool:
    return bool(cell.get("metadata", {}).get("autograder", {}).get("truncated"))


class TruncateOutputs(NbGraderPreprocessor):
    """
    Cap what a notebook's outputs may weigh, so a runaway print or a flood of figures cannot swamp the
    gradebook: each text output to max_chars characters, each image or other binary output to
    max_data_chars (a lesson's figure is 20-150 kB), each record handed to the grader to max_record_chars,
    and all outputs together to max_total_chars (the largest go first; errors stay). Records are
    kept in test cells only.
    """

    max_chars = Integer(20000, help="characters kept per text output").tag(config=True)
    max_data_chars = Integer(1_000_000, help="largest image or other binary output kept").tag(config=True)
    max_record_chars = Integer(4_000_000, help="largest record a hidden test may hand to the grader").tag(config=True)
    max_total_chars = Integer(8_000_000, help="characters of all outputs of the notebook together").tag(config=True)

    def _cut(self, text: str) -> str:
        if len(text) <= self.max_chars:
            return text
        return text[: self.max_chars] + f"\n... {TRUNCATED} ({len(text)} characters) ..."

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        for cell in nb.cells:  # records belong to test cells only
            if cell.cell_type == "code" and not is_graded(cell):
                cell.outputs = [out for out in cell.outputs if not _is_record(out)]
        nb, resources = super().preprocess(nb, resources)
        sized = [
            (_size(out), n, k)
            for n, cell in enumerate(nb.cells)
            if cell.cell_type == "code"
            for k, out in enumerate(cell.get("outputs", []))
            if out.output_type != "error"
        ]
        total = sum(size for size, _, _ in sized)
        dropped = set()
        for size, n, k in sorted(sized, reverse=True):
            if total <= self.max_total_chars:
                break
            dropped.add((n, k))
            total -= size
        for n, k in sorted(dropped, reverse=True):
            nb.cells[n].outputs[k] = NotebookNode(
                output_type="stream", name="stdout", text=f"[{TRUNCATED}: the notebook's outputs were too large]\n"
            )
            nb.cells[n].metadata.setdefault("autograder", {})["truncated"] = True
        return nb, resources

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        if any([self._cap(output) for output in cell.get("outputs", [])]):
            cell.metadata.setdefault("autograder", {})["truncated"] = True
        return cell, resources

    def _cap(self, output: NotebookNode) -> bool:
        """Cap one output in place; True if anything was cut or removed."""
        if output.output_type == "stream":
            output.text, cut = self._cut(output.text), len(output.text) > self.max_chars
            return cut
        if output.output_type == "error":
            traceback = output.get("traceback", [])
            cut = (
                len(output.evalue) > self.max_chars
                or len(traceback) > 100
                or any(len(t) > self.max_chars for t in traceback)
            )
            output.evalue = self._cut(output.evalue)
            output.traceback = [self._cut(line) for line in traceback[:100]]
            return cut
        cut = False
        for mime in list(output.get("data", {})):
            text = _text(output.data[mime])
            limit = (
                self.max_chars
                if mime.startswith("text/")
                else (self.max_record_chars if mime == RECORD_MIME else self.max_data_chars)
            )
            if len(text) <= limit:
                continue
            cut = True
            if mime.startswith("text/"):
                output.data[mime] = self._cut(text)
            else:
                del output.data[mime]
        if "data" in output and not output.data:
            output.data["text/plain"] = f"[{TRUNCATED}: too large]"
        return cut


def _text(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(map(str, value))
    return json.dumps(value)


def _size(output: NotebookNode) -> int:
    return len(json.dumps(output))


def _is_record(output: NotebookNode) -> bool:
    return RECORD_MIME in output.get("data", {})


class RestoreSourceCells(NbGraderPreprocessor):
    """Replace locked and graded cells by the instructor's version; add back the ones that are missing;
    give every course cell the instructor's nbgrader metadata (grade flag, points, locks: a submission's
    own say nothing); take the nbgrader metadata off cells that are not the course's (made up, or copies)."""

    def __init__(self, source: NotebookNode, **kwargs) -> None:
        super().__init__(**kwargs)
        self.source = source

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        source_cells = [c for c in self.source.cells if grade_id_of(c)]
        known = {grade_id_of(c) for c in source_cells}
        submitted = {grade_id_of(c): c for c in nb.cells if grade_id_of(c)}  # the last of duplicates, as DeduplicateIds
        for (
            cell
        ) in nb.cells:  # a graded cell of the student's own making (with an id or none), or a copy, grades nothing
            if grade_id_of(cell) not in known or submitted[grade_id_of(cell)] is not cell:
                cell.get("metadata", {}).pop("nbgrader", None)
        cells = list(nb.cells)
        previous = None
        for original in source_cells:
            grade_id = grade_id_of(original)
            meta = nbgrader_of(original)
            restore = meta.get("locked") or meta.get("grade") and not meta.get("solution")
            if grade_id in submitted:
                cell = submitted[grade_id]
                if restore or cell.cell_type != original.cell_type:
                    # A test cell as released; an answer cell turned into markdown or raw: code again, answer kept.
                    replacement = _fresh_copy(original, keep_id=cell.get("id"))
                    if not restore:
                        replacement.source = cell.source
                    cells[next(i for i, c in enumerate(cells) if c is cell)] = replacement
                    cell = replacement
                cell.metadata["nbgrader"] = copy.deepcopy(meta)
            else:
                cell = _fresh_copy(original)
                if meta.get("solution"):  # never hand the learner the instructor's solution
                    cell.source = "# (this answer cell was missing from the notebook)"
                at = next(i for i, c in enumerate(cells) if c is previous) + 1 if previous is not None else 0
                cells.insert(at, cell)
            previous = cell
        nb.cells = cells
        return nb, resources


def _fresh_copy(original: NotebookNode, keep_id: str | None = None) -> NotebookNode:
    """The instructor's cell as a new cell of the same type, without outputs (a code cell needs them)."""
    cell = copy.deepcopy(original)
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    else:
        cell.pop("outputs", None)
        cell.pop("execution_count", None)
    if keep_id:
        cell.id = keep_id
    return cell


class CourseStubs(ClearSolutions):
    """nbgrader's ClearSolutions with the course's stubs: a quiz's answer cells get a comment (an
    unanswered quiz runs without errors), a lesson's exercises a line that says "not done yet". In the
    course folder's configuration, so nbgrader's Generate makes the same release as `build`."""

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        is_quiz = any(answer_cell_number(grade_id_of(cell)) is not None for cell in nb.cells)
        self.code_stub = {"python": ANSWER_STUB if is_quiz else EXERCISE_STUB}
        return super().preprocess(nb, resources)
