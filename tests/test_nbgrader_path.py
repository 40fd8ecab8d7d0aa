"""
The course on nbgrader's own path, as an instructor on JupyterHub runs it: `build`, then nbgrader's
commands in the course folder, with a filesystem exchange and students who fetch, submit and fetch
their feedback. The scores must be the course's (the same as `python -m autograder grade`), and what
students get back must hold no hidden test, no answer key and no recorded input.

Students: on a JupyterHub whose single-user servers run as `jovyan` (DockerSpawner's images), nbgrader
names a student by JUPYTERHUB_USER. The test machine has no `jovyan` account, so the student commands run
with nbgrader's OS-user lookup answering "jovyan"; everything else is nbgrader as shipped.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.course.notebooks import grade_id_of, is_graded, points_of
from autograder.course.quizbank import answer_cell_number, load_quizzes
from autograder.release.build import build
from autograder.run.grade import GradeOptions, grade

pytestmark = pytest.mark.slow

COURSE_ID = "attention-interpretability"
BIN = Path(sys.executable).parent
LESSON = "01_attention_as_explanation"
STUDENT_COMMAND = (
    "import sys, nbgrader.utils as u; u.get_osusername = lambda: 'jovyan'; "
    "from nbgrader.apps.nbgraderapp import main; sys.exit(main())"
)
# Text that must never reach a student: hidden-test markers, the recording calls of hidden tests and
# their payloads, and the quiz key as the instructor's tests state it.
LEAKS = re.compile(r"BEGIN HIDDEN TESTS|record\(|vnd\.attnlab\.record|normalize_choice\(ANSWER_\d+\) ==")


def _run(command: list[str], cwd: Path, env: dict | None = None) -> str:
    done = subprocess.run(
        command,
        cwd=cwd,
        env=(env or os.environ) | {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
        text=True,
        capture_output=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def _instructor(course_dir: Path, exchange: Path, *args: str) -> str:
    return _run([str(BIN / "nbgrader"), *args, f"--Exchange.root={exchange}"], course_dir)


def _student(home: Path, exchange: Path, *args: str) -> str:
    env = os.environ | {"HOME": str(home), "JUPYTERHUB_USER": home.name}
    command = [sys.executable, "-c", STUDENT_COMMAND, *args, f"--course={COURSE_ID}", f"--Exchange.root={exchange}"]
    return _run(command, home, env)


def _answer_quiz(path: Path, letters: dict[int, str]) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        number = answer_cell_number(cell.metadata.get("nbgrader", {}).get("grade_id", ""))
        if number in letters:
            cell.source = f'ANSWER_{number} = "{letters[number]}"'
    nbformat.write(nb, path)


def _solve_lesson(path: Path, solution: Path, hard_code_first: bool) -> None:
    """Every exercise as the instructor solved it; the first, if asked, hard-coded to its visible example."""
    from autograder.release.example_submissions import solved_copy

    nb = solved_copy(nbformat.read(path, as_version=4), nbformat.read(solution, as_version=4))
    if hard_code_first:
        cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ex_attention_mass")
        cell.source = "def attention_mass_on(rows, rationale):\n    return torch.tensor([0.6, 0.5])\n"
    nbformat.write(nb, path)


def _points_by_test(solution: Path) -> dict[str, float]:
    """The lesson's graded cells and their points, as the instructor's source notebook sets them."""
    cells = nbformat.read(solution, as_version=4).cells
    return {grade_id_of(cell): points_of(cell) for cell in cells if is_graded(cell)}


def _nbgrader_scores(course_dir: Path, exchange: Path, tmp_path: Path) -> dict[tuple[str, str], float]:
    export = tmp_path / "export.csv"
    _instructor(course_dir, exchange, "export", f"--to={export}")
    with export.open(newline="") as f:
        return {(r["student_id"], r["assignment"]): float(r["score"]) for r in csv.DictReader(f) if r["timestamp"]}


@pytest.fixture(scope="module")
def hub(tmp_path_factory, course):
    """A course released, answered by two students, collected, autograded and returned, all by nbgrader."""
    root = tmp_path_factory.mktemp("hub")
    course_dir, exchange = root / "course", root / "exchange"
    exchange.mkdir()
    build(course, dest_root=root / "repo", course_dir=course_dir)
    key = {q.number: q.answer for q in load_quizzes(course.quiz_bank, course.shuffle_seed)["quiz"].questions}
    wrong = {n: "ABCD"[("ABCD".index(letter) + 1) % 4] for n, letter in key.items()}
    for assignment in ("quiz", LESSON):
        _instructor(course_dir, exchange, "release_assignment", assignment)
    homes = {name: root / name for name in ("stu1", "stu2")}
    for name, home in homes.items():
        home.mkdir()
        for assignment in ("quiz", LESSON):
            _student(home, exchange, "fetch_assignment", assignment)
        _answer_quiz(
            home / "quiz" / "quiz.ipynb", key if name == "stu1" else {1: key[1]} | {n: wrong[n] for n in key if n > 1}
        )
        _solve_lesson(home / LESSON / f"{LESSON}.ipynb", course.solutions_dir / f"{LESSON}.ipynb", name == "stu2")
        for assignment in ("quiz", LESSON):
            _student(home, exchange, "submit", assignment)
    for assignment in ("quiz", LESSON):
        _instructor(course_dir, exchange, "collect", assignment)
        _instructor(course_dir, exchange, "autograde", assignment)
        _instructor(course_dir, exchange, "generate_feedback", assignment)
        _instructor(course_dir, exchange, "release_feedback", assignment)
    for home in homes.values():
        for assignment in ("quiz", LESSON):
            _student(home, exchange, "fetch_feedback", assignment)
    return root, course_dir, exchange, homes


def test_nbgrader_autograde_gives_the_course_scores(hub, course, tmp_path):
    root, course_dir, exchange, _ = hub
    by_nbgrader = _nbgrader_scores(course_dir, exchange, tmp_path)
    points = _points_by_test(course.solutions_dir / f"{LESSON}.ipynb")
    full, hard_coded = sum(points.values()), sum(points.values()) - points["test_attention_mass"]
    assert by_nbgrader == {
        ("stu1", "quiz"): 8,
        ("stu2", "quiz"): 1,
        ("stu1", LESSON): full,
        ("stu2", LESSON): hard_coded,
    }
    report = grade(course, course_dir / "submitted", tmp_path / "out", GradeOptions(timeout=30, workers=1))
    by_grade = {(g.submission.student, g.submission.assignment): g.score for g in report.graded}
    assert by_grade == by_nbgrader


def test_what_students_fetch_back_holds_no_hidden_test_and_no_key(hub):
    _, _, _, homes = hub
    pages = [page for home in homes.values() for page in sorted(home.glob("*/feedback/*/*.html"))]
    assert len(pages) == 4  # two students, a quiz and a lesson each
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not LEAKS.search(text), (page, LEAKS.search(text).group(0))
    stu2_lesson = next(p for p in pages if "stu2" in str(p) and LESSON in str(p)).read_text(encoding="utf-8")
    assert "passes the visible checks but fails a hidden test" in stu2_lesson  # the verdict is said, not shown


def test_grade_feedback_goes_back_through_the_exchange(hub, course, tmp_path):
    """`grade` keeps what nbgrader's release_feedback needs: its feedback reaches the students."""
    root, course_dir, exchange, homes = hub
    out = tmp_path / "out"
    grade(course, course_dir / "submitted", out, GradeOptions(timeout=30, workers=1))
    _instructor(out / "course", exchange, "release_feedback", "quiz", f"--CourseDirectory.course_id={COURSE_ID}")
    before = set(homes["stu2"].glob("quiz/feedback/*/quiz.html"))
    _student(homes["stu2"], exchange, "fetch_feedback", "quiz")
    fetched = set(homes["stu2"].glob("quiz/feedback/*/quiz.html"))
    assert fetched, "release_feedback returned nothing from grade's course folder"
    page = max(fetched, key=lambda p: p.stat().st_mtime).read_text(encoding="utf-8")
    assert not LEAKS.search(page)
    assert before <= fetched


def test_nbgrader_generate_assignment_makes_the_release_build_makes(hub, course):
    root, course_dir, exchange, _ = hub
    for assignment, student_version in (("quiz", "quizzes/quiz.ipynb"), (LESSON, f"lessons/{LESSON}.ipynb")):
        _instructor(course_dir, exchange, "generate_assignment", assignment, "--force")
        released = nbformat.read(course_dir / "release" / assignment / f"{assignment}.ipynb", as_version=4)
        built = nbformat.read(root / "repo" / student_version, as_version=4)
        assert [c.source for c in released.cells] == [c.source for c in built.cells]


# --- Every example submission: `grade`, `nbgrader autograde` and the Formgrader's button agree --------

TIMEOUT = 10  # seconds per cell: dee's endless loop costs little


def _scores_in(db: Path, course_id: str) -> dict[tuple[str, str], dict[str, float]]:
    from nbgrader.api import Gradebook, SubmittedAssignment

    with Gradebook(f"sqlite:///{db}", course_id) as gb:
        return {
            (s.student_id, s.assignment.name): {g.name: g.score for nb in s.notebooks for g in nb.grades}
            for s in gb.db.query(SubmittedAssignment)
        }


@pytest.fixture(scope="module")
def graded_examples(tmp_path_factory, course):
    out = tmp_path_factory.mktemp("examples") / "out"
    report = grade(course, course.examples_dir, out, GradeOptions(timeout=TIMEOUT, workers=1))
    by_grade = {
        (g.submission.student, g.submission.assignment): {v.question: v.score for v in g.verdicts}
        for g in report.graded
        if g.submission.path is not None  # intake refused it: nbgrader never sees it
    }
    return out, by_grade


def test_nbgrader_autograde_in_grades_course_folder_gives_grades_scores(graded_examples, course):
    out, by_grade = graded_examples
    for assignment in sorted({assignment for _, assignment in by_grade}):
        _run(
            [str(BIN / "nbgrader"), "autograde", assignment, "--force", f"--Execute.timeout={TIMEOUT}"],
            out / "course",
        )
    assert _scores_in(out / "gradebook.db", course.course_id) == by_grade
    assert by_grade["max", LESSON]["test_attention_mass"] == 0  # the visible check passes, the hidden cases fail


def test_the_formgrader_autograde_button_gives_grades_scores(graded_examples, course, tmp_path):
    """The button is a POST to the Formgrader's API in a running Jupyter server, started as the README says."""
    import socket
    import time
    import urllib.request

    out, by_grade = graded_examples
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = "formgrader-test-token"
    server = subprocess.Popen(
        [sys.executable, "-m", "autograder", "formgrader", str(out / "course"), f"--port={port}", "--allow-root"],
        env=os.environ | {"JUPYTER_TOKEN": token, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        for student in ("max", "ben"):
            assignment = LESSON if student == "max" else "quiz"
            request = urllib.request.Request(
                f"{base}/formgrader/api/submission/{assignment}/{student}/autograde",
                data=b"{}",
                method="POST",
                headers={"Authorization": f"token {token}"},
            )
            with urllib.request.urlopen(request, timeout=600) as response:
                assert b'"success": true' in response.read().replace(b'"success":true', b'"success": true')
        terminals = urllib.request.Request(f"{base}/api/terminals", headers={"Authorization": f"token {token}"})
        with pytest.raises(urllib.error.HTTPError):  # no terminals on the instructor's Formgrader
            urllib.request.urlopen(terminals, timeout=10)
    finally:
        server.terminate()
        server.wait(timeout=30)
    scores = _scores_in(out / "gradebook.db", course.course_id)
    assert scores["max", LESSON] == by_grade["max", LESSON]
    assert scores["ben", "quiz"] == by_grade["ben", "quiz"]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root is refused")
def test_the_formgrader_refuses_to_run_as_root(course, tmp_path):
    from autograder.pipeline.course_folder import write_config_file

    write_config_file(course, tmp_path, "sqlite:///gradebook.db")
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "formgrader", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "does not run as root" in done.stderr
