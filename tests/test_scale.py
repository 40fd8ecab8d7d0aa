"""
Grading a class in parallel, on a Dask cluster and into PostgreSQL, with real nbgrader and the sandbox:
every mode gives the same grades; a worker that dies loses nothing; unchanged submissions are kept;
the class report says how the class did.
"""

import csv
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest

from autograder.course.config import CourseError
from autograder.course.quizbank import COURSE_QUIZ, load_quizzes
from autograder.run.grade import GradeOptions, Selection, grade
from autograder.run.local_cluster import NOT_ROOT, LocalCluster, certificates, dask_command, free_port, tls_flags
from autograder.sandbox.bwrap import bwrap_path

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bwrap_path() is None, reason="needs bubblewrap (bwrap)")]
# Above what every cell of this class takes with three test workers on two cores: fay's 200,000 printed
# lines took 6 s alone and over 10 s there (the class holds no endless loop, so the limit costs nothing).
TIMEOUT = 30
# The example class's quizzes, without its slow looper, and one lesson, whose records travel through every mode
# too. Quizzes are quick to run; what these tests compare is the grading around them.
STUDENTS = ("ada", "ben", "cy", "eve", "fay", "gus")
LESSON = ("ben", "00_tiny_transformer")
PASSWORD = "pg-secret-of-the-grader"


@pytest.fixture(scope="module")
def klass(tmp_path_factory, course) -> Path:
    folder = tmp_path_factory.mktemp("class") / "submitted"
    for student in STUDENTS:
        shutil.copytree(course.examples_dir / student / "quiz", folder / student / "quiz")
    shutil.copytree(course.examples_dir.joinpath(*LESSON), folder.joinpath(*LESSON))
    # A submission slow enough that a worker can be killed while it runs it.
    slow = nbformat.read(course.examples_dir / "ada" / "quiz" / "quiz.ipynb", as_version=4)
    slow.cells.insert(3, nbformat.v4.new_code_cell("import time\ntime.sleep(6)"))
    (folder / "sam" / "quiz").mkdir(parents=True)
    nbformat.write(slow, folder / "sam" / "quiz" / "quiz.ipynb")
    return folder


def _grades(out: Path) -> str:
    return (out / "grades.csv").read_text()


def _feedback(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): p.read_text() for p in sorted((out / "feedback").rglob("*.html"))}


def _gradebook(url: str, course) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(url, course.course_id) as gb:
        return {
            (s.student.id, s.assignment.name, g.name): (g.auto_score, g.max_score, str(s.timestamp))
            for a in gb.assignments
            for s in gb.assignment_submissions(a.name)
            for n in s.notebooks
            for g in n.grades
        }


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory, course, klass):
    out = tmp_path_factory.mktemp("one") / "out"
    return grade(course, klass, out, GradeOptions(timeout=TIMEOUT, workers=1))


def test_two_workers_give_the_same_files_and_gradebook(tmp_path, course, klass, one_worker):
    lines = []
    two = grade(course, klass, tmp_path / "out", GradeOptions(timeout=TIMEOUT, workers=2, progress=lines.append))
    assert _grades(two.out) == _grades(one_worker.out)
    assert _feedback(two.out) == _feedback(one_worker.out)
    assert (two.out / "grades_wide.csv").read_text() == (one_worker.out / "grades_wide.csv").read_text()
    assert json.loads((two.out / "report.json").read_text()) == json.loads((one_worker.out / "report.json").read_text())
    one_db = _gradebook(f"sqlite:///{one_worker.out / 'gradebook.db'}", course)
    assert _gradebook(f"sqlite:///{two.out / 'gradebook.db'}", course) == one_db
    assert len(one_db) == sum(len(g.verdicts) for g in one_worker.graded if g.submission.path is not None)
    total = len(two.graded)
    assert sum(f"/{total}]" in line for line in lines) == total  # one line per finished submission


def test_unchanged_submissions_are_kept_and_changed_ones_regraded(tmp_path, course, klass):
    folder = tmp_path / "submitted"
    # Three students' quizzes: what is kept or regraded does not depend on what a notebook computes.
    for student in ("ada", "ben", "cy"):
        shutil.copytree(klass / student / "quiz", folder / student / "quiz")
    out = tmp_path / "out"
    first = grade(course, folder, out, GradeOptions(timeout=TIMEOUT))
    again = grade(course, folder, out, GradeOptions(timeout=TIMEOUT))
    assert again.regraded == [] and _grades(out) == _grades(first.out)
    last = load_quizzes(course.quiz_bank, course.shuffle_seed)[COURSE_QUIZ].questions[-1].variable
    quiz = folder / "ben" / "quiz" / "quiz.ipynb"
    quiz.write_text(quiz.read_text().replace(f'{last} = \\"', f'{last} = \\" ', 1))  # ben edits an answer
    changed = grade(course, folder, out, GradeOptions(timeout=TIMEOUT))
    assert [(g.submission.student, g.submission.assignment) for g in changed.regraded] == [("ben", "quiz")]
    one = grade(
        course, folder, out, GradeOptions(timeout=TIMEOUT, selection=Selection(students=frozenset({"cy"}), force=True))
    )
    assert [g.submission.student for g in one.regraded] == ["cy"]
    quizzes = grade(
        course,
        folder,
        out,
        GradeOptions(timeout=TIMEOUT, selection=Selection(assignments=frozenset({"quiz"}), force=True)),
    )
    assert {g.submission.assignment for g in quizzes.regraded} == {"quiz"}
    assert _grades(out) == _grades(first.out)


def test_the_class_report(one_worker, course):
    report = json.loads((one_worker.out / "report.json").read_text())
    quiz = report["assignments"]["quiz"]
    questions = load_quizzes(course.quiz_bank, course.shuffle_seed)[COURSE_QUIZ].questions
    assert quiz["submissions"] == 7 and len(quiz["items"]) == len(questions)
    ben = next(g for g in one_worker.graded if (g.submission.student, g.submission.assignment) == ("ben", "quiz"))
    last = questions[-1].test_id  # one ben answered wrong
    counts = next(o for o in quiz["options"] if o["item"] == last)
    chosen = {o["letter"]: o["chosen"] for o in counts["options"]}
    assert chosen[next(v.choice for v in ben.verdicts if v.question == last)] >= 1
    assert sum(chosen.values()) + counts["no_valid_answer"] == 7
    for item in quiz["items"]:
        assert 0 <= item["difficulty"] <= 1
        assert item["discrimination"] is None or -1 <= item["discrimination"] <= 1
    assert report["statuses"]["not_json"] == 1 and any(p["student"] == "gus" for p in report["problems"])
    html = (one_worker.out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(report["assignments"])
    with (one_worker.out / "grades_wide.csv").open() as f:
        rows = list(csv.reader(f))
    assert rows[0][0] == "Student ID" and rows[0][-1].startswith("Total")
    assert len(rows) == 1 + len(STUDENTS) + 1  # the slow student too
    ada = next(r for r in rows if r[0] == "ada")
    assert float(ada[-1]) == sum(float(x) for x in ada[1:-1] if x)


# --- A Dask cluster of real processes on this machine -----------------------------------------------


@pytest.fixture
def cluster(tmp_path, course):
    """Two worker processes over TLS, not root, from a copy without solutions/ (autograder/run/local_cluster.py)."""
    with LocalCluster(tmp_path / "cluster", course.root, workers=2) as address:
        yield address


def _kill_a_busy_worker(address: str, stop: threading.Event, killed: list) -> None:
    """Once some worker is running a task, kill its process (the nanny starts a new one)."""
    from distributed import Client

    with Client(address, timeout="30s") as client:
        while not stop.is_set() and not killed:
            busy = [w for w, keys in client.processing().items() if keys]
            if busy:
                time.sleep(2)  # well inside the task: the slow submission sleeps 6 s
                pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.2)


def test_a_dask_cluster_grades_the_same_even_when_a_worker_dies(tmp_path, course, klass, one_worker, cluster):
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_a_busy_worker, args=(cluster, stop, killed))
    killer.start()
    try:
        report = grade(course, klass, tmp_path / "out", GradeOptions(timeout=TIMEOUT, scheduler=cluster))
    finally:
        stop.set()
        killer.join()
    assert killed, "no worker was busy long enough to be killed"
    assert _grades(report.out) == _grades(one_worker.out)
    assert _feedback(report.out) == _feedback(one_worker.out)
    assert _gradebook(f"sqlite:///{report.out / 'gradebook.db'}", course) == _gradebook(
        f"sqlite:///{one_worker.out / 'gradebook.db'}", course
    )


def test_the_grader_reaches_a_cluster_only_over_tls_with_certificates(tmp_path, course, klass):
    with pytest.raises(CourseError, match="over TLS"):
        grade(course, klass, tmp_path / "plain", GradeOptions(timeout=TIMEOUT, scheduler="tcp://127.0.0.1:8786"))
    with pytest.raises(CourseError, match="certificates"):  # tls:// without credentials in Dask's configuration
        grade(course, klass, tmp_path / "bare", GradeOptions(timeout=TIMEOUT, scheduler="tls://127.0.0.1:8786"))


@pytest.mark.parametrize(
    "over_tls, as_root, says",
    [(False, False, "not over TLS"), (True, True, "runs as root"), (True, False, "answer key")],
)
def test_a_worker_refuses_to_start_without_tls_as_root_or_with_the_answer_key(tmp_path, over_tls, as_root, says):
    """This repository's own worker, which can read solutions/ (a copy on a grading host would not)."""
    if as_root and os.geteuid() != 0:
        pytest.skip("runs as root only when the tests do")
    flags, address = [], f"tcp://127.0.0.1:{free_port()}"
    if over_tls:
        flags, address = tls_flags(certificates(tmp_path / "tls")), f"tls://127.0.0.1:{free_port()}"
    as_user = NOT_ROOT if os.geteuid() == 0 and not as_root else []
    worker = dask_command("worker", address, "--no-nanny", "--no-dashboard", "--host", "127.0.0.1")
    done = subprocess.run(
        [*as_user, *worker, "--preload", "autograder.run.dask_worker", *flags],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 78 and says in done.stderr, done.stderr[-2000:]


# --- A PostgreSQL gradebook on a server of the test's own -------------------------------------------


def _postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


@pytest.fixture
def postgres():
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("needs PostgreSQL (Debian package postgresql)")
    home = Path(tempfile.mkdtemp(prefix="attnlab-pg-"))  # not under pytest's folder: the postgres user must reach it
    (home / "password").write_text(PASSWORD)
    as_postgres = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(home, "postgres", "postgres")
        shutil.chown(home / "password", "postgres", "postgres")
        as_postgres = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]
    (home / "password").chmod(0o600)
    port = free_port()

    def pg(*args: str) -> None:
        subprocess.run(as_postgres + [str(bin_dir / args[0]), *args[1:]], check=True, capture_output=True, cwd=home)

    pg("initdb", "-D", str(home / "data"), "-U", "grader", "--auth=scram-sha-256", f"--pwfile={home / 'password'}")
    pg(
        "pg_ctl",
        "-D",
        str(home / "data"),
        "-l",
        str(home / "log"),
        "-w",
        "-o",
        f"-h 127.0.0.1 -p {port} -k {home}",
        "start",
    )
    try:
        env = os.environ | {"PGPASSWORD": PASSWORD}
        subprocess.run(
            [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "grader", "gradebook"],
            check=True,
            capture_output=True,
            env=env,
        )
        yield f"postgresql://grader@127.0.0.1:{port}/gradebook"
    finally:
        pg("pg_ctl", "-D", str(home / "data"), "-m", "immediate", "stop")
        shutil.rmtree(home, ignore_errors=True)


def test_a_postgresql_gradebook_with_parallel_workers(tmp_path, course, klass, one_worker, postgres, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", PASSWORD)  # never on a command line, never in a file under OUT
    report = grade(course, klass, tmp_path / "out", GradeOptions(db_url=postgres, timeout=TIMEOUT, workers=2))
    assert _grades(report.out) == _grades(one_worker.out)
    assert _gradebook(postgres, course) == _gradebook(f"sqlite:///{one_worker.out / 'gradebook.db'}", course)
    for path in report.out.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path
    listing = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert PASSWORD not in listing
