"""Our grading steps, on hand-made cells: answer pinning, output limits, restoring cells."""

import nbformat
import pytest

from autograder.notebooks import nbgrader_metadata
from autograder.preprocessors import PinChoiceAnswers, RestoreSourceCells, TruncateOutputs, written_answer


@pytest.mark.parametrize("source, literal", [
    ('ANSWER_1 = "B"', "B"),
    ('ANSWER_1 = None  # replace\nANSWER_1 = " c) "', " c) "),
    ('ANSWER_1: str = "d"', "d"),
    ('ANSWER_1 = "A"\nANSWER_1 = "B"', "B"),
    ('x = 1\nANSWER_2 = "A"\nANSWER_1 = "C"', "C"),
])
def test_the_last_literal_written_is_the_answer(source, literal):
    assert written_answer(source, "ANSWER_1").literal == literal


@pytest.mark.parametrize("source", [
    'ANSWER_1 = open("key.txt").read()',
    'ANSWER_1 = "B"\nANSWER_1 = ANSWER_1.lower()',
    'ANSWER_1 = Anything("B")',
    'ANSWER_1 = "A" + ""',
])
def test_an_answer_computed_at_run_time_is_refused_with_a_message(source):
    answer = written_answer(source, "ANSWER_1")
    assert answer.literal is None and "letter in quotes" in answer.problem


def test_unanswered_and_broken_cells():
    assert written_answer("ANSWER_1 = None\n# YOUR ANSWER HERE", "ANSWER_1") == written_answer("", "ANSWER_1")
    assert written_answer("ANSWER_1 = None", "ANSWER_1").problem is None
    assert "syntax error" in written_answer('ANSWER_1 = "B', "ANSWER_1").problem


def _quiz_cells(answer_source: str, test_source: str = "assert ANSWER_1 == 'B'"):
    nb = nbformat.v4.new_notebook()
    answer = nbformat.v4.new_code_cell(answer_source, metadata={"nbgrader": nbgrader_metadata("answer_1", solution=True)})
    test = nbformat.v4.new_code_cell(test_source, metadata={"nbgrader": nbgrader_metadata("q1", grade=True, locked=True, points=1)})
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
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * 1000),
                    nbformat.v4.new_output("display_data", data=dict(figure)),
                    nbformat.v4.new_output("display_data", data={"image/png": "A" * 5000, "text/plain": "<Figure>"})]
    cell, _ = TruncateOutputs(max_chars=100, max_data_chars=2000).preprocess_cell(cell, {}, 0)
    assert len(cell.outputs[0].text) < 200 and "truncated" in cell.outputs[0].text
    assert cell.outputs[1].data == figure  # a figure is larger than a line of text, and kept
    assert "image/png" not in cell.outputs[2].data and cell.outputs[2].data["text/plain"] == "<Figure>"


def test_restoring_cells_puts_tests_back_in_place_and_never_hands_out_a_solution():
    source = nbformat.v4.new_notebook()
    source.cells = [
        nbformat.v4.new_code_cell("def f():\n    return 1", metadata={"nbgrader": nbgrader_metadata("ex_f", solution=True)}),
        nbformat.v4.new_code_cell("assert f() == 1", metadata={"nbgrader": nbgrader_metadata("test_f", grade=True, locked=True, points=1)}),
        nbformat.v4.new_code_cell("def g():\n    return 2", metadata={"nbgrader": nbgrader_metadata("ex_g", solution=True)}),
        nbformat.v4.new_code_cell("assert g() == 2", metadata={"nbgrader": nbgrader_metadata("test_g", grade=True, locked=True, points=1)}),
    ]
    student = nbformat.v4.new_notebook()
    student.cells = [
        nbformat.v4.new_code_cell("def f():\n    return 0", metadata={"nbgrader": nbgrader_metadata("ex_f", solution=True)}),
        nbformat.v4.new_code_cell("assert True", metadata={"nbgrader": nbgrader_metadata("test_f", grade=True, locked=True, points=1)}),
        nbformat.v4.new_code_cell("print('my notes')"),
    ]
    nb, _ = RestoreSourceCells(source).preprocess(student, {})
    sources = [c.source for c in nb.cells]
    assert sources[0] == "def f():\n    return 0"  # the student's answer is kept
    assert sources[1] == "assert f() == 1"  # the edited test is restored
    assert sources[2].startswith("# (this answer cell was missing") and "return 2" not in sources[2]
    assert sources[3] == "assert g() == 2"
    assert sources[4] == "print('my notes')"
