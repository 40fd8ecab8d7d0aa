"""
The last cell of every lesson and of the quiz: check the saved notebook as the grader will.

    check_this_notebook()

runs `python -m autograder check --html NOTEBOOK` on the file JupyterLab has open (a process of its
own, which runs the notebook from scratch in the grader's sandbox, hidden tests included) and shows
its verdict in the notebook. JupyterLab tells the kernel which file that is: jupyter_server starts
every kernel with JPY_SESSION_NAME, the notebook's path.

It checks nothing, and says why, when
- the notebook is itself being graded or checked (the kernel runs with ATTNLAB_RECORD=1, in the
  sandbox), so a check never starts another check;
- the kernel was not started by JupyterLab or Jupyter Notebook (a headless run): no file to check;
- the answer key is not on this machine: `autograder` is not installed, or it finds no solutions/
  (a student in a graded class, whose instructor grades the notebook).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from attnlab.protocol import CHECK_NO_ANSWER_KEY, recording

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


def session_notebook() -> Path | None:
    """The notebook file JupyterLab started this kernel for, if it did."""
    path = os.environ.get("JPY_SESSION_NAME", "")
    return Path(path) if path.endswith(".ipynb") else None


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
    for cell in saved.get("cells", []):
        if cell.get("cell_type") != "code" or not cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            continue
        source = "".join(cell.get("source", ""))
        name = _defines(source)
        if name in last_run and last_run[name] != source.strip():
            stale.append(name)
    return stale


def _history() -> list[str]:
    try:
        from IPython import get_ipython
    except ImportError:
        return []
    shell = get_ipython()
    return list(shell.user_ns.get("In", [])) if shell is not None else []


def check_this_notebook() -> None:
    from IPython.display import HTML, display

    if recording():
        print(SKIPPED_WHILE_GRADED)
        return
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
        stale = unsaved_exercises(json.loads(notebook.read_text(encoding="utf-8")), _history())
    except (OSError, ValueError):
        stale = []  # the check itself says what is wrong with the file
    if stale:
        print(
            f"Note: the saved notebook differs from the code you last ran for {', '.join(stale)}. The check "
            "reads the saved file: if you have not saved since, save (Ctrl+S) and run this cell again."
        )
    waiting = display(
        HTML(f"<p>Checking the saved <code>{notebook.name}</code> as the grader will (10 s to a minute) ...</p>"),
        display_id=True,
    )
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "check", "--html", str(notebook)],
        capture_output=True,
        text=True,
        cwd=notebook.parent,
    )
    if done.returncode == CHECK_NO_ANSWER_KEY:
        waiting.update(HTML(""))
        print(NO_KEY)
    elif done.returncode in (0, 1) and done.stdout.strip():
        waiting.update(HTML(done.stdout))
    else:  # a problem `check` explains (an unreadable notebook, no sandbox): its own message, no traceback
        waiting.update(HTML(""))
        message = done.stderr.strip().removeprefix("error: ") or f"the check failed (exit status {done.returncode})"
        print(f"Check your work: {message}")
