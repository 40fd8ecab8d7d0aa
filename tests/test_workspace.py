"""A student's work is never lost: `make lab` works in work/, and `build` (so `make demo`) never overwrites changes."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.course.notebooks import write_notebook
from autograder.release.build import KEPT_DIR, MANIFEST, build, digest, read_manifest, write_generated
from autograder.release.example_submissions import solved_copy
from autograder.run import demo
from autograder.student.lab import WORKSPACE, prepare_workspace

REPO = Path(__file__).resolve().parents[1]


def _course_copy(tmp_path: Path) -> Path:
    """A course repository of its own (sources, generated notebooks and their manifests), in tmp_path."""
    root = tmp_path / "course"
    for folder in ("solutions", "lessons", "quizzes"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns(KEPT_DIR))
    return root


def test_the_workspace_is_seeded_once_gains_new_notebooks_and_keeps_the_students(tmp_path):
    root = _course_copy(tmp_path)
    added = prepare_workspace(root)
    assert {p.relative_to(root / WORKSPACE).as_posix() for p in added} == {
        f"{folder}/{p.name}" for folder in ("lessons", "quizzes") for p in (root / folder).glob("*.ipynb")
    }
    mine = root / WORKSPACE / "lessons" / "00_tiny_transformer.ipynb"
    mine.write_text(mine.read_text().replace("YOUR CODE HERE", "my code"))
    answers = mine.read_bytes()
    (root / "lessons" / "00_tiny_transformer.ipynb").write_text("{}")  # the course's version changed
    shutil.copy(root / "lessons" / "01_attention_as_explanation.ipynb", root / "lessons" / "06_new_lesson.ipynb")
    assert prepare_workspace(root) == [root / WORKSPACE / "lessons" / "06_new_lesson.ipynb"]
    assert mine.read_bytes() == answers


def test_the_committed_manifests_record_the_committed_notebooks():
    # build's guard compares each notebook with the hash recorded here: a stale entry would make it keep
    # an untouched notebook aside, a missing one would make it keep every notebook aside.
    for folder in ("lessons", "quizzes"):
        recorded = read_manifest(REPO / folder)
        assert recorded == {p.name: digest(p.read_bytes()) for p in (REPO / folder).glob("*.ipynb")}, (
            f"{folder}/{MANIFEST} is stale: run `make build`"
        )


def test_build_moves_a_changed_notebook_aside_and_says_where(tmp_path):
    generated = nbformat.v4.new_notebook()
    target = tmp_path / "lessons" / "00.ipynb"
    recorded = {}
    assert write_generated(generated, target, recorded) is None
    assert write_generated(generated, target, recorded) is None  # untouched: rewritten, nothing kept
    target.write_text(target.read_text().replace('"cells": []', '"cells": [], "mine": 1'))
    changed = target.read_bytes()
    kept = write_generated(generated, target, recorded)
    assert kept is not None and kept.parent == tmp_path / "lessons" / KEPT_DIR and kept.read_bytes() == changed
    assert digest(target.read_bytes()) == recorded["00.ipynb"]
    assert nbformat.read(target, as_version=4) == generated


@pytest.mark.slow
def test_solved_work_in_the_workspace_survives_build_and_demo_and_checks_from_there(tmp_path):
    root = _course_copy(tmp_path)
    prepare_workspace(root)
    solved = {}
    for folder, name in (("lessons", "00_tiny_transformer"), ("quizzes", "quiz")):
        path = root / WORKSPACE / folder / f"{name}.ipynb"
        release = nbformat.read(path, as_version=4)
        write_notebook(solved_copy(release, nbformat.read(root / "solutions" / f"{name}.ipynb", as_version=4)), path)
        solved[path] = path.read_bytes()
    # The old habit: answers written in lessons/ itself.
    in_lessons = root / "lessons" / "00_tiny_transformer.ipynb"
    shutil.copy(root / WORKSPACE / "lessons" / "00_tiny_transformer.ipynb", in_lessons)
    assert demo.build is build  # `make demo` builds through this same function, which the CLI runs
    built = subprocess.run(
        [sys.executable, "-m", "autograder", "--root", str(root), "build"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    assert all(path.read_bytes() == data for path, data in solved.items()), "build changed the workspace"
    kept = list((root / "lessons" / KEPT_DIR).glob("00_tiny_transformer-*.ipynb"))
    assert len(kept) == 1 and kept[0].read_bytes() == solved[root / WORKSPACE / "lessons" / "00_tiny_transformer.ipynb"]
    assert f"kept in lessons/{KEPT_DIR}/{kept[0].name}" in built.stdout
    assert in_lessons.read_bytes() != kept[0].read_bytes()  # lessons/ holds the course's version again
    # A second build finds nothing changed: nothing more is kept.
    subprocess.run([sys.executable, "-m", "autograder", "--root", str(root), "build"], capture_output=True, check=True)
    assert len(list((root / "lessons" / KEPT_DIR).iterdir())) == 1
    # The check, from inside the workspace, finds the course in a parent folder.
    checked = subprocess.run(
        [sys.executable, "-m", "autograder", "check", "--json", "quiz.ipynb"],
        cwd=root / WORKSPACE / "quizzes",
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert checked.returncode == 0, checked.stderr
    result = json.loads(checked.stdout)
    assert result["score"] == result["max_score"] > 0
