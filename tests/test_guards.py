"""
Exercises graded apart (autograder/pipeline/guards.py): the library copy without the shortcuts, the run apart,
and the probe's predictions read back from the accuracies it reports.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

import attnlab
from autograder.pipeline.guards import UnknownName, apart_notebook, guarded_tests, strip_library, withheld_names
from autograder.pipeline.verifiers import probe_predictions
from autograder.sandbox.bwrap import Sandbox, bwrap_path, process_slot

LIBRARY = Path(attnlab.__file__).resolve().parent


def _run_with(build: Path, code: str) -> subprocess.CompletedProcess:
    """code run by a fresh interpreter whose attnlab is the copy in build (found before the installed one)."""
    env = os.environ | {"PYTHONPATH": str(build.parent)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=build.parent)


def test_the_declaration_is_read_from_the_hidden_tests_only():
    source = (
        "# graded without: attnlab.models.preset\n"  # visible: a student sees it, it declares nothing
        "check(True, 'x')\n"
        "### BEGIN HIDDEN TESTS\n"
        "# graded without: attnlab.a.f, attnlab.b.g\n"
        "record('r', f(1))\n"
        "#   graded without:  attnlab.c.h\n"
        "### END HIDDEN TESTS\n"
    )
    assert withheld_names(source) == ["attnlab.a.f", "attnlab.b.g", "attnlab.c.h"]
    assert withheld_names("record('r', f(1))") == []


def test_every_declaration_of_the_course_names_something_the_library_defines(course, tmp_path):
    declared = set()
    for path in sorted(course.solutions_dir.glob("[0-9]*.ipynb")):
        for names in guarded_tests(nbformat.read(path, as_version=4)).values():
            declared |= set(names)
    assert len(declared) > 20
    strip_library(LIBRARY, sorted(declared), tmp_path)  # raises UnknownName for a name it cannot find


def test_a_name_the_library_does_not_define_is_refused(tmp_path):
    with pytest.raises(UnknownName, match="not defined"):
        strip_library(LIBRARY, ["attnlab.attribution.rollout.no_such_function"], tmp_path)
    with pytest.raises(UnknownName, match="no module"):
        strip_library(LIBRARY, ["attnlab.no_such_module.f"], tmp_path / "second")


def test_the_copy_withholds_functions_their_private_helpers_classes_and_fields(tmp_path):
    original = (LIBRARY / "faithfulness" / "eraser.py").read_bytes()
    build = strip_library(
        LIBRARY,
        [
            "attnlab.attribution.rollout.attention_rollout",
            "attnlab.faithfulness.eraser.comprehensiveness",
            "attnlab.attribution.perturbation.LeaveOneOut",
            "attnlab.models.TransformerOutput.attentions",
        ],
        tmp_path,
    )
    code = """
import torch
from attnlab.attribution import attention_rollout, LeaveOneOut
from attnlab.faithfulness import eraser, sufficiency
from attnlab.models import TransformerOutput
from attnlab.zoo import rationale_model

def fails(call):
    try:
        call()
    except RuntimeError as error:
        return "is not available while this exercise is graded" in str(error)
    return False

trained = rationale_model(seed=0)
model, tokens = trained.model, trained.test.tokens[:4]
out = model(tokens)
print(fails(lambda: attention_rollout(torch.full((1, 1, 3, 3), 1 / 3))))
print(fails(lambda: eraser.comprehensiveness(model, tokens, torch.rand(4, 16), 0.1)))
print(fails(lambda: eraser._probability_drop(model, tokens, tokens > 0, "delete", (None, None))))
print(fails(lambda: LeaveOneOut(model)))
print(fails(lambda: out.attentions), "attentions" not in vars(out), tuple(out.hidden_states.shape))
print(sufficiency.__name__, float(out.logits.sum()) == float(out.logits.sum()))
"""
    ran = _run_with(build, code)
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.split("\n")
    assert lines[:5] == ["True", "True", "True", "True", "True True (3, 4, 16, 32)"], ran.stdout
    # what is not withheld still works: the other metric is intact, the model still computes
    assert lines[5] == "sufficiency True"
    assert (LIBRARY / "faithfulness" / "eraser.py").read_bytes() == original  # the copy never wrote through a link


def test_the_run_apart_keeps_the_answers_functions_past_a_stray_line():
    nb = nbformat.v4.new_notebook()
    lesson = nbformat.v4.new_code_cell("import math\nmodel = train()\nfrom os import path as _p")
    answer = nbformat.v4.new_code_cell("print(model)\nK = 2\ndef f(x):\n    return math.sqrt(x) * K\n")
    answer.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "ex_f", "locked": False}
    test = nbformat.v4.new_code_cell(
        "assert f(4) == 4\n### BEGIN HIDDEN TESTS\n# graded without: attnlab.a.b\nresult = f(9)\n### END HIDDEN TESTS"
    )
    test.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "test_f", "locked": True, "points": 1}
    nb.cells = [lesson, answer, test]
    apart = apart_notebook(nb, guarded_tests(nb))
    namespace: dict = {}
    for cell in apart.cells:
        exec(cell.source, namespace)
    assert namespace["result"] == 6.0  # the import and the def ran; the stray print and `model = train()` did not
    assert "model" not in namespace
    assert apart.cells[-1].source.splitlines()[3] == "result = f(9)"  # line numbers as in the test cell
    assert "assert f(4)" not in apart.cells[-1].source  # the visible part ran in the student's kernel


def _spelled(predicted: list[int], points: int, classes: int) -> list[float]:
    """The accuracies an honest probe reports for each labelling "all c" of the weighted points."""
    values = []
    for start in range(0, len(predicted), points):
        batch = torch.tensor(predicted[start : start + points])
        weights = 2 ** torch.arange(points)
        for c in range(classes):
            right = (batch == c).repeat_interleave(weights)  # (2**points - 1,)
            values.append(right.float().mean().item())  # float32, as the exercise computes it
    return values


def test_the_probe_is_judged_by_its_predictions_not_its_claim():
    labels = [0, 1, 2, 3, 3, 2, 1, 0, 0, 1] * 2
    params = {"labels": labels, "points": 10, "classes": 4, "threshold": 0.85}
    assert probe_predictions(_spelled(labels, 10, 4), params)  # every prediction right
    two_wrong = [(y + 1) % 4 if i in (3, 14) else y for i, y in enumerate(labels)]
    assert probe_predictions(_spelled(two_wrong, 10, 4), params)  # 18 of 20
    four_wrong = [(y + 1) % 4 if i in (3, 7, 14, 19) else y for i, y in enumerate(labels)]
    assert not probe_predictions(_spelled(four_wrong, 10, 4), params)  # 16 of 20: below 0.85
    assert not probe_predictions(_spelled([0] * 20, 10, 4), params)  # one class for everything: consistent, wrong
    assert not probe_predictions([0.95] * 8, params)  # a claimed accuracy spells no predictions
    assert not probe_predictions([1.0] * 8, params)  # every point in every class
    assert not probe_predictions([0.0] * 8, params)  # no point in any class
    assert not probe_predictions(_spelled(labels, 10, 4)[:-1], params)  # a missing call
    assert not probe_predictions([1, 0, 0, 0] * 2, params)  # ints are not what the exercise returns


@pytest.mark.skipif(bwrap_path() is None, reason="needs bubblewrap (bwrap)")
def test_in_the_sandbox_the_copy_takes_the_place_of_the_installed_library(tmp_path):
    build = strip_library(LIBRARY, ["attnlab.attribution.rollout.attention_rollout"], tmp_path)
    sandbox = Sandbox(slot=process_slot())
    runtime = sandbox.runtime_dir()
    # The installed source is what a student would read or exec to get the function back: it is out of sight.
    code = (
        "import pathlib, attnlab.attribution.rollout as r\n"
        "sources = ''.join(p.read_text() for p in pathlib.Path(r.__file__).parents[1].rglob('*.py'))\n"
        "print(r.__file__, 'baddbmm(rollout' in sources, 'is not available' in pathlib.Path(r.__file__).read_text())"
    )
    try:
        done = subprocess.run(
            sandbox.command([sys.executable, "-c", code], runtime, library=build), capture_output=True, text=True
        )
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
    assert done.stdout.split() == [str(LIBRARY / "attribution" / "rollout.py"), "False", "True"], done.stderr


LEAK = """
import glob, os

def leak():
    # what any code of the submission can read of its notebook in the graded-apart kernel
    found = glob.glob(os.path.expanduser("~/*.ipynb"))
    raise RuntimeError("".join(open(path).read() for path in found) or "no notebook found")
"""


@pytest.mark.slow
@pytest.mark.skipif(bwrap_path() is None, reason="needs bubblewrap (bwrap)")
def test_the_graded_apart_kernel_reads_no_hidden_test_in_its_notebook():
    from traitlets.config import Config

    from autograder.pipeline.guards import GradeApart

    nb = nbformat.v4.new_notebook()
    answer = nbformat.v4.new_code_cell(LEAK)
    answer.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "ex_leak", "locked": False}
    test = nbformat.v4.new_code_cell(
        "visible_check = 'the visible part'\n"
        "### BEGIN HIDDEN TESTS\n"
        "# graded without: attnlab.attribution.rollout.attention_rollout\n"
        "hidden_input = 'only-in-the-hidden-tests'\n"
        "leak()\n"
        "### END HIDDEN TESTS\n"
    )
    test.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "test_leak", "locked": True, "points": 1}
    nb.cells = [answer, test]
    nb, _ = GradeApart(config=Config()).preprocess(nb, {"metadata": {"path": "."}})
    [error] = [o for o in nb.cells[1].outputs if o.output_type == "error"]
    read = error.evalue
    assert "the visible part" in read and "def leak()" in read, read  # it found the notebook and read it
    assert "BEGIN HIDDEN TESTS" not in read and "END HIDDEN TESTS" not in read, read
    assert "only-in-the-hidden-tests" not in read and "graded without" not in read, read


def _guarded_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    answer = nbformat.v4.new_code_cell("def f():\n    return 1\n")
    answer.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "ex_f", "locked": False}
    test = nbformat.v4.new_code_cell(
        "assert f() == 1\n"
        "### BEGIN HIDDEN TESTS\n"
        "# graded without: attnlab.attribution.rollout.attention_rollout\n"
        "raise RuntimeError(f'the hidden part ran, f() = {f()}')\n"
        "### END HIDDEN TESTS\n"
    )
    test.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "test_f", "locked": True, "points": 1}
    nb.cells = [answer, test]
    return nb


def _errors(cell) -> list[str]:
    return [o.evalue for o in cell.outputs if o.output_type == "error"]


@pytest.mark.slow
def test_the_students_kernel_leaves_a_graded_apart_hidden_part_to_the_kernel_apart(tmp_path):
    from traitlets.config import Config

    from autograder.pipeline.guards import GradeApart
    from autograder.pipeline.preprocessors import RobustExecute

    config = Config()
    config.RobustExecute.sandbox = False  # what runs where does not depend on the sandbox
    config.RobustExecute.grade_apart_follows = True  # as the pipeline's settings say (nbgrader_api)
    resources = {"metadata": {"path": str(tmp_path)}}
    nb = _guarded_notebook()
    ran, _ = RobustExecute(config=config).preprocess(nb, resources)
    assert _errors(ran.cells[1]) == []  # the visible part ran and passed; the hidden part did not run here
    assert ran.cells[1].source == _guarded_notebook().cells[1].source  # the cell itself is whole
    judged, _ = GradeApart(config=config).preprocess(ran, resources)
    assert _errors(judged.cells[1]) == ["the hidden part ran, f() = 1"]  # it ran apart, on the answer's code
    config.GradeApart.enabled = False  # an instructor switches GradeApart off: the student's kernel runs it all
    whole, _ = RobustExecute(config=config).preprocess(_guarded_notebook(), resources)
    assert _errors(whole.cells[1]) == ["the hidden part ran, f() = 1"]
    del config.GradeApart.enabled, config.RobustExecute.grade_apart_follows  # a pipeline without GradeApart
    whole, _ = RobustExecute(config=config).preprocess(_guarded_notebook(), resources)
    assert _errors(whole.cells[1]) == ["the hidden part ran, f() = 1"]


def test_the_pipeline_tells_its_kernel_that_grade_apart_follows_it(course):
    # The student's kernel skips a graded-apart hidden part only because the next step runs it: the settings
    # every runner uses (check, the workers, nbgrader_config.py) say so exactly when the pipeline does.
    from autograder.pipeline.execution import RUN_STUDENT_CODE
    from autograder.pipeline.guards import GradeApart
    from autograder.pipeline.nbgrader_api import Execution, pipeline_settings
    from autograder.pipeline.preprocessors import RobustExecute

    follows = RUN_STUDENT_CODE[RUN_STUDENT_CODE.index(RobustExecute) + 1] is GradeApart
    for execution in (Execution(), Execution(sandbox=False, writable_cache=True)):
        assert pipeline_settings(course, execution)["RobustExecute"]["grade_apart_follows"] is follows is True
    assert RobustExecute().grade_apart_follows is False  # alone, or in another pipeline, it runs every cell whole
