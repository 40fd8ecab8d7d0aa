"""The command line as a user meets it: verdicts to read or parse, and a message, never a traceback, for a mistake."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.course.quizbank import COURSE_QUIZ, load_quizzes

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "autograder", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def questions(course):
    return load_quizzes(course.quiz_bank, course.shuffle_seed)[COURSE_QUIZ].questions


def test_check_gives_a_verdict_and_an_explanation_per_question(course, questions):
    done = run("check", str(course.examples_dir / "ben" / "quiz" / "quiz.ipynb"))
    assert done.returncode == 1, done.stderr  # not everything passes
    n = len(questions)  # ben answers the first five right, the others wrong
    assert f"5 / {n}" in done.stdout
    assert done.stdout.count("✓") == 5 and done.stdout.count("✗") == n - 5
    assert done.stdout.count("why: ") == n
    assert "Traceback" not in done.stdout + done.stderr


def test_check_json_is_machine_readable(course, questions):
    done = run("check", "--json", str(course.examples_dir / "ada" / "quiz" / "quiz.ipynb"))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["assignment"] == "quiz" and result["score"] == result["max_score"] == len(questions)
    assert [q["question"] for q in result["questions"]] == [q.test_id for q in questions]
    assert all(q["passed"] and q["explanation"] for q in result["questions"])


def test_check_reports_an_unfinished_exercise_with_its_hint(course):
    done = run(
        "check", "--json", str(course.examples_dir / "ben" / "00_tiny_transformer" / "00_tiny_transformer.ipynb")
    )
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result["score"] == 0 and all("not done yet" in q["message"] for q in result["questions"])


@pytest.mark.parametrize(
    "args, says",
    [
        (["grade", "no/such/folder", "--out", "out"], "is not a folder"),
        (["check", "no/such.ipynb"], "no such notebook"),
        (["check", "autograder/release/examples/gus/quiz/quiz.ipynb"], "cannot be checked"),
        (["check", "README.md"], "cannot be checked"),
        (["grade", "autograder/release/examples", "--out", "out", "--timeout", "0"], "at least 1 second"),
    ],
)
def test_a_user_mistake_gets_a_message_not_a_traceback(tmp_path, args, says):
    args = [str(REPO / a) if "/" in a or a.endswith(".md") else a for a in args]
    args = [str(tmp_path / "out") if a == "out" else a for a in args]
    done = run(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and says in done.stderr
    assert "Traceback" not in done.stderr


def _readme_code() -> str:
    """Every command a reader can copy from the README: fenced blocks and `inline code`."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    fenced = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    return "\n".join(fenced + inline)


def test_every_command_the_readme_shows_exists():
    """Each `python -m autograder X`, `nbgrader X` and `make X` the README shows runs (with --help, or as a
    dry run): a command that does not exist (`nbgrader formgrader`, say) fails here, not for a reader."""
    code = _readme_code()
    ours = sorted(set(re.findall(r"python -m autograder ([a-z]+)", code)))
    theirs = sorted(set(re.findall(r"(?:^|&& )nbgrader ([a-z_]+)", code, re.M)))
    targets = sorted(set(re.findall(r"\bmake ([a-z][a-z-]*)", code)))
    assert {"build", "grade", "check", "formgrader"} <= set(ours) and {"autograde", "release_feedback"} <= set(theirs)
    for command in ours:
        assert run(command, "--help").returncode == 0, command
    nbgrader = Path(sys.executable).parent / "nbgrader"
    for command in theirs:
        shown = subprocess.run([str(nbgrader), command, "--help"], capture_output=True, text=True, timeout=120)
        # nbgrader answers an unknown subcommand with its general help, listing its subcommands.
        assert shown.returncode == 0 and "Subcommands\n====" not in shown.stdout, f"nbgrader {command}"
    for target in targets:
        dry = subprocess.run(["make", "-n", target], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert dry.returncode == 0, f"make {target}: {dry.stderr}"
