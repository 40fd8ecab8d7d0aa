"""
Two teaching assistants grading at once on one server: two `python -m autograder grade --workers 2`
processes started together, each on its own copy of one small class, grade as each does alone, and
no sandbox of one run shares a uid (a grading slot) with a sandbox of the other.
"""

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from test_integrity import Class

import autograder
from autograder.sandbox.bwrap import FIRST_SANDBOX_UID, bwrap_path

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bwrap_path() is None, reason="needs bubblewrap (bwrap)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes have uids of their own only when grading as root"),
]
ROOT = Path(autograder.__file__).resolve().parents[1]
TIMEOUT = 60
# Each kernel says who it runs as and when; the pause keeps both runs' kernels alive at the same time.
WHO = (
    "import os, time\n"
    "print('sandbox uid', os.getuid(), 'from', time.time(), flush=True)\n"
    "time.sleep(6)\n"
    "print('sandbox until', time.time(), flush=True)\n"
)


def _class(course, root: Path) -> Path:
    """Three quiz submissions with three different scores, each telling its sandbox's uid."""
    c = Class(course, root)
    assert c.all_right > 5
    for student, right in (("all_right", None), ("five_right", 5), ("none_right", 0)):
        c.add(student, "quiz", c.inject(c.quiz(right), WHO), 0)
    return c.folder


def _grade(submissions: Path, out: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "autograder", "grade", str(submissions), "--out", str(out)]
    command += ["--workers", "2", "--timeout", str(TIMEOUT), "--verbose"]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finished(run: subprocess.Popen) -> None:
    said, _ = run.communicate(timeout=900)
    assert run.returncode == 0, said


def _scores(out: Path) -> dict[tuple[str, str], tuple[str, str]]:
    """(student, question) -> (score, status), from grades.csv."""
    with (out / "grades.csv").open(newline="", encoding="utf-8") as f:
        return {(r["student_id"], r["question"]): (r["score"], r["status"]) for r in csv.DictReader(f)}


def _kernels(out: Path) -> list[tuple[int, float, float]]:
    """(uid, from, until) of every kernel of the run, as the kernels printed them in the graded notebooks."""
    found = []
    for path in sorted((out / "course" / "autograded").glob("*/quiz/quiz.ipynb")):
        nb = nbformat.read(path, as_version=4)
        text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
        lines = [line.split() for line in text.splitlines() if line.startswith("sandbox ")]
        (_, _, uid, _, start), (_, _, until) = lines
        found.append((int(uid), float(start), float(until)))
    return found


@pytest.fixture(scope="module")
def runs(tmp_path_factory, course):
    root = tmp_path_factory.mktemp("concurrent")
    first = _class(course, root / "first")
    second = root / "second" / "submitted"
    shutil.copytree(first, second)
    alone = _grade(first, root / "alone")
    _finished(alone)
    together = [_grade(first, root / "out_first"), _grade(second, root / "out_second")]
    for run in together:
        _finished(run)
    return root


def test_each_run_grades_as_the_class_does_alone(runs):
    alone = _scores(runs / "alone")
    assert {score for score, _ in alone.values()} == {"0", "1"} and {s for _, s in alone.values()} == {"ok"}
    by_student = {}
    for (student, _), (score, _) in alone.items():
        by_student[student] = by_student.get(student, 0) + int(score)
    assert by_student["five_right"] == 5 and by_student["none_right"] == 0 and by_student["all_right"] > 5
    assert _scores(runs / "out_first") == alone
    assert _scores(runs / "out_second") == alone


def test_the_two_runs_sandboxes_ran_at_once_under_different_uids(runs):
    first, second = _kernels(runs / "out_first"), _kernels(runs / "out_second")
    assert len(first) == len(second) == 3
    # The runs did overlap: some kernel of one was alive while a kernel of the other was.
    assert any(a_from < b_until and b_from < a_until for _, a_from, a_until in first for _, b_from, b_until in second)
    uids_first, uids_second = {uid for uid, _, _ in first}, {uid for uid, _, _ in second}
    assert all(uid > FIRST_SANDBOX_UID for uid in uids_first | uids_second)  # a slot's uid, never root's
    assert not uids_first & uids_second, (uids_first, uids_second)
