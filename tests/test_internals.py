"""
The places where the course leans on a library's internals, each kept because it earns its place
(benchmarks/RESULTS.md, "Mechanisms against a library's internals"). Each test here fails when the
library changes under the mechanism, or when the library no longer needs it: then it goes.
(nbgrader's gradebook made in-process has its own: test_grading's new-gradebook parity test.)
"""

import inspect
import re
import subprocess
import sys

from conftest import EVERY_TEST_ON_ITS_OWN, LoadScopeWithIndependentTests


def _parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_xdist_still_groups_loadscope_work_by_split_scope():
    from xdist.scheduler import LoadScopeScheduling

    assert _parameters(LoadScopeScheduling._split_scope) == ["self", "nodeid"]
    # xdist asks it for each collected test's unit of work; were it to stop, the override would do nothing.
    assert "self._split_scope(nodeid)" in inspect.getsource(LoadScopeScheduling)
    scheduler = LoadScopeWithIndependentTests.__new__(LoadScopeWithIndependentTests)  # _split_scope reads no state
    own = EVERY_TEST_ON_ITS_OWN[0] + "test_x[a]"
    assert scheduler._split_scope(own) == own
    assert scheduler._split_scope("tests/test_grading.py::test_a") == "tests/test_grading.py"
    assert scheduler._split_scope("tests/test_lessons.py::TestClass::test_a") == "tests/test_lessons.py::TestClass"


GROUPED = """
import pytest

@pytest.mark.xdist_group("together")
@pytest.mark.parametrize("i", range(8))
def test_grouped(i):
    pass
"""


def test_xdist_public_loadgroup_still_splits_a_group(tmp_path):
    # The public way to the override's end is --dist loadgroup with xdist_group marks; under this pytest xdist
    # no longer tags a marked test with its group (pytest-dev/pytest-xdist#1386), so loadgroup hands each test
    # out alone (xdist starts each worker on a unit of its own: both get some). When this fails, loadgroup
    # works: mark what must stay together and drop the override in conftest.py.
    (tmp_path / "test_grouped.py").write_text(GROUPED)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    ran = re.findall(r"^\[(gw\d+)\].* PASSED (\S+)", done.stdout, re.M)
    assert done.returncode == 0 and len(ran) == 8, done.stdout + done.stderr
    assert not any(nodeid.endswith("@together") for _, nodeid in ran)
    assert {worker for worker, _ in ran} == {"gw0", "gw1"}


def test_jsonschema_still_builds_the_iri_parsers_the_grader_skips():
    # autograder/__init__.py marks rfc3987_syntax absent because jsonschema imports it eagerly. When a
    # jsonschema release imports it only for the "iri" formats, this fails: the mark can then go.
    code = "import sys, nbformat; nbformat.validate(nbformat.v4.new_notebook()); print('rfc3987_syntax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"


def test_ipython_still_shows_tracebacks_through_showtraceback_with_a_structured_traceback():
    # attnlab.selfcheck's not-done-yet handler shows its one line through shell._showtraceback: IPython's
    # run_code drops what a custom exception handler returns, and ipykernel sends the error from there.
    from ipykernel.zmqshell import ZMQInteractiveShell
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.core.ultratb import AutoFormattedTB

    for shell in (InteractiveShell, ZMQInteractiveShell):
        assert _parameters(shell._showtraceback) == ["self", "etype", "evalue", "stb"]
    assert _parameters(AutoFormattedTB.structured_traceback)[:5] == [
        "self",
        "etype",
        "evalue",
        "etb",
        "tb_offset",
    ]


def test_nbclient_still_hands_every_output_message_to_output():
    # RobustExecute.output drops a flood of output as it arrives (autograder/pipeline/preprocessors.py).
    from nbclient import NotebookClient

    assert _parameters(NotebookClient.output) == ["self", "outs", "msg", "display_id", "cell_index"]
    assert "self.output(cell.outputs, msg, display_id, cell_index)" in inspect.getsource(NotebookClient)
