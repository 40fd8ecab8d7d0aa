"""`python -m autograder build`: reproducible, and the student versions leak no solution or hidden test."""

import re
from pathlib import Path

import nbformat
import pytest

from autograder.course.assignments import assignments
from autograder.course.config import load_config
from autograder.course.notebooks import RAISES_TAG
from autograder.course.quizbank import load_quizzes
from autograder.course.student_cells import SELF_CHECK_IDS
from autograder.release.build import EXAMPLES_DIR, MANIFEST, build

pytestmark = pytest.mark.slow
REGION = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.S)


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory, course) -> Path:
    out = tmp_path_factory.mktemp("rebuilt")
    build(course, dest_root=out, course_dir=out / "course")
    return out


def _generated(root: Path) -> set[Path]:
    files = {p.relative_to(root) for p in (root / "solutions").glob("quiz*.ipynb")}
    files |= {p.relative_to(root) for p in (root / "quizzes").glob("*.ipynb")}
    files |= {p.relative_to(root) for p in (root / "lessons").glob("*.ipynb")}
    files |= {p.relative_to(root) for p in (root / EXAMPLES_DIR).rglob("*") if p.is_file()}
    return files


# The notebooks record the version of the Python that built them (as JupyterLab would): not a source.
PYTHON_VERSION = re.compile(r'"version": "\d+\.\d+\.\d+"')


def _without_python_version(data: bytes) -> bytes:
    return PYTHON_VERSION.sub('"version": "x.y.z"', data.decode("utf-8", errors="replace")).encode()


def test_regenerating_gives_no_diff(rebuilt, course):
    assert _generated(rebuilt) == _generated(course.root), "lessons/ or the examples are stale: run `make build`"
    for path in sorted(_generated(rebuilt)):
        assert _without_python_version((rebuilt / path).read_bytes()) == _without_python_version(
            (course.root / path).read_bytes()
        ), f"{path} differs: run `make build`"


def _secret_lines(source: nbformat.NotebookNode) -> set[str]:
    """Lines that exist only inside solution and hidden-test regions of the instructor notebook."""
    inside, outside = set(), set()
    for cell in source.cells:
        text = cell.source
        for match in REGION.finditer(text):
            inside |= {line.strip() for line in match.group(2).splitlines()}
        outside |= {line.strip() for line in REGION.sub("", text).splitlines()}
    return {line for line in inside - outside if len(line) > 6 and not line.startswith("#")}


def _leaked(secret: set[str], released: nbformat.NotebookNode) -> list[str]:
    """Secret lines found in the released notebook: whole lines, or inside a line (e.g. a hint in
    prose) when long enough that a match cannot be chance (`model(tokens)` is not a leak)."""
    text = "\n".join(cell.source for cell in released.cells)
    lines = {line.strip() for line in text.splitlines()}
    return sorted(line for line in secret if line in lines or (len(line) >= 16 and line in text))


@pytest.mark.parametrize("assignment", [a.id for a in assignments(load_config())])
def test_student_versions_hold_no_solution_and_no_hidden_test(course, assignment):
    found = {a.id: a for a in assignments(course)}[assignment]
    source = nbformat.read(found.source, as_version=4)
    released_text = (course.root / found.student_version).read_text()
    released = nbformat.reads(released_text, as_version=4)
    assert "BEGIN SOLUTION" not in released_text and "HIDDEN TESTS" not in released_text
    leaked = _leaked(_secret_lines(source), released)
    assert not leaked, f"{found.student_version} contains instructor lines: {leaked[:3]}"
    assert all(not cell.get("outputs") for cell in released.cells if cell.cell_type == "code")
    assert f"Generated from `{found.source.relative_to(course.root).as_posix()}`" in released.cells[0].source


@pytest.mark.parametrize("assignment", [a.id for a in assignments(load_config())])
def test_run_all_goes_past_unfinished_exercises_and_ends_on_the_self_check(rebuilt, course, assignment):
    found = {a.id: a for a in assignments(course)}[assignment]
    released = nbformat.read(rebuilt / found.student_version, as_version=4)
    exercise_cells = [
        c
        for c in released.cells
        if c.cell_type == "code"
        and (c.metadata.get("nbgrader", {}).get("grade") or c.metadata.get("nbgrader", {}).get("solution"))
    ]
    assert exercise_cells and all(RAISES_TAG in c.metadata.get("tags", []) for c in exercise_cells)
    assert [c.id for c in released.cells[-2:]] == list(SELF_CHECK_IDS)
    assert "check_this_notebook()" in released.cells[-1].source and not released.cells[-1].metadata.get("nbgrader")
    if not found.is_quiz:  # an unfinished exercise says so, in words, when it runs
        stubs = [c.source for c in exercise_cells if c.metadata.nbgrader.get("solution")]
        assert all('raise NotImplementedError("not done yet' in stub for stub in stubs)
        assert "**Your exercises**" in released.cells[0].source


def test_nbgrader_checksums_ignore_tags(course):
    from nbgrader.utils import compute_checksum

    released = nbformat.read(course.root / assignments(course)[0].student_version, as_version=4)
    tagged = [c for c in released.cells if RAISES_TAG in c.metadata.get("tags", []) and c.metadata.nbgrader.locked]
    assert tagged
    for cell in tagged:
        untagged = nbformat.from_dict(cell | {"metadata": cell.metadata | {"tags": []}})
        assert compute_checksum(untagged) == compute_checksum(cell) == cell.metadata.nbgrader.checksum


def test_notebooks_carry_the_kernel_metadata_jupyterlab_writes(rebuilt, course):
    """JupyterLab rewrites a notebook's kernelspec and language_info from its kernel when it opens it,
    and then asks to save an untouched notebook unless they are already exactly these."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    try:
        language_info = client.kernel_info(reply=True, timeout=60)["content"]["language_info"]
        display_name = manager.kernel_spec.display_name
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    for found in assignments(course):
        released = nbformat.read(rebuilt / found.student_version, as_version=4)
        assert released.metadata.language_info == language_info, found.student_version
        assert released.metadata.kernelspec == {"name": "python3", "display_name": display_name, "language": "python"}


@pytest.mark.parametrize("quiz_id", list(load_quizzes(load_config().quiz_bank, load_config().shuffle_seed)))
def test_every_quiz_lists_each_question_its_options_and_an_answer_and_test_cell(course, quiz_id):
    questions = load_quizzes(course.quiz_bank, course.shuffle_seed)[quiz_id].questions
    path = course.quizzes_dir / f"{quiz_id}.ipynb"
    quiz = nbformat.read(path, as_version=4)
    graded = [c for c in quiz.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert [c.metadata.nbgrader.grade_id for c in graded] == [q.test_id for q in questions]
    assert all(c.metadata.nbgrader.points == 1 for c in graded)
    for q in questions:
        question = next(c for c in quiz.cells if c.source.startswith(f"## Question {q.number}\n"))
        assert [line[:2] for line in question.source.splitlines() if re.match(r"^[A-D]\) ", line)] == [
            "A)",
            "B)",
            "C)",
            "D)",
        ]
        answer = next(c for c in quiz.cells if c.metadata.get("nbgrader", {}).get("grade_id") == q.answer_id)
        assert answer.source.startswith(f"{q.variable} = None")
    assert f"{len(questions)} question" in quiz.cells[1].source  # the intro counts what the bank holds
    # Not one hidden check survives, so the key cannot be read off the student version.
    assert not re.search(r'== "[A-D]"', path.read_text())


def test_sources_are_committed_without_outputs(course):
    for found in assignments(course):
        nb = nbformat.read(found.source, as_version=4)
        assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), found.source


def test_nothing_students_receive_holds_the_key(rebuilt, course):
    """Every file of lessons/, quizzes/ and nbgrader's release: notebooks only, with no solution, hidden test,
    recorded input, quiz key or option explanation (those are the self-check's, given after answering)."""
    from attnlab.protocol import RECORD_MIME

    received = [
        p for folder in ("lessons", "quizzes") for p in sorted((course.root / folder).rglob("*")) if p.is_file()
    ]
    received += [p for p in sorted((rebuilt / "course" / "release").rglob("*")) if p.is_file()]
    notebooks = [p for p in received if p.name != MANIFEST]  # the manifest: build's hashes of what it wrote
    assert notebooks and all(p.suffix == ".ipynb" for p in notebooks), [
        p.name for p in notebooks if p.suffix != ".ipynb"
    ]
    explanations = {
        option.explanation
        for quiz in load_quizzes(course.quiz_bank, course.shuffle_seed).values()
        for question in quiz.questions
        for option in question.options
        if len(option.explanation) >= 16
    }
    secret = re.compile(r"BEGIN SOLUTION|BEGIN HIDDEN|\brecord\(|correct\s*=\s*true|" + re.escape(RECORD_MIME), re.I)
    for path in received:
        text = path.read_text(encoding="utf-8")
        assert not secret.search(text), (path, secret.search(text).group(0))
        leaked = [e for e in explanations if e in text or e.replace('"', '\\"') in text]
        assert not leaked, (path, leaked[:1])
