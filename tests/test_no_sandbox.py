"""
Self-checks wherever Python runs: without bubblewrap (macOS, Windows, a Linux without user namespaces)
a student's own notebook is checked without a sandbox, with a note; grading still refuses. The student's
path (lab, check, the self-check cell) imports none of the modules only Linux has.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.course.notebooks import write_notebook
from autograder.release.example_submissions import solved_copy
from autograder.student.check import NO_SANDBOX_NOTE
from autograder.student.untouched import NOTHING_RUN

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = str(Path(sys.executable).parent)
LINUX_ONLY = ("resource", "fcntl", "pwd")
# Imported first by every Python started with it on PYTHONPATH: our packages may not import LINUX_ONLY.
# Third-party packages (nbgrader, say) choose by sys.platform themselves and are left alone.
BLOCKER = f"""
import sys
BLOCKED = {set(LINUX_ONLY)!r}
class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name not in BLOCKED:
            return None
        frame = sys._getframe(1)
        while frame is not None and frame.f_code.co_filename.startswith(("<frozen", __file__)):
            frame = frame.f_back
        if frame is not None and any(p in frame.f_code.co_filename for p in ("/attnlab/", "/autograder/")):
            raise ModuleNotFoundError(f"No module named {{name!r}} (as on Windows)", name=name)
        return None
sys.meta_path.insert(0, Blocked())
"""


@pytest.fixture(scope="module")
def solved_quiz(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("student") / "quiz.ipynb"
    release = nbformat.read(REPO / "quizzes" / "quiz.ipynb", as_version=4)
    write_notebook(solved_copy(release, nbformat.read(REPO / "solutions" / "quiz.ipynb", as_version=4)), path)
    return path


def _without_bwrap(tmp_path: Path, broken: bool = False) -> dict[str, str]:
    """An environment whose PATH has the course's Python and, if broken, a bwrap that cannot create a sandbox."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    if broken:  # what bwrap says on a Linux without unprivileged user namespaces
        (folder / "bwrap").write_text("#!/bin/sh\necho 'bwrap: No permissions to creating new namespace' >&2\nexit 1\n")
        (folder / "bwrap").chmod(0o755)
    return os.environ | {"PATH": os.pathsep.join([VENV_BIN, str(folder)])}


def _check(notebook: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "autograder", "--root", str(REPO), "check", *args, str(notebook)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize("broken", [False, True], ids=["bwrap absent", "bwrap unable to create a sandbox"])
def test_check_runs_without_a_sandbox_and_says_so(solved_quiz, tmp_path, broken):
    done = _check(solved_quiz, _without_bwrap(tmp_path, broken), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["notes"] == [NO_SANDBOX_NOTE] and result["score"] == result["max_score"] == 8


def test_grading_still_refuses_without_a_sandbox(solved_quiz, tmp_path):
    submissions = tmp_path / "submissions" / "ann" / "quiz"
    submissions.mkdir(parents=True)
    (submissions / "quiz.ipynb").write_bytes(solved_quiz.read_bytes())
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "--root", str(REPO), "grade", str(tmp_path / "submissions")]
        + ["--out", str(tmp_path / "out")],
        env=_without_bwrap(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 2 and "bubblewrap (bwrap) is not installed" in done.stderr
    assert "--no-sandbox" in done.stderr and "Traceback" not in done.stderr


def test_an_untouched_notebook_is_answered_without_running_it(tmp_path):
    done = _check(REPO / "lessons" / "00_tiny_transformer.ipynb", _without_bwrap(tmp_path), "--json")
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert [q["message"].startswith("not done yet") for q in result["questions"]] == [True, True]
    assert result["notes"] == [NOTHING_RUN]  # with or without a sandbox: nothing ran


def test_an_untouched_notebook_is_answered_without_nbgrader_or_torch(tmp_path):
    # Seconds of imports a student waiting on the self-check would pay for a verdict that needs neither.
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "class Blocked:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('nbgrader', 'torch'):\n"
        "            raise ModuleNotFoundError(f'{name} imported on the way to an untouched verdict', name=name)\n"
        "sys.meta_path.insert(0, Blocked())\n"
    )
    env = _without_bwrap(tmp_path) | {"PYTHONPATH": str(blocker)}
    done = _check(REPO / "lessons" / "00_tiny_transformer.ipynb", env, "--json")
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["notes"] == [NOTHING_RUN]


def test_the_students_path_imports_no_linux_only_module(solved_quiz, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCKER)
    env = _without_bwrap(tmp_path) | {"PYTHONPATH": str(blocker)}
    # The blocker works: the grading path does import them.
    grading = subprocess.run(
        [sys.executable, "-c", "import autograder.run.store"], env=env, capture_output=True, text=True
    )
    assert grading.returncode != 0 and "No module named 'fcntl' (as on Windows)" in grading.stderr
    # lab: the workspace and the JupyterLab command.
    course = tmp_path / "course"
    (course / "lessons").mkdir(parents=True)
    (course / "lessons" / "00_tiny_transformer.ipynb").write_bytes(
        (REPO / "lessons/00_tiny_transformer.ipynb").read_bytes()
    )
    lab = subprocess.run(
        [sys.executable, "-c", LAB_OUTSIDE_JUPYTER, str(course)], env=env, capture_output=True, text=True
    )
    assert lab.returncode == 0 and lab.stdout.strip() == "1", lab.stderr
    # check without a sandbox, and the self-check cell, which runs the same check in a process of its own.
    done = _check(solved_quiz, env, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["notes"] == [NO_SANDBOX_NOTE]
    cell = subprocess.run(
        [sys.executable, "-c", SELF_CHECK_OUTSIDE_JUPYTER],
        env=env | {"JPY_SESSION_NAME": str(solved_quiz)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert cell.returncode == 0, cell.stderr
    assert NO_SANDBOX_NOTE in cell.stdout and "8 / 8" in cell.stdout


# The self-check cell's function with IPython's display replaced by a print of the HTML it shows.
SELF_CHECK_OUTSIDE_JUPYTER = """
import IPython.display

class Shown:
    def update(self, html):
        print(html.data)

def display(html, display_id=False):
    print(html.data)
    return Shown()

IPython.display.display = display
from attnlab.selfcheck import check_this_notebook
check_this_notebook()
"""

LAB_OUTSIDE_JUPYTER = """
import sys
from pathlib import Path
from autograder.student.lab import lab_command, prepare_workspace
print(len(prepare_workspace(Path(sys.argv[1]))))
lab_command(Path(sys.argv[1]), [])
"""
