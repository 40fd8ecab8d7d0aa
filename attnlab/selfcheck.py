"""
The last cell of every lesson and of the quiz: check the saved notebook as the grader will.

    check_this_notebook()

runs `python -m autograder check --html NOTEBOOK` on the file JupyterLab has open (a process of its
own, which runs the notebook from scratch as the grader does, hidden tests included; in the grader's
sandbox where one can be created) and shows its verdict in the notebook. JupyterLab tells the kernel
which file that is: jupyter_server starts every kernel with JPY_SESSION_NAME, the notebook's path.

It answers at once, without starting a check, when no exercise (or answer) of the saved notebook has
been touched yet: every one is "not done yet". Otherwise it checks only when the student runs this
cell on its own, not as part of Run All (which would hold the kernel 10 s to a minute each time).
How it tells the two apart, robustly and without widgets: every execute request carries the time the
front end sent it (header.date, the browser's clock). Run All sends all its requests at once, so this
cell's request was sent while an earlier cell was still running; a cell run on its own is sent after
the one before it finished. `watch_runs` records, for every execution in the kernel, when the request
was sent and when the kernel started and finished it; the two clocks are related through the smallest
start-minus-sent seen (an upper bound of their offset), so neither clock skew nor a slow network makes
a cell run on its own look like part of Run All. Without records (the first execution since the
kernel started) the cell checks.

It checks nothing, and says why, when
- the notebook is itself being graded or checked (the kernel runs with ATTNLAB_RECORD=1, in the
  sandbox), so a check never starts another check;
- the kernel was not started by JupyterLab or Jupyter Notebook (a headless run): no file to check;
- the answer key is not on this machine: `autograder` is not installed, or it finds no solutions/
  (a student in a graded class, whose instructor grades the notebook).

`install_not_done_yet` (called by attnlab.checks) makes an exercise that is not done yet show one red
line naming it, in place of a traceback. Nothing here imports torch or a Linux-only module.
"""

from __future__ import annotations

import ast
import html
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from attnlab.protocol import CHECK_NO_ANSWER_KEY
from attnlab.settings import recording

# The stub `build` puts in every exercise (autograder/course/student_cells.py builds it from this text).
NOT_DONE_YET = "not done yet: write your code here, in place of this line"
STUB = f'raise NotImplementedError("{NOT_DONE_YET}")'
SKIPPED_WHILE_GRADED = (
    "Check your work: nothing to do here. This cell checks your notebook when you run it in "
    "JupyterLab; it does nothing while the notebook itself is being checked or graded."
)
NO_SESSION = (
    "Check your work: this kernel was not started by JupyterLab (or Jupyter Notebook), so it cannot tell "
    "which notebook file to check. Open the notebook in JupyterLab and run this cell, or run "
    "`python -m autograder check NOTEBOOK.ipynb` in a terminal."
)
NO_KEY = (
    "Check your work: the answer key of the course (its solutions/ folder) is not on this machine, so your "
    "notebook cannot be checked here. In a graded class this is expected: your instructor grades the "
    "notebook you hand in. The visible checks under each exercise still tell you what is wrong."
)
SKIPPED_IN_RUN_ALL = (
    "Check your work: not started as part of <i>Run All</i> (a check takes 10 s to a minute). To check, "
    "save the notebook (Ctrl+S), then click this cell and run it on its own (Shift+Enter)."
)
CALLOUT = (
    '<div style="background:#fff4ce;color:#3d2e00;border-left:5px solid #d39e00;padding:.6em 1em;'
    'margin:.3em 0 .8em;font-family:system-ui,sans-serif;overflow-wrap:normal;word-break:normal">{}</div>'
)
_HEADING = re.compile(r"#+\s+(.+?)\s*(\(\d+ points?\))?\s*$")


def session_notebook() -> Path | None:
    """The notebook file JupyterLab started this kernel for, if it did."""
    path = os.environ.get("JPY_SESSION_NAME", "")
    return Path(path) if path.endswith(".ipynb") else None


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _exercise_cells(saved: dict) -> list[dict]:
    return [
        cell
        for cell in saved.get("cells", [])
        if cell.get("cell_type") == "code" and cell.get("metadata", {}).get("nbgrader", {}).get("solution")
    ]


def _untouched_cell(source: str) -> bool:
    """Still what build put there: the not-done-yet stub, or (a quiz's answer cell) only `ANSWER_N = None`."""
    if STUB in source:
        return True  # whatever was added above it, running the cell still says "not done yet"
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    return bool(body) and all(
        isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and node.value.value is None
        for node in body
    )


def untouched(saved: dict) -> bool:
    """No exercise or answer of the saved notebook (its JSON) has been written yet."""
    cells = _exercise_cells(saved)
    return bool(cells) and all(_untouched_cell(_source(cell)) for cell in cells)


def _defines(source: str) -> str | None:
    """The name an exercise cell defines first: `def flip_rate(...)` -> "flip_rate", `PREDICTION = ...`."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            return node.name
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            return node.targets[0].id
    return None


def exercise_titles(saved: dict) -> dict[str, str]:
    """Name an exercise defines -> the heading above it, without its points ("Exercise 1: attention ...")."""
    titles, heading = {}, None
    for cell in saved.get("cells", []):
        source = _source(cell)
        if cell.get("cell_type") == "markdown":
            match = _HEADING.fullmatch(source.partition("\n")[0])
            heading = match.group(1) if match else heading
        elif cell.get("metadata", {}).get("nbgrader", {}).get("solution") and heading:
            name = _defines(source)
            if name:
                titles.setdefault(name, heading)
    return titles


def _saved_notebook() -> dict:
    notebook = session_notebook()
    try:
        return json.loads(notebook.read_text(encoding="utf-8")) if notebook else {}
    except (OSError, ValueError):
        return {}


def unsaved_exercises(saved: dict, history: list[str]) -> list[str]:
    """
    The exercises whose code last run in this kernel (`history`, IPython's `In`) differs from the saved
    notebook: changes the check would not see. A heuristic that errs on the side of silence.
    """
    last_run = {}
    for source in history:
        name = _defines(source)
        if name:
            last_run[name] = source.strip()
    stale = []
    for cell in _exercise_cells(saved):
        source = _source(cell)
        name = _defines(source)
        if name in last_run and last_run[name] != source.strip():
            stale.append(name)
    return stale


def _shell():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _history() -> list[str]:
    shell = _shell()
    return list(shell.user_ns.get("In", [])) if shell is not None else []


# --- a quiz answer without its quotes ----------------------------------------------------------------


def forgotten_quotes(variable: str, name: str) -> str | None:
    """The message for `ANSWER_7 = D` (a bare letter, read as a variable name); None for any other name."""
    if re.fullmatch(r"[A-Za-z]", name) is None:
        return None
    return f'{variable} is not set: did you forget the quotes? Write {variable} = "{name}"'


def answer_problem(variable: str) -> str:
    """
    What is wrong with the answer `variable` holds, judged from the code last run that assigns it
    (IPython's In), not from its value: after `ANSWER_7 = D` fails, ANSWER_7 may still hold the None of an
    earlier run.
    """
    letter_in_quotes = f"{variable} must be one letter in quotes: A, B, C or D"
    for source in reversed(_history()):
        try:
            body = ast.parse(source).body
        except SyntaxError:
            continue
        for node in reversed(body):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == variable for t in node.targets):
                said = forgotten_quotes(variable, node.value.id) if isinstance(node.value, ast.Name) else None
                return said or letter_in_quotes
    return f"{variable} is not set: run its answer cell (above) first"


# --- Run All or on its own --------------------------------------------------------------------------


def _sent_at(shell) -> float | None:
    """When the front end sent the request being executed, in seconds on its own clock (None if unknown)."""
    try:
        date = shell.kernel.get_parent()["header"]["date"]
    except (AttributeError, KeyError, TypeError):
        return None
    if isinstance(date, str):
        try:
            date = datetime.fromisoformat(date.replace("Z", "+00:00"))
        except ValueError:
            return None
    return date.timestamp() if isinstance(date, datetime) else None


class Runs:
    """What watch_runs records of the executions in this kernel."""

    def __init__(self) -> None:
        self.offset: float | None = None  # min over executions of started - sent: >= the clocks' offset
        self.current: tuple[float, float] | None = None  # (sent, started) of the execution running now
        self.previous: tuple[float, float, float] | None = None  # (sent, started, finished) of the one before

    def started(self, sent: float | None, now: float) -> None:
        self.current = None if sent is None else (sent, now)
        if sent is not None:
            self.offset = now - sent if self.offset is None else min(self.offset, now - sent)

    def finished(self, now: float) -> None:
        if self.current is not None:
            self.previous = (*self.current, now)

    def in_a_batch(self) -> bool:
        """Whether the running execution was requested before the previous one finished (Run All)."""
        if self.current is None or self.previous is None or self.offset is None:
            return False
        sent = self.current[0]
        before_sent, before_started, before_finished = self.previous
        # Sent sooner after the previous request than that one took to run: it cannot have waited for it.
        sent_too_soon = sent - before_sent < before_finished - before_started
        # Sent (on the kernel's clock, at the latest) before the previous execution finished.
        sent_while_busy = sent + self.offset < before_finished
        return sent_too_soon or sent_while_busy


def watch_runs() -> Runs | None:
    """Record every execution of this IPython kernel from now on (once per kernel); the records."""
    shell = _shell()
    if shell is None:
        return None
    runs = getattr(shell, "_attnlab_runs", None)
    if runs is None:
        runs = shell._attnlab_runs = Runs()
        # The cell registering is usually a notebook's first, run as soon as it is sent: the best
        # measure of the clocks' offset there will be (later cells of a Run All wait in the queue).
        runs.started(_sent_at(shell), time.time())
        shell.events.register("pre_run_cell", lambda info=None: runs.started(_sent_at(shell), time.time()))
        shell.events.register("post_run_cell", lambda result=None: runs.finished(time.time()))
    return runs


# --- "not done yet" in one line -----------------------------------------------------------------


def not_done_yet_line(value: BaseException, tb, raw_cell: str = "") -> str | None:
    """
    The one red line for an exercise's not-done-yet stub, or for a NotImplementedError a cell raises
    itself (a check cell's "write your prediction in the cell above"); None for one raised inside a
    function that is no exercise stub (a library's), which keeps its traceback.
    """
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    function = tb.tb_frame.f_code.co_name if tb is not None else "<module>"
    if NOT_DONE_YET not in str(value):
        return f"\x1b[1;31m✗ Not done yet: {value}\x1b[0m" if function == "<module>" and str(value) else None
    name = _defines(raw_cell) if function == "<module>" else function
    title = exercise_titles(_saved_notebook()).get(name) if name else None
    what = f"{title} (`{name}`)" if title else f"`{name}`" if name else "This exercise"
    if function == "<module>":
        todo = "write your answer in this cell, in place of the `raise NotImplementedError(...)` line, and run it"
    else:
        todo = (
            "write your code in its cell, in place of the `raise NotImplementedError(...)` line, "
            "run that cell, then this one"
        )
    return f"\x1b[1;31m✗ {what} is not done yet: {todo}.\x1b[0m"


def install_not_done_yet() -> None:
    """In an IPython kernel: show an exercise's not-done-yet stub as one red line instead of a traceback."""
    shell = _shell()
    if shell is None or getattr(shell, "_attnlab_not_done_yet", False):
        return
    shell._attnlab_not_done_yet = True

    def handler(shell, etype, value, tb, tb_offset=None):
        line = not_done_yet_line(value, tb, shell.user_ns.get("In", [""])[-1] if shell.user_ns.get("In") else "")
        # Still an error (nbgrader scores the cell 0, Run All goes on past it through its tag): only shorter.
        stb = [line] if line else shell.InteractiveTB.structured_traceback(etype, value, tb, tb_offset=tb_offset)
        # IPython drops what a custom handler returns: it shows its own (tests/test_internals.py checks the call).
        shell._showtraceback(etype, value, stb)

    shell.set_custom_exc((NotImplementedError,), handler)


# --- the cell ----------------------------------------------------------------------------------------


def _callout(stale: list[str], saved: dict) -> str:
    titles = exercise_titles(saved)
    named = ", ".join(html.escape(f"{titles[n]} ({n})" if n in titles else n) for n in stale)
    return CALLOUT.format(
        f"<b>⚠ Not saved:</b> {named} changed since you last saved. This check read the <b>saved</b> "
        "file: press Ctrl+S, then run this cell again."
    )


def check_this_notebook() -> None:
    from IPython.display import HTML, display

    if recording():
        print(SKIPPED_WHILE_GRADED)
        return
    runs = watch_runs()
    notebook = session_notebook()
    if notebook is None:
        print(NO_SESSION)
        return
    if not notebook.is_file():
        print(
            f"Check your work: {notebook} is not there any more (renamed or moved?). Restart the kernel "
            "(Kernel > Restart Kernel) so it knows the notebook's new name, then run this cell again."
        )
        return
    if importlib.util.find_spec("autograder") is None:
        print(NO_KEY)
        return
    try:
        saved = json.loads(notebook.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        saved = {}  # the check itself says what is wrong with the file
    stale = unsaved_exercises(saved, _history())
    quick = untouched(saved)  # `check` answers at once, without running anything
    if not quick and runs is not None and runs.in_a_batch():
        display(HTML(f"<p>{SKIPPED_IN_RUN_ALL}</p>" + (_callout(stale, saved) if stale else "")))
        return
    waiting = display(
        HTML(
            f"<p>Checking the saved <code>{html.escape(notebook.name)}</code> as the grader will "
            f"({'a second' if quick else '10 s to a minute'}) ...</p>"
        ),
        display_id=True,
    )
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "check", "--html", str(notebook)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=notebook.parent,
    )
    callout = _callout(stale, saved) if stale else ""
    if done.returncode == CHECK_NO_ANSWER_KEY:
        waiting.update(HTML(""))
        print(NO_KEY)
    elif done.returncode in (0, 1) and done.stdout.strip():
        waiting.update(HTML(callout + done.stdout))
    else:  # a problem `check` explains (an unreadable notebook): its own message, no traceback
        waiting.update(HTML(callout))
        message = done.stderr.strip().removeprefix("error: ") or f"the check failed (exit status {done.returncode})"
        print(f"Check your work: {message}")
