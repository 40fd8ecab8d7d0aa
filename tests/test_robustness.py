"""
No notebook can stop or starve a class's run: attacks on the grader itself (not on the grades), each a
submission beside honest classmates, graded together with `--workers 2`, through real nbgrader and the
sandbox. The honest students keep their full marks; the attackers get their own statuses; the grading
process stays small; nothing is left in the temporary folder.
"""

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest
from test_integrity import FIRST, Class, _cell

from attnlab.protocol import RECORD_MIME
from autograder.release.build import write_quiz_sources
from autograder.run.grade import GradeOptions, grade
from autograder.run.worker import WORKER_DIED, Outcome, Task, run_all, run_task
from autograder.sandbox.bwrap import bwrap_path

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bwrap_path() is None, reason="needs bubblewrap (bwrap)")]
TIMEOUT = 20
GiB = 2**30

# A record that inflates in whoever decodes it: torch.save's archive re-zipped with compression, so a
# few kB of base64 unpack into a 50 MB storage behind a 10-element tensor; twenty of them per test.
INFLATE = """
import base64, io, zipfile, torch
import attnlab.checks
big = io.BytesIO()
torch.save(torch.zeros(50_000_000, dtype=torch.uint8)[:10], big)
plain, packed = zipfile.ZipFile(io.BytesIO(big.getvalue())), io.BytesIO()
with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
    for name in plain.namelist():
        archive.writestr(name, plain.read(name))
PAYLOAD = {"tensor": base64.b64encode(packed.getvalue()).decode()}
_record = attnlab.checks.record
def record(name, value, **how):
    for _ in range(20):
        _record(name, value, **how)
attnlab.checks.encode_value = lambda value: PAYLOAD
attnlab.checks.record = record
"""
# One output message of 200 MB (a 1 GB one behaves the same, and costs the test's machine more).
FLOOD = "from IPython.display import display\ndisplay({'text/plain': 'x' * 200_000_000}, raw=True)"


def _bytes_of(nb) -> str:
    return nbformat.writes(nb)


def _attack_class(c: Class) -> None:
    c.add("hon_quiz", "quiz", c.quiz(), c.all_right)
    c.add("hon_first", FIRST, c.first_solved, sum(c.first_points.values()))
    # The inflated records cost the test cells of the kernel they were made in; collect_patterns is graded
    # apart (autograder/pipeline/guards.py), where only answer cells and its hidden test run: its honest answer counts.
    c.add(
        "a_inflate",
        FIRST,
        c.inject(c.first_solved, INFLATE, after=_first_answer(c)),
        c.first_points["test_collect_patterns"],
    )
    c.add("a_flood", "quiz", c.inject(c.quiz(), FLOOD), c.all_right, {"output_truncated"})
    # Cell metadata edited to claim points: an answer cell marked graded, and a made-up graded cell with no id.
    claims = c.quiz(5)
    answer = _cell(claims, c.questions[0].answer_id)
    answer.metadata["nbgrader"] |= {"grade": True, "points": 1e6}
    claims.cells.append(nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": {"grade": True, "points": 1e6}}))
    c.add("a_points", "quiz", claims, 5)
    # A file name of the student's choosing, which no CSV or feedback page repeats.
    c.add("a_name", "quiz", c.quiz(), c.all_right, {"renamed"}, file_name="=HYPERLINK(owned) quiz.ipynb")
    # Bytes no text editor makes, each in an otherwise honest notebook that gets its full marks.
    surrogate = c.quiz()
    surrogate.cells[0].source += "\n\ud800"
    text = json.dumps(nbformat.from_dict(surrogate))  # escaped: "\ud800" is valid JSON, invalid text
    c.add("a_surrogate", "quiz", text.encode(), c.all_right)
    huge = c.quiz()
    huge.metadata["seed"] = 0
    c.add("a_bigint", "quiz", _bytes_of(huge).replace('"seed": 0', '"seed": ' + "9" * 4301).encode(), c.all_right)
    c.add("a_bom", "quiz", b"\xef\xbb\xbf" + _bytes_of(c.quiz()).encode(), c.all_right)
    c.add("a_v3", "quiz", nbformat.writes(nbformat.convert(c.quiz(), 3), version=3).encode(), c.all_right)
    c.add(
        "a_v5", "quiz", _bytes_of(c.quiz()).replace('"nbformat": 4,', '"nbformat": 5,').encode(), 0, {"not_a_notebook"}
    )


def _first_answer(c: Class) -> str:
    return next(
        c.metadata["nbgrader"]["grade_id"]
        for c in c.first_solved.cells
        if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"
    )


@pytest.fixture(scope="module")
def graded(tmp_path_factory, course):
    root = tmp_path_factory.mktemp("robust")
    klass = Class(course, root)
    _attack_class(klass)
    with _private_tempdir() as temporary:
        report = grade(course, klass.folder, klass.out, GradeOptions(timeout=TIMEOUT, workers=2))
        left = list(temporary.iterdir())
    return klass, report, left


@contextmanager
def _private_tempdir() -> Iterator[Path]:
    """The grader's temporary folder for the test: one of its own, short (a kernel's socket path has a
    length limit), so what a run leaves behind is told apart from other processes' files."""
    folder = Path(tempfile.mkdtemp(prefix="at-", dir="/tmp"))
    saved, tempfile.tempdir = tempfile.tempdir, str(folder)
    try:
        yield folder
    finally:
        tempfile.tempdir = saved
        shutil.rmtree(folder, ignore_errors=True)


def _item(report, student):
    return next(g for g in report.graded if g.submission.student == student)


def test_every_submission_gets_its_score_and_status(graded):
    klass, report, _ = graded
    assert {g.submission.student for g in report.graded} == set(klass.expected)
    for student, (assignment, score, statuses) in klass.expected.items():
        item = _item(report, student)
        assert (item.submission.assignment, item.score) == (assignment, score), (student, item.verdicts)
        assert statuses <= set(item.submission.status), (student, item.status)
        if not statuses:
            assert item.status == "ok", (student, item.submission.notes)


def test_the_repairs_are_said_and_name_no_traceback(graded):
    _, report, _ = graded
    assert any("U+FFFD" in note for note in _item(report, "a_surrogate").submission.notes)
    assert any("4000 digits" in note for note in _item(report, "a_bigint").submission.notes)
    assert any("format 3" in note for note in _item(report, "a_v3").submission.notes)
    assert any("format 5" in note for note in _item(report, "a_v5").submission.notes)


def test_points_come_from_the_release_whatever_the_metadata_says(graded):
    klass, report, _ = graded
    honest, claimer = _item(report, "hon_quiz"), _item(report, "a_points")
    assert [(v.question, v.max_score) for v in claimer.verdicts] == [(v.question, v.max_score) for v in honest.verdicts]
    for name in ("grades.csv", "grades_wide.csv", "report.json", "report.html"):
        text = (klass.out / name).read_text()
        assert "1e+06" not in text and "1000000" not in text, name


def test_no_file_name_a_student_chose_reaches_the_csv_or_feedback(graded):
    klass, _, _ = graded
    for path in [klass.out / "grades.csv", *(klass.out / "feedback" / "a_name").rglob("*.html")]:
        assert "HYPERLINK" not in path.read_text(), path


def test_the_grading_process_stays_small(graded):
    # The grader decoded every record (the twenty inflating ones included) in this process.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 < GiB


def test_no_temporary_folder_is_left(graded):
    _, _, left = graded
    assert left == []


# --- A worker that dies takes only its submission ---------------------------------------------------


def dies_on_marked(task: Task) -> Outcome:
    """A task runner whose process dies on a marked submission, as one killed for its memory would."""
    import os

    if "attnlab-kill-my-worker" in task.notebook:
        os._exit(137)
    return run_task(task)


def test_a_worker_that_dies_takes_only_its_submission(tmp_path, course):
    from autograder.pipeline.nbgrader_api import Execution, pipeline_settings

    c = Class(course, tmp_path)
    source = write_quiz_sources(course, tmp_path)["quiz"].read_text()
    settings = pipeline_settings(course, Execution(timeout=TIMEOUT))
    tasks = [
        Task("killer/quiz", _bytes_of(c.inject(c.quiz(), "# attnlab-kill-my-worker")), source, settings),
        Task("hon_a/quiz", _bytes_of(c.quiz()), source, settings),
        Task("hon_b/quiz", _bytes_of(c.quiz()), source, settings),
    ]
    with _private_tempdir() as temporary:
        outcomes = {o.key: o for o in run_all(tasks, workers=2, runner=dies_on_marked)}
        left = list(temporary.iterdir())
    assert outcomes["killer/quiz"].failure == WORKER_DIED and outcomes["killer/quiz"].executed is None
    for key in ("hon_a/quiz", "hon_b/quiz"):
        assert outcomes[key].failure is None and outcomes[key].executed is not None
    assert left == []


# --- Records are bounded before they are decoded ----------------------------------------------------


def test_an_inflating_record_is_refused_unread():
    import base64
    import io
    import zipfile

    import torch

    from autograder.pipeline.records import Unreadable, decode, read_records

    big = io.BytesIO()
    torch.save(torch.zeros(5_000_000, dtype=torch.uint8)[:10], big)
    plain, packed = zipfile.ZipFile(io.BytesIO(big.getvalue())), io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in plain.namelist():
            archive.writestr(name, plain.read(name))
    assert isinstance(decode({"tensor": base64.b64encode(packed.getvalue()).decode()}), Unreadable)
    # Stored, not compressed, but a view of a storage far larger than it shows: only what it shows is kept.
    stored = decode({"tensor": base64.b64encode(big.getvalue()).decode()})
    assert isinstance(stored, Unreadable)  # 5 MB of archive: over the bound of one tensor
    small = io.BytesIO()
    torch.save(torch.arange(1000, dtype=torch.uint8)[:10], small)
    kept = decode({"tensor": base64.b64encode(small.getvalue()).decode()})
    assert torch.equal(kept, torch.arange(10, dtype=torch.uint8)) and kept.untyped_storage().nbytes() == 10
    # Many records, or many values in one, match nothing beyond their bounds.
    many = nbformat.v4.new_code_cell(
        "", outputs=[nbformat.v4.new_output("display_data", data={RECORD_MIME: {"value": {"json": 1}}})] * 100
    )
    records = read_records(many)
    assert len(records) == 65 and isinstance(records[-1].value, Unreadable)
    wide = {"list": [{"json": 1}] * 30_000}
    assert isinstance(decode(wide), Unreadable)


def _archive(tensor) -> bytes:
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(tensor, buffer)
    return buffer.getvalue()


def _child(code: str) -> list[str]:
    """A stand-in for the tensor reader's child, as a crashing or lying parser would behave."""
    return [sys.executable, "-c", "import sys, struct, json\n" + code]


@pytest.mark.parametrize(
    "child, says",
    [
        (_child("sys.stdin.buffer.read(9); sys.exit(-11)"), "the tensor reader died"),
        (_child("import time; sys.stdin.buffer.read(9); time.sleep(600)"), "the tensor reader hung"),
        (  # claims ten float32 elements, sends three bytes: nothing is taken on its word
            _child(
                "sys.stdin.buffer.read(9)\nh = json.dumps({'dtype': 'float32', 'shape': [10]}).encode()\n"
                "sys.stdout.buffer.write(struct.pack('>Q', len(h)) + h + struct.pack('>Q', 3) + b'abc')\n"
                "sys.stdout.buffer.flush(); sys.stdin.buffer.read()"
            ),
            "the tensor reader broke the protocol",
        ),
    ],
    ids=["dies", "hangs", "lies"],
)
def test_a_reader_that_dies_hangs_or_lies_costs_one_value_and_the_next_is_read(child, says):
    import torch

    from autograder.pipeline.tensor_reader import ReaderFailed, TensorReader

    reader = TensorReader(command=child, seconds=5)
    try:
        with pytest.raises(ReaderFailed, match=says):
            reader.read(_archive(torch.arange(10.0)), 1000)
        assert reader.child is None  # stopped, not left running
        fresh = TensorReader()  # the next read starts a fresh, real child (torch's import included in its time)
        reader.command, reader.seconds = fresh.command, fresh.seconds
        assert torch.equal(reader.read(_archive(torch.arange(10.0)), 1000), torch.arange(10.0))
    finally:
        reader.stop()


def test_records_are_read_on_after_the_reader_is_killed():
    import base64
    import os
    import signal

    import torch

    from autograder.pipeline.records import _reader, decode

    encoded = {"tensor": base64.b64encode(_archive(torch.eye(3, dtype=torch.float64))).decode()}
    assert torch.equal(decode(encoded), torch.eye(3, dtype=torch.float64))
    os.kill(_reader().child.pid, signal.SIGKILL)  # as a crash inside torch.load would end it
    _reader().child.wait()
    assert torch.equal(decode(encoded), torch.eye(3, dtype=torch.float64))
    # Tensors the hidden tests record come back with their type and shape, and nothing else is sent back.
    for value in (torch.tensor(True), torch.zeros(0, 4), torch.arange(6, dtype=torch.int16).reshape(2, 3)):
        back = decode({"tensor": base64.b64encode(_archive(value)).decode()})
        assert back.dtype == value.dtype and torch.equal(back, value)


# --- check on the same bytes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, says",
    [
        (lambda nb: _bytes_of(nb).replace('"nbformat": 4,', '"nbformat": 5,').encode(), "format 5"),
        (lambda nb: b"\xff\xfe" + _bytes_of(nb).encode("utf-16-le"), "not text"),
    ],
)
def test_check_refuses_unreadable_bytes_with_a_sentence(tmp_path, course, content, says):
    path = tmp_path / "quiz.ipynb"
    path.write_bytes(content(nbformat.read(course.quizzes_dir / "quiz.ipynb", as_version=4)))
    done = subprocess.run([sys.executable, "-m", "autograder", "check", str(path)], capture_output=True, text=True)
    assert done.returncode != 0 and says in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_check_reads_a_notebook_with_a_surrogate_and_a_huge_number(tmp_path, course):
    nb = nbformat.read(course.quizzes_dir / "quiz.ipynb", as_version=4)
    _cell(nb, "answer_1").source = 'ANSWER_1 = "\ud800"'
    nb.metadata["seed"] = 0
    text = json.dumps(nbformat.from_dict(nb)).replace('"seed": 0', '"seed": ' + "9" * 4301)
    path = tmp_path / "quiz.ipynb"
    path.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "check", str(path), "--json"], capture_output=True, text=True
    )
    assert "Traceback" not in done.stderr, done.stderr
    verdict = json.loads(done.stdout)  # a verdict (exit status 1: not everything passes)
    assert verdict["questions"][0]["score"] == 0 and verdict["max_score"] > 0


# --- Results that do not stick wrongly --------------------------------------------------------------


def test_a_grading_failure_is_never_kept_as_unchanged(tmp_path, course):
    c = Class(course, tmp_path)
    c.add("hon_all", "quiz", c.quiz(), c.all_right)
    c.add("hon_five", "quiz", c.quiz(5), 5)
    grade(course, c.folder, c.out, GradeOptions(timeout=TIMEOUT))
    # As a run whose sandboxes failed (another run's kernels on the same uids) stored it: 0, grading_failed.
    stored = c.out / "results" / "hon_all" / "quiz.json"
    data = json.loads(stored.read_text())
    data["status"], data["verdicts"] = ["grading_failed"], [v | {"score": 0.0} for v in data["verdicts"]]
    stored.write_text(json.dumps(data))
    again = grade(course, c.folder, c.out, GradeOptions(timeout=TIMEOUT))
    failed_before, untouched = _item(again, "hon_all"), _item(again, "hon_five")
    assert failed_before.regraded and (failed_before.score, failed_before.status) == (c.all_right, "ok")
    assert not untouched.regraded and untouched.score == 5


def test_the_regrade_fingerprint_holds_the_graders_code(tmp_path, monkeypatch):
    import autograder.run.store as grading
    from autograder.course.config import PACKAGE_DIR
    from autograder.pipeline.intake import Submission

    copy = tmp_path / "autograder"
    shutil.copytree(PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", "examples", "student_jupyter"))
    before = grading.grader_digest(copy)
    (copy / "outputs" / "templates" / "feedback.html.j2").write_text("{{ nothing }}")
    grading.grader_digest.cache_clear()  # read once per process; here the code changes within one
    assert grading.grader_digest(copy) != before
    submission = Submission("ada", "quiz", None)
    fingerprint = grading.fingerprint(submission, "inputs")
    monkeypatch.setattr(grading, "grader_digest", lambda: "another grader")
    assert grading.fingerprint(submission, "inputs") != fingerprint


# --- What the kernel sees and may write --------------------------------------------------------------

PROBE = """
import json, pathlib, sys
from ipykernel.kernelapp import IPKernelApp
copy = pathlib.Path("notebook.ipynb").read_text()
hidden = ["BEGIN " + "HIDDEN TESTS", "is not the " + "correct option"]  # spelled apart: this cell is in the copy
print("HIDDEN" if any(h in copy for h in hidden) else "no hidden tests")
print("pid 1:", pathlib.Path("/proc/1/cmdline").read_bytes().replace(b"\\0", b" ").decode())
try:
    with open(IPKernelApp.instance().connection_file, "a") as f:
        f.write(" " * 60_000_000)
    print("wrote to the host")
except OSError as e:
    print("blocked", type(e).__name__)
"""


def test_the_kernel_sees_no_hidden_test_no_host_path_and_cannot_write_its_connection_file(tmp_path, course):
    from autograder.pipeline.nbgrader_api import Execution
    from autograder.pipeline.results import verdicts
    from autograder.pipeline.running import run_notebook

    c = Class(course, tmp_path)
    source = nbformat.read(write_quiz_sources(course, tmp_path)["quiz"], as_version=4)
    nb = c.inject(c.quiz(), PROBE)
    executed = run_notebook(course, nb, source, tmp_path, Execution(timeout=TIMEOUT))
    said = "".join(o.get("text", "") for o in executed.cells[0].outputs if o.output_type == "stream").splitlines()
    assert said[0] == "no hidden tests"
    # Only the command it runs inside: none of the host paths bwrap mounts (model cache, fonts, the runtime folder).
    assert said[1].startswith("pid 1: ") and "--args 3 -- setpriv" in said[1], said[1]
    assert "bind" not in said[1] and "cache" not in said[1] and "fontlist" not in said[1], said[1]
    assert said[2] == "blocked PermissionError"
    found = verdicts(executed, list(c.questions))
    assert sum(v.score for v in found) == c.all_right  # the same notebook's answers are graded as usual


# --- Isolation between runs and limits that hold -----------------------------------------------------

HOLD_A_SLOT = """
import sys, time
from autograder.sandbox.bwrap import process_slot
print(process_slot(), flush=True)
sys.stdin.read()  # held until the test closes stdin
"""


@pytest.mark.skipif(__import__("os").geteuid() != 0, reason="slots are held only when grading as root")
def test_processes_grading_side_by_side_never_share_a_sandbox_uid():
    from autograder.sandbox.bwrap import process_slot

    holders = [
        subprocess.Popen([sys.executable, "-c", HOLD_A_SLOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    try:
        slots = [int(h.stdout.readline()) for h in holders]
        assert len({*slots, process_slot()}) == 4  # three graders and this one: four slots, four uids
    finally:
        for holder in holders:
            holder.stdin.close()
            holder.wait(timeout=30)
    again = subprocess.run([sys.executable, "-c", HOLD_A_SLOT], input="", capture_output=True, text=True)
    assert int(again.stdout) in slots  # a slot is free again once its process ended


def test_a_sandbox_cgroup_limits_every_process_of_the_kernel_together(tmp_path):
    from autograder.sandbox import cgroups

    root = tmp_path / "cgroup"  # a stand-in for /sys/fs/cgroup: the files a cgroup v2 hierarchy offers
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    (root / "cgroup.subtree_control").write_text("")
    (root / cgroups.PARENT).mkdir()
    (root / cgroups.PARENT / "cgroup.controllers").write_text("memory pids\n")
    group = cgroups.SandboxGroup(512 * 2**20, 64, root=root)
    assert (root / "cgroup.subtree_control").read_text() == "+memory +pids"
    assert (group.path / "memory.max").read_text() == str(512 * 2**20)
    # The launcher puts the kernel's first process in the group before it runs anything.
    done = subprocess.run([*group.launcher(), "/bin/sh", "-c", "echo $$"], capture_output=True, text=True)
    assert [procs.read_text().strip() for procs in group.procs] == [done.stdout.strip()]
    group.remove()
    assert not group.path.exists()


def test_a_cgroup_v1_sandbox_group_limits_memory_swap_and_processes(tmp_path):
    from autograder.sandbox import cgroups

    root = tmp_path / "cgroup"  # a stand-in for a cgroup v1 machine: one hierarchy per controller
    for name in ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "cgroup.procs"):
        (root / "memory").mkdir(parents=True, exist_ok=True)
        (root / "memory" / name).write_text("")
    (root / "pids").mkdir()
    (root / "pids" / "cgroup.procs").write_text("")
    group = cgroups.SandboxGroup(512 * 2**20, 64, root=root)
    memory, pids = group.folders
    assert memory.parent == root / "memory" / cgroups.PARENT and pids.parent == root / "pids" / cgroups.PARENT
    assert (memory / "memory.limit_in_bytes").read_text() == str(512 * 2**20)
    assert (memory / "memory.memsw.limit_in_bytes").read_text() == str(512 * 2**20)  # no swap beyond it
    assert (pids / "pids.max").read_text() == "64"
    # The kernel's first process joins both hierarchies before it runs anything.
    done = subprocess.run([*group.launcher(), "/bin/sh", "-c", "echo $$"], capture_output=True, text=True)
    assert [procs.read_text().strip() for procs in group.procs] == [done.stdout.strip()] * 2
    group.remove()
    assert not memory.exists() and not pids.exists()


def test_without_a_memory_controller_no_cgroup_is_used(tmp_path):
    from autograder.sandbox import cgroups

    assert not cgroups.available(tmp_path)  # neither cgroup v2 nor v1
    (tmp_path / "cgroup.controllers").write_text("cpu pids\n")
    assert not cgroups.available(tmp_path)  # cgroup v2 without the memory controller
    (tmp_path / "cgroup.controllers").unlink()
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text("")
    assert cgroups.available(tmp_path) == (os.geteuid() == 0)  # cgroup v1's memory controller, for root only


def _machine_cgroups() -> bool:
    from autograder.sandbox import cgroups

    return cgroups.available()


FORK_THREE = """
import subprocess, sys
grab = "b = bytearray({each}); b[::4096] = b'x' * len(b[::4096]); import time; time.sleep(3)"
children = [subprocess.Popen([sys.executable, '-c', grab]) for _ in range(3)]
print(sum(child.wait() == 0 for child in children))
"""


@pytest.mark.skipif(bwrap_path() is None, reason="needs bubblewrap (bwrap)")
@pytest.mark.skipif(not _machine_cgroups(), reason="needs root and a writable cgroup memory controller")
def test_on_this_machine_the_sandbox_limits_its_processes_memory_together(course):
    """Three children of a kernel, each within the per-process limit, together over the sandbox's memory:
    the group's limit stops them (the out-of-memory killer takes one); rlimits alone would let all three run."""
    from dataclasses import replace

    import nbformat

    from autograder.pipeline.nbgrader_api import Execution
    from autograder.pipeline.preprocessors import stopped
    from autograder.pipeline.running import run_notebook

    limit_mb = 1536
    limited = replace(course, sandbox_limits=replace(course.sandbox_limits, memory_mb=limit_mb))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(FORK_THREE.format(each=int(limit_mb * 0.45) * 2**20))]
    nb = run_notebook(limited, nb, nb, Path.cwd(), Execution(timeout=60, sandbox=True))
    said = "".join(o.get("text", "") for o in nb.cells[0].outputs if o.get("name") == "stdout").strip()
    died = (stopped(nb.cells[0]) or {}).get("status") == "kernel_died"
    assert died or said in ("0", "1", "2"), (said, nb.cells[0].outputs)


def test_a_model_cache_holding_the_graders_answers_is_refused(tmp_path, monkeypatch, course):
    from autograder.course.config import CourseError
    from autograder.pipeline.reference import references_cache

    root = tmp_path / "cache"  # ATTNLAB_CACHE_DIR set to the cache root: the grader's results sit inside it
    (root / "attnlab-grader" / "reference").mkdir(parents=True)
    (root / "attnlab-grader" / "reference" / "01_attention_as_explanation-0123.json").write_text("{}")
    monkeypatch.setenv("ATTNLAB_CACHE_DIR", str(root))
    with pytest.raises(CourseError, match="results of the instructor's solutions"):
        references_cache(course)
    monkeypatch.setenv("ATTNLAB_CACHE_DIR", str(course.root.parent))  # above the course: solutions/ inside
    with pytest.raises(CourseError, match="holds"):
        references_cache(course)
    monkeypatch.setenv("ATTNLAB_CACHE_DIR", str(tmp_path / "models"))  # a folder of its own
    assert references_cache(course) == tmp_path / "models-grader" / "reference"


def test_a_notebook_of_too_many_cells_is_refused_before_it_is_validated(tmp_path, monkeypatch):
    from autograder.course import notebooks

    monkeypatch.setattr(notebooks, "MAX_CELLS", 50)  # 20,000 in use: the same check, on a small file
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"x = {i}") for i in range(51)])
    path = tmp_path / "quiz.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(notebooks.NotANotebook, match="51 cells") as refused:
        notebooks.read_notebook(path)
    assert refused.value.status == "too_large"
    nb.cells.pop()
    nbformat.write(nb, path)
    assert len(notebooks.read_notebook(path)[0].cells) == 50
