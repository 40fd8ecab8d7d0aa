"""
Paths that are not plain: a course folder (and so its venv) reached through a symbolic link, names with
spaces and non-ASCII letters, a linked home. `check` and `grade` work there, and a kernel that cannot
start is told in one sentence with its cause.
"""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.course.notebooks import write_notebook
from autograder.release.example_submissions import solved_copy
from autograder.sandbox.bwrap import bwrap_path

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(bwrap_path() is None, reason="these paths matter to the sandbox: bubblewrap needed")


@pytest.fixture(scope="module")
def linked(tmp_path_factory) -> dict:
    """The course reached through a link whose name has a space and an accent, a linked home, and a solved
    quiz in a folder named likewise."""
    base = tmp_path_factory.mktemp("paths")
    course = base / "mes cours été"
    course.symlink_to(REPO, target_is_directory=True)
    real_home = base / "real home"
    real_home.mkdir()
    home = base / "home link"
    home.symlink_to(real_home, target_is_directory=True)
    folder = base / "devoirs à rendre"
    folder.mkdir()
    quiz = folder / "quiz.ipynb"
    release = nbformat.read(REPO / "quizzes" / "quiz.ipynb", as_version=4)
    write_notebook(solved_copy(release, nbformat.read(REPO / "solutions" / "quiz.ipynb", as_version=4)), quiz)
    # The venv's Python named through the link: the kernel is started by that name (sys.prefix keeps it).
    python = course / Path(sys.prefix).relative_to(REPO) / "bin" / "python"
    assert python.exists() and Path(os.path.abspath(python)) != python.resolve()
    env = os.environ | {"HOME": str(home), "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("ATTNLAB_CACHE_DIR", None)
    return {"course": course, "python": str(python), "quiz": quiz, "env": env, "base": base}


def _run(linked: dict, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [linked["python"], "-m", "autograder", "--root", str(linked["course"]), *args],
        env=env or linked["env"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=linked["base"],
    )


def test_check_through_a_linked_venv_course_and_home_with_spaces_and_accents(linked):
    done = _run(linked, "check", "--json", str(linked["quiz"]))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["score"] == result["max_score"] == 8 and result["notes"] == []  # in the sandbox


def test_grade_through_the_same_paths(linked):
    # Student ids are ASCII by the grader's own rule; the folders around them need not be.
    submitted = linked["base"] / "remises élèves" / "zoe" / "quiz"
    submitted.mkdir(parents=True)
    (submitted / "quiz.ipynb").write_bytes(linked["quiz"].read_bytes())
    out = linked["base"] / "notes de la classe"
    done = _run(linked, "grade", str(linked["base"] / "remises élèves"), "--out", str(out), "--workers", "1")
    assert done.returncode == 0, done.stderr
    with (out / "grades.csv").open(encoding="utf-8") as f:
        rows = [row for row in csv.DictReader(f) if row["student_id"] == "zoe"]
    assert rows and all(row["status"] == "ok" for row in rows), rows
    assert sum(float(row["score"]) for row in rows) == 8


BWRAP_SAYS = "bwrap: Can't mount proc on /newroot/proc: Operation not permitted"


@pytest.fixture
def broken_bwrap(linked, tmp_path) -> dict:
    """The environment of a host where bwrap passes the grader's probe but cannot build the kernel's
    sandbox (its /proc cannot be mounted)."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "bwrap").write_text(
        f'#!/bin/sh\nfor last; do :; done\n[ "$last" = true ] && exit 0\necho "{BWRAP_SAYS}" >&2\nexit 1\n'
    )
    (fake / "bwrap").chmod(0o755)
    return linked["env"] | {"PATH": f"{Path(linked['python']).parent}{os.pathsep}{fake}{os.pathsep}/usr/bin"}


def test_a_kernel_that_cannot_start_is_one_sentence_with_its_cause(linked, broken_bwrap):
    # The user reads bwrap's own words, not jupyter_client's traceback.
    done = _run(linked, "check", str(linked["quiz"]), env=broken_bwrap)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == f"error: the notebook's kernel could not start in the sandbox: {BWRAP_SAYS}"


def test_grade_says_once_why_no_kernel_started_and_marks_each_submission(linked, broken_bwrap):
    # A quiz needs no instructor's run, so the class reaches the workers: every submission's kernel fails.
    submitted = linked["base"] / "remises sans noyau" / "zoe" / "quiz"
    submitted.mkdir(parents=True)
    (submitted / "quiz.ipynb").write_bytes(linked["quiz"].read_bytes())
    out = linked["base"] / "notes sans noyau"
    done = _run(linked, "grade", str(submitted.parents[1]), "--out", str(out), "--workers", "1", env=broken_bwrap)
    assert done.returncode == 0 and "Traceback" not in done.stderr + done.stdout, done.stderr
    why = f"the notebook's kernel could not start in the sandbox: {BWRAP_SAYS}"
    assert f"not graded, the grader's fault, not the students': {why}" in done.stdout
    with (out / "grades.csv").open(encoding="utf-8") as f:
        rows = [row for row in csv.DictReader(f) if row["student_id"] == "zoe"]
    assert rows and all(row["status"] == "grading_failed" and BWRAP_SAYS in row["message"] for row in rows), rows
