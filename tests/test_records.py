"""The two halves of an exercise's grade: what a hidden test hands out of the kernel, and how the grader judges it."""

import base64
import fcntl
import io
import threading

import nbformat
import pytest
import torch

from attnlab.checks import encode_value, refusing
from attnlab.protocol import RECORD_MIME
from autograder.pipeline.records import Unreadable, decode, judge, read_records


def _cell(*payloads):
    outputs = [nbformat.v4.new_output("display_data", data={RECORD_MIME: p}) for p in payloads]
    return nbformat.v4.new_code_cell("", outputs=outputs)


def _payload(value, **how):
    return (
        {"name": "case", "hint": "", "verify": "close", "atol": 1e-5, "rtol": 1e-4, "params": {}}
        | how
        | {"value": encode_value(value)}
    )


def test_plain_values_round_trip():
    value = [torch.arange(6.0).view(2, 3), 1.5, 3, True, None, "B", (1, 2)]
    [record] = read_records(_cell(_payload(value)))
    decoded = record.value
    assert torch.equal(decoded[0], value[0]) and decoded[1:6] == [1.5, 3, True, None, "B"] and decoded[6] == [1, 2]


def test_anything_but_plain_data_is_unreadable():
    class Sneaky(float):
        def __eq__(self, other):
            return True

    assert isinstance(decode(encode_value(Sneaky(1.0))), Unreadable)
    assert isinstance(decode({"tensor": "not base64!"}), Unreadable)
    assert isinstance(decode({"json": {"a": 1}}), Unreadable)
    assert isinstance(decode({"json": 1, "extra": 2}), Unreadable)
    deep = {"json": 1}
    for _ in range(50):
        deep = {"list": [deep]}
    assert isinstance(decode(deep)[0], (Unreadable, list))  # never recurses without bound
    # A view that claims a billion elements over one float: refused before anything reads it.
    huge = torch.zeros(1).expand(10**9)
    buffer = io.BytesIO()
    torch.save(huge, buffer)
    assert isinstance(decode({"tensor": base64.b64encode(buffer.getvalue()).decode()}), Unreadable)


@pytest.mark.parametrize(
    "mine, expected, verify, passes",
    [
        (torch.ones(3), torch.ones(3) + 1e-7, "close", True),
        (torch.ones(3), torch.ones(3) + 1e-2, "close", False),
        (torch.ones(3), torch.ones(1, 3), "close", False),
        (torch.tensor(2.0), 2.0, "close", True),
        (True, 1, "close", False),
        ([1, 2], [1, 2], "equal", True),
        ([1, 2], [2, 1], "equal", False),
        (0.85, 0.99, "at_least", False),  # no longer a verifier: a threshold on the student's own claim
        ([0.9, 0.9], [0.5, 0.5], "all_equal", True),
        ([0.9, 0.8], [0.5, 0.5], "all_equal", False),
    ],
)
def test_judging_follows_the_instructors_record(mine, expected, verify, passes):
    [student] = read_records(_cell(_payload(mine)))
    [reference] = read_records(_cell(_payload(expected, verify=verify, params={"threshold": 0.8})))
    assert judge([student], [reference]).all_passed is passes


def test_the_student_cannot_choose_how_to_be_judged():
    # The student's record claims a huge tolerance; the instructor's record decides.
    [student] = read_records(_cell(_payload(torch.zeros(3), atol=1e9, verify="at_least")))
    [reference] = read_records(_cell(_payload(torch.ones(3))))
    assert not judge([student], [reference]).all_passed


def test_missing_or_extra_records_fail():
    [reference] = read_records(_cell(_payload(1.0)))
    assert not judge([], [reference]).all_passed
    two = read_records(_cell(_payload(1.0), _payload(1.0)))
    assert not judge(two, [reference]).all_passed
    assert not judge([], []).all_passed  # nothing to compare is never a pass


def test_refusing_switches_off_a_library_function_and_its_aliases():
    from attnlab.attribution import LeaveOneOut, attention_rollout

    alias = attention_rollout
    attentions = torch.rand(2, 1, 3, 3).softmax(-1)
    with refusing(attention_rollout, LeaveOneOut._attribute, message="write it yourself"):
        with pytest.raises(AssertionError, match="write it yourself"):
            alias(attentions)
        with pytest.raises(AssertionError, match="write it yourself"):
            LeaveOneOut._attribute.__wrapped__(None, None, None, None, None)  # a decorated method: its inner function
    assert alias(attentions).shape == (3, 3)  # restored afterwards


def test_record_is_silent_outside_grading(monkeypatch, capsys):
    from attnlab.checks import record

    monkeypatch.delenv("ATTNLAB_RECORD", raising=False)
    record("case", torch.ones(2))
    assert capsys.readouterr().out == ""


def test_a_run_that_needs_a_solution_another_run_is_computing_waits_for_its_records(course, tmp_path, monkeypatch):
    # Two gradings (or a grading and a `check`) of the same lesson at once run the instructor's solution once.
    import autograder.pipeline.reference
    from autograder.pipeline.nbgrader_api import Execution
    from autograder.pipeline.reference import cache_file, instructor_references, save

    runs = []
    monkeypatch.setattr(autograder.pipeline.reference, "run_notebook", lambda *args: runs.append(args))
    solution = course.solutions_dir / "00_tiny_transformer.ipynb"
    path = cache_file(tmp_path, solution.name, nbformat.read(solution, as_version=4))
    found = []
    waiting = threading.Thread(
        target=lambda: found.append(instructor_references(course, solution, tmp_path, Execution()))
    )
    with path.with_name(path.name + ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run is computing these records
        waiting.start()
        waiting.join(0.5)
        assert waiting.is_alive()  # it waits instead of running the solution a second time
        save(path, {"test_attention_probabilities": []})  # the other run's result
    waiting.join(30)
    assert runs == [] and found == [{"test_attention_probabilities": []}]
