"""Our grading steps, on hand-made cells: answer pinning, output limits, restoring cells."""

import nbformat
import pytest

from autograder.course.notebooks import nbgrader_metadata
from autograder.pipeline.preprocessors import PinChoiceAnswers, RestoreSourceCells, TruncateOutputs, written_answer


@pytest.mark.parametrize(
    "source, literal",
    [
        ('ANSWER_1 = "B"', "B"),
        ('ANSWER_1 = None  # replace\nANSWER_1 = " c) "', " c) "),
        ('ANSWER_1: str = "d"', "d"),
        ('ANSWER_1 = "A"\nANSWER_1 = "B"', "B"),
        ('x = 1\nANSWER_2 = "A"\nANSWER_1 = "C"', "C"),
    ],
)
def test_the_last_literal_written_is_the_answer(source, literal):
    assert written_answer(source, "ANSWER_1").literal == literal


@pytest.mark.parametrize(
    "source",
    [
        'ANSWER_1 = open("key.txt").read()',
        'ANSWER_1 = "B"\nANSWER_1 = ANSWER_1.lower()',
        'ANSWER_1 = Anything("B")',
        'ANSWER_1 = "A" + ""',
    ],
)
def test_an_answer_computed_at_run_time_is_refused_with_a_message(source):
    answer = written_answer(source, "ANSWER_1")
    assert answer.literal is None and "letter in quotes" in answer.problem


def test_unanswered_and_broken_cells():
    assert written_answer("ANSWER_1 = None\n# YOUR ANSWER HERE", "ANSWER_1") == written_answer("", "ANSWER_1")
    assert written_answer("ANSWER_1 = None", "ANSWER_1").problem is None
    assert "syntax error" in written_answer('ANSWER_1 = "B', "ANSWER_1").problem


def _quiz_cells(answer_source: str, test_source: str = "assert ANSWER_1 == 'B'"):
    nb = nbformat.v4.new_notebook()
    answer = nbformat.v4.new_code_cell(
        answer_source, metadata={"nbgrader": nbgrader_metadata("answer_1", solution=True)}
    )
    test = nbformat.v4.new_code_cell(
        test_source, metadata={"nbgrader": nbgrader_metadata("q1", grade=True, locked=True, points=1)}
    )
    nb.cells = [answer, test]
    return nb


def test_the_test_cell_is_pinned_to_the_written_letter():
    nb, _ = PinChoiceAnswers().preprocess(_quiz_cells('ANSWER_1 = "b"'), {})
    assert nb.cells[1].source.splitlines()[0].startswith("ANSWER_1 = 'b'")
    nb, _ = PinChoiceAnswers().preprocess(nb, {})  # idempotent
    assert nb.cells[1].source.count("ANSWER_1 = 'b'") == 1


def test_a_computed_or_missing_answer_makes_the_test_cell_fail_with_the_reason():
    nb, _ = PinChoiceAnswers().preprocess(_quiz_cells("ANSWER_1 = compute()"), {})
    assert nb.cells[1].source.startswith("raise ValueError(") and "letter in quotes" in nb.cells[1].source
    nb = _quiz_cells('ANSWER_1 = "B"')
    del nb.cells[0]
    nb, _ = PinChoiceAnswers().preprocess(nb, {})
    assert "missing" in nb.cells[0].source.splitlines()[0]


def test_outputs_are_cut_to_the_limit_and_figures_are_kept_below_theirs():
    cell = nbformat.v4.new_code_cell("print")
    figure = {"image/png": "A" * 1000, "text/plain": "<Figure>"}
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="x" * 1000),
        nbformat.v4.new_output("display_data", data=dict(figure)),
        nbformat.v4.new_output("display_data", data={"image/png": "A" * 5000, "text/plain": "<Figure>"}),
    ]
    cell, _ = TruncateOutputs(max_chars=100, max_data_chars=2000).preprocess_cell(cell, {}, 0)
    assert len(cell.outputs[0].text) < 200 and "truncated" in cell.outputs[0].text
    assert cell.outputs[1].data == figure  # a figure is larger than a line of text, and kept
    assert "image/png" not in cell.outputs[2].data and cell.outputs[2].data["text/plain"] == "<Figure>"


def test_restoring_cells_puts_tests_back_in_place_and_never_hands_out_a_solution():
    source = nbformat.v4.new_notebook()
    source.cells = [
        nbformat.v4.new_code_cell(
            "def f():\n    return 1", metadata={"nbgrader": nbgrader_metadata("ex_f", solution=True)}
        ),
        nbformat.v4.new_code_cell(
            "assert f() == 1", metadata={"nbgrader": nbgrader_metadata("test_f", grade=True, locked=True, points=1)}
        ),
        nbformat.v4.new_code_cell(
            "def g():\n    return 2", metadata={"nbgrader": nbgrader_metadata("ex_g", solution=True)}
        ),
        nbformat.v4.new_code_cell(
            "assert g() == 2", metadata={"nbgrader": nbgrader_metadata("test_g", grade=True, locked=True, points=1)}
        ),
    ]
    student = nbformat.v4.new_notebook()
    student.cells = [
        nbformat.v4.new_code_cell(
            "def f():\n    return 0", metadata={"nbgrader": nbgrader_metadata("ex_f", solution=True)}
        ),
        nbformat.v4.new_code_cell(
            "assert True", metadata={"nbgrader": nbgrader_metadata("test_f", grade=True, locked=True, points=1)}
        ),
        nbformat.v4.new_code_cell("print('my notes')"),
    ]
    nb, _ = RestoreSourceCells(source).preprocess(student, {})
    sources = [c.source for c in nb.cells]
    assert sources[0] == "def f():\n    return 0"  # the student's answer is kept
    assert sources[1] == "assert f() == 1"  # the edited test is restored
    assert sources[2].startswith("# (this answer cell was missing") and "return 2" not in sources[2]
    assert sources[3] == "assert g() == 2"
    assert sources[4] == "print('my notes')"


# -----------------------------------------------------------------------------
# RobustExecute: its behaviour on a real kernel, and the nbclient interfaces it is built on


DEAF_TO_INTERRUPTS = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"


def _stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


@pytest.mark.slow
def test_robust_execute_survives_a_hung_cell_a_deaf_cell_and_a_dead_kernel(tmp_path):
    from autograder.course.notebooks import KERNELSPEC
    from autograder.pipeline.preprocessors import RobustExecute, stopped

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": dict(KERNELSPEC)})
    nb.cells = [
        nbformat.v4.new_code_cell(source)
        for source in (
            "x = 1\nprint('ran')",
            "while True:\n    pass",  # interrupted at the timeout: the kernel and x survive
            DEAF_TO_INTERRUPTS,
            "print(x + 1)",  # the kernel was restarted and the cells that had finished replayed: x is back
            "import os\nos._exit(1)",
            "print(x + 2)",
        )
    ]
    nb, _ = RobustExecute(timeout=2, sandbox=False).preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    statuses = [(stopped(cell) or {}).get("status") for cell in nb.cells]
    assert statuses == [None, "timeout", "timeout", None, "kernel_died", None]
    assert "was interrupted" in stopped(nb.cells[1])["message"]
    assert "ignored the interrupt" in stopped(nb.cells[2])["message"]
    assert [_stdout(nb.cells[i]) for i in (0, 3, 5)] == ["ran\n", "2\n", "3\n"]  # replays leave no second output
    errors = [[o.ename for o in cell.outputs if o.output_type == "error"] for cell in nb.cells]
    assert errors == [[], ["CellTimeoutError"], ["CellTimeoutError"], [], ["DeadKernelError"], []]


def test_the_nbclient_interfaces_robust_execute_is_built_on_are_unchanged():
    """RobustExecute overrides or calls exactly these public interfaces of the pinned nbclient, nbconvert,
    nbgrader and jupyter_client. An upgrade that changes one fails here, naming it, before grading can
    break silently; the test above then shows whether the behaviour still holds."""
    import inspect

    from jupyter_client import AsyncKernelClient, AsyncKernelManager
    from nbclient import NotebookClient
    from nbconvert.preprocessors import ExecutePreprocessor
    from nbgrader.preprocessors import Execute

    def parameters(function) -> list[str]:
        return list(inspect.signature(function).parameters)

    execute = Execute()
    traits = {"timeout", "timeout_func", "startup_timeout", "iopub_timeout", "interrupt_on_timeout", "error_on_timeout"}
    relied_on = {
        "NotebookClient.output(outs, msg, display_id, cell_index), overridden to cap the output": (
            parameters(NotebookClient.output) == ["self", "outs", "msg", "display_id", "cell_index"]
        ),
        "ExecutePreprocessor.preprocess_cell(cell, resources, index), overridden per cell": (
            parameters(ExecutePreprocessor.preprocess_cell) == ["self", "cell", "resources", "index"]
        ),
        "ExecutePreprocessor.preprocess calls preprocess_cell(cell, resources, index) for every cell": (
            "self.preprocess_cell(cell, resources, index)" in inspect.getsource(ExecutePreprocessor.preprocess)
        ),
        "NotebookClient.create_kernel_manager(), overridden to start the kernel in the sandbox": (
            parameters(NotebookClient.create_kernel_manager) == ["self"]
        ),
        "NotebookClient.execute_cell(cell, cell_index, execution_count, store_history), to replay cells": (
            parameters(NotebookClient.async_execute_cell)[1:5]
            == ["cell", "cell_index", "execution_count", "store_history"]
        ),
        "NotebookClient's traits " + ", ".join(sorted(traits)): traits <= set(NotebookClient.class_trait_names()),
        "nbgrader's Execute interrupts at the timeout, reports it as an error and raises on a deaf kernel": (
            execute.interrupt_on_timeout and bool(execute.error_on_timeout) and execute.raise_on_iopub_timeout
        ),
        "nbgrader's Execute goes on after a cell's error": execute.allow_errors,
        "AsyncKernelManager.restart_kernel(now=...) and interrupt_kernel()": (
            "now" in parameters(AsyncKernelManager.restart_kernel)
            and parameters(AsyncKernelManager.interrupt_kernel) == ["self"]
        ),
        "AsyncKernelClient.wait_for_ready(timeout=...)": "timeout" in parameters(AsyncKernelClient.wait_for_ready),
    }
    changed = [what for what, holds in relied_on.items() if not holds]
    assert not changed, (
        "RobustExecute (autograder/pipeline/preprocessors.py) relies on interfaces that changed:\n" + "\n".join(changed)
    )


def test_grade_check_and_the_written_nbgrader_config_share_one_pipeline(course, tmp_path):
    """The issue this guards against: `check` once ran a copy of the pipeline without the output limit
    and the id deduplication, so it did not judge "exactly as the grader would"; and plain nbgrader once
    ran the course's steps without the one that decides the scores."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import OverwriteCells
    from traitlets.config.loader import PyFileConfigLoader

    from autograder.pipeline import course_folder, nbgrader_api
    from autograder.pipeline.execution import GRADEBOOK_ONLY, SANITIZE, execution_steps
    from autograder.pipeline.steps import AUTOGRADE, judging_steps

    course_dir = tmp_path / "course"
    course_folder.write_config_file(course, course_dir, nbgrader_api.sqlite_url(tmp_path / "gradebook.db"))
    written = PyFileConfigLoader("nbgrader_config.py", path=str(course_dir)).load_config()
    graded = course_folder.course_config(course, course_dir, nbgrader_api.sqlite_url(tmp_path / "gradebook.db"))
    assert written == graded  # the relative paths of the file resolve to the same folders

    autograde = Autograde(config=written)  # what `nbgrader autograde` builds from the file
    assert [autograde.sanitize_preprocessors, autograde.autograde_preprocessors] == [
        [f"{s.__module__}.{s.__qualname__}" for s in steps] for steps in (SANITIZE, AUTOGRADE)
    ]

    config = nbgrader_api.config_from_settings(nbgrader_api.pipeline_settings(course))
    steps = execution_steps(config, nbformat.v4.new_notebook()) + judging_steps(config, None, None)
    expected = [s for s in SANITIZE + AUTOGRADE if s not in GRADEBOOK_ONLY and s is not OverwriteCells]
    assert [s for s in expected if not any(isinstance(step, s) for step in steps)] == []  # dedup, limits included
    for section, values in written.items():  # check's steps carry the settings the file gives nbgrader
        for step in steps:
            if section in {klass.__name__ for klass in type(step).__mro__}:
                assert {trait: getattr(step, trait) for trait in values} == dict(values), (section, type(step))


def test_a_moved_course_folder_keeps_its_own_gradebook(course, tmp_path):
    from traitlets.config.loader import PyFileConfigLoader

    from autograder.pipeline import course_folder, nbgrader_api

    out = tmp_path / "out"
    course_folder.write_config_file(course, out / "course", nbgrader_api.sqlite_url(out / "gradebook.db"))
    moved = tmp_path / "elsewhere"
    (out).rename(moved)
    written = PyFileConfigLoader("nbgrader_config.py", path=str(moved / "course")).load_config()
    assert written.CourseDirectory.root == str(moved / "course")
    assert written.CourseDirectory.db_url == f"sqlite:///{moved / 'gradebook.db'}"
