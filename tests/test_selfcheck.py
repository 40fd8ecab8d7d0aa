"""The self-check cell: it checks only the notebook JupyterLab has open, never while graded, and says why not."""

import subprocess
import sys
from pathlib import Path

import pytest

from attnlab import selfcheck
from attnlab.protocol import CHECK_NO_ANSWER_KEY

REPO = Path(__file__).resolve().parents[1]


def _saved(*cells: tuple[str, bool]) -> dict:
    """A saved notebook's JSON with these (source, is an exercise cell) code cells."""
    return {
        "cells": [
            {"cell_type": "code", "source": source, "metadata": {"nbgrader": {"solution": True}} if exercise else {}}
            for source, exercise in cells
        ]
    }


def test_unsaved_exercises_are_those_last_run_with_other_code():
    saved = _saved(("def f(x):\n    return x\n", True), ("PREDICTION = None\n", True), ("print(1)", False))
    history = ["", "import torch", "def f(x):\n    return x + 1", "PREDICTION = None", "print(2)"]
    assert selfcheck.unsaved_exercises(saved, history) == ["f"]
    assert selfcheck.unsaved_exercises(saved, history + ["def f(x):\n    return x\n"]) == []  # ran what is saved
    assert selfcheck.unsaved_exercises(saved, ["x = 1"]) == []  # never run: nothing to say
    assert selfcheck.unsaved_exercises(_saved(("def f(:", True)), ["def f(x): pass"]) == []  # broken: the check says


def test_it_does_nothing_while_the_notebook_is_graded(monkeypatch, capsys):
    monkeypatch.setenv("ATTNLAB_RECORD", "1")  # as in every grading kernel, sandboxed or not
    monkeypatch.setenv("JPY_SESSION_NAME", str(REPO / "lessons" / "00_tiny_transformer.ipynb"))
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("a check started inside a check"))
    selfcheck.check_this_notebook()
    assert capsys.readouterr().out.strip() == selfcheck.SKIPPED_WHILE_GRADED


def test_without_jupyterlab_it_says_how_to_check_from_a_terminal(monkeypatch, capsys):
    monkeypatch.delenv("ATTNLAB_RECORD", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    selfcheck.check_this_notebook()
    assert "python -m autograder check" in capsys.readouterr().out


def test_without_the_answer_key_check_exits_with_its_own_status(tmp_path):
    notebook = tmp_path / "00_tiny_transformer.ipynb"
    notebook.write_text((REPO / "lessons" / "00_tiny_transformer.ipynb").read_text())
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "--root", str(tmp_path), "check", "--html", str(notebook)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == CHECK_NO_ANSWER_KEY, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_the_html_verdict_names_each_exercise(course):
    notebook = course.examples_dir / "ben" / "00_tiny_transformer" / "00_tiny_transformer.ipynb"
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "check", "--html", str(notebook)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    assert done.returncode == 1, done.stderr
    assert "<b>Exercise 1: attention from queries and keys</b>" in done.stdout
    assert done.stdout.count("not done yet") == 2 and "HIDDEN" not in done.stdout


def test_the_self_check_cell_starts_without_importing_torch():
    # Every graded quiz runs this cell; importing torch would cost a quiz kernel more than all its answers.
    imported = subprocess.run(
        [sys.executable, "-c", "import sys, attnlab.selfcheck; print('torch' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert imported.stdout.strip() == "False"


def test_untouched_means_every_exercise_still_holds_what_build_put_there():
    stub = f"def f(x):\n    # YOUR CODE HERE\n    {selfcheck.STUB}\n"
    assert selfcheck.untouched(_saved((stub, True), ("print(1)", False)))
    assert selfcheck.untouched(_saved(("ANSWER_1 = None  # your letter\n# YOUR ANSWER HERE", True)))
    assert not selfcheck.untouched(_saved((stub, True), ('ANSWER_1 = "B"', True)))
    assert not selfcheck.untouched(_saved(("def f(x):\n    return x\n", True)))
    assert not selfcheck.untouched(_saved(("print(1)", False)))  # no exercise at all: nothing to say at once


def _runs(*executions: tuple[float, float, float]) -> selfcheck.Runs:
    """Runs after these (sent on the front end's clock, started, finished on the kernel's) executions."""
    runs = selfcheck.Runs()
    for sent, started, finished in executions:
        runs.started(sent, started)
        runs.finished(finished)
    return runs


@pytest.mark.parametrize("skew", [0.0, 3600.0, -3600.0])  # the browser's clock ahead, behind or right
def test_run_all_is_told_from_a_cell_run_on_its_own_whatever_the_clocks(skew):
    # Run All at t=100 (browser clock): three cells sent at once; the kernel runs them one after the other.
    run_all = _runs((100.0 - skew, 100.0, 103.0), (100.001 - skew, 103.0, 103.0004))
    run_all.started(100.002 - skew, 103.0005)  # the self-check: sent with the others, run last
    assert run_all.in_a_batch()
    # The same cells one at a time: each sent after the one before finished (at least a reaction later).
    alone = _runs((100.0 - skew, 100.0, 103.0), (103.3 - skew, 103.3, 103.3004))
    alone.started(104.0 - skew, 104.0)
    assert not alone.in_a_batch()
    # Nothing recorded before it (the first cell since the kernel started): it checks.
    first = selfcheck.Runs()
    first.started(100.0 - skew, 100.0)
    assert not first.in_a_batch()
