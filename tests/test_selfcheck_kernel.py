"""
The self-check cell and the not-done-yet line in a real IPython kernel, driven as JupyterLab drives it:
Run All sends every cell's execute request at once; a cell run on its own is sent after the one before
it finished.
"""

import os
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import start_new_kernel

from autograder.course.notebooks import write_notebook

REPO = Path(__file__).resolve().parents[1]
SELF_CHECK = "from attnlab.selfcheck import check_this_notebook\ncheck_this_notebook()"
STUB = 'raise NotImplementedError("not done yet: write your code here, in place of this line")'


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """A kernel started as JupyterLab starts one for a copy of lesson 00 whose exercise 2 was written."""
    notebook = tmp_path_factory.mktemp("student") / "00_tiny_transformer.ipynb"
    nb = nbformat.read(REPO / "lessons" / "00_tiny_transformer.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ex_collect_patterns")
    cell.source = cell.source.replace(STUB, "return None")
    write_notebook(nb, notebook)
    env = os.environ | {
        "JPY_SESSION_NAME": str(notebook),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    env.pop("ATTNLAB_RECORD", None)
    km, kc = start_new_kernel(kernel_name="python3", env=env, cwd=str(notebook.parent))
    yield kc, notebook
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def _run_at_once(kc, *codes: str) -> list[tuple[str, str]]:
    """Send every cell's request before any finishes (as Run All does); (status, what it showed) per cell.
    As for the lessons' exercise and check cells (tagged raises-exception), an error stops nothing after it."""
    ids = [kc.execute(code, stop_on_error=False) for code in codes]
    shown = {i: [] for i in ids}
    status = {}
    while len(status) < len(ids):
        msg = kc.get_iopub_msg(timeout=300)
        parent, kind, content = msg["parent_header"].get("msg_id"), msg["msg_type"], msg["content"]
        if parent not in shown:
            continue
        if kind == "stream":
            shown[parent].append(content["text"])
        elif kind in ("display_data", "update_display_data", "execute_result"):
            shown[parent].append(content["data"].get("text/html") or content["data"].get("text/plain", ""))
        elif kind == "error":
            shown[parent].append("\n".join(content["traceback"]))
            status[parent] = "error"
        elif kind == "status" and content["execution_state"] == "idle":
            status.setdefault(parent, "ok")
    return [(status[i], "".join(shown[i])) for i in ids]


def test_an_exercise_not_done_yet_is_one_red_line_naming_it(kernel):
    kc, _ = kernel
    (_, _), (_, _), (status, shown) = _run_at_once(
        kc,
        "import attnlab.checks",
        f"def attention_probabilities(q, k, key_mask):\n    # YOUR CODE HERE\n    {STUB}",
        "attention_probabilities(1, 2, 3)",
    )
    assert status == "error"  # still an error: the grader scores it 0 and Run All goes on through the tag
    assert shown.count("\n") == 0 and "Traceback" not in shown
    assert "✗ Exercise 1: attention from queries and keys (`attention_probabilities`) is not done yet" in shown
    # A check cell's own "not done yet" (a prediction not written yet) is one line too ...
    ((status, shown),) = _run_at_once(kc, "raise NotImplementedError('write your prediction in the cell above')")
    assert status == "error" and shown == "\x1b[1;31m✗ Not done yet: write your prediction in the cell above\x1b[0m"
    # ... but one from inside a library keeps its traceback.
    ((status, shown),) = _run_at_once(kc, "def solve():\n    raise NotImplementedError('a limitation')\n\nsolve()")
    assert status == "error" and "Traceback" in shown


def test_run_all_does_not_start_the_check_but_running_the_cell_on_its_own_does(kernel):
    kc, notebook = kernel
    *_, (_, shown) = _run_at_once(kc, "import attnlab.checks", "import time\ntime.sleep(0.3)", SELF_CHECK)
    assert "not started as part of <i>Run All</i>" in shown and "Checking the saved" not in shown
    # On its own: the check starts. (A file that is no notebook makes it stop at once, and say so.)
    notebook.write_text("not a notebook")
    ((_, shown),) = _run_at_once(kc, SELF_CHECK)
    assert "Checking the saved" in shown and "cannot be checked" in shown


def test_run_all_on_an_untouched_notebook_answers_at_once(kernel, tmp_path):
    kc, notebook = kernel
    notebook.write_bytes((REPO / "lessons" / "00_tiny_transformer.ipynb").read_bytes())
    *_, (_, shown) = _run_at_once(kc, "import time\ntime.sleep(0.3)", SELF_CHECK)
    assert "Checking the saved" in shown and shown.count("not done yet") == 2 and "score <b>0 / 3</b>" in shown


def test_unsaved_changes_are_a_callout_in_the_same_output_as_the_verdict(kernel):
    kc, notebook = kernel
    notebook.write_bytes((REPO / "lessons" / "00_tiny_transformer.ipynb").read_bytes())
    _run_at_once(kc, "def collect_patterns(model, tokens):\n    return None")  # run, never saved
    ((_, shown),) = _run_at_once(kc, SELF_CHECK)
    callout, _, verdict = shown.partition("</div>")
    assert "⚠ Not saved:</b>" in callout and "Exercise 2: collect attention with a hook (collect_patterns)" in callout
    assert "score <b>0 / 3</b>" in verdict


def test_an_answer_without_quotes_is_told_so_in_the_notebook_and_by_the_grader(kernel):
    from autograder.pipeline.preprocessors import written_answer

    kc, _ = kernel
    quiz = nbformat.read(REPO / "quizzes" / "quiz.ipynb", as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in quiz.cells}
    expected = 'ANSWER_7 is not set: did you forget the quotes? Write ANSWER_7 = "D"'
    # Run All first (ANSWER_7 = None), then the answer written without quotes, run, and its check.
    _run_at_once(kc, cells["answer_reader"], cells["answer_7"], cells["q7"])
    *_, (status, shown) = _run_at_once(kc, "ANSWER_7 = D", cells["q7"])
    assert status == "error" and f"AssertionError: {expected}" in shown.replace("\x1b[0m", "").replace("\x1b[39m", "")
    assert written_answer("ANSWER_7 = D", "ANSWER_7").problem == expected
