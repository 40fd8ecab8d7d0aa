"""The sandbox and the robust executor on small hand-made notebooks: each claim of the trust model, checked."""

import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograder.pipeline.nbgrader_api import Execution
from autograder.pipeline.preprocessors import stopped
from autograder.pipeline.running import run_notebook
from autograder.sandbox.bwrap import bwrap_path

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bwrap_path() is None, reason="needs bubblewrap (bwrap)")]


def run(course, *sources: str, timeout: int = 10, sandbox: bool = True, folder: Path | None = None):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    return run_notebook(course, nb, nb, folder or Path.cwd(), Execution(timeout=timeout, sandbox=sandbox))


def text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


def error(cell) -> str | None:
    return next((o.ename for o in cell.outputs if o.output_type == "error"), None)


@pytest.fixture(scope="module")
def isolation(course, tmp_path_factory):
    """One sandboxed notebook that probes everything it should not reach."""
    secret = tmp_path_factory.mktemp("grader") / "secret.txt"
    secret.write_text("the answer key")
    os.environ["ATTNLAB_GRADER_SECRET"] = "do-not-leak"
    try:
        nb = run(
            course,
            "import os, pathlib, socket, attnlab\n"
            "print(os.getcwd(), os.environ.get('HOME'), *sorted(p for p in os.listdir() if not p.startswith('.')))",
            f"print(pathlib.Path({str(secret)!r}).exists(), pathlib.Path({str(course.solutions_dir)!r}).exists(), "
            "pathlib.Path(attnlab.__file__).resolve().parents[1].joinpath('autograder').exists())",
            "print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))",
            "print('ATTNLAB_GRADER_SECRET' in os.environ, 'JPY_PARENT_PID' in os.environ)",
            "try:\n    socket.create_connection(('127.0.0.1', 22), timeout=1)\nexcept OSError as e:\n"
            "    print(type(e).__name__)",
            "try:\n    pathlib.Path(attnlab.__file__).write_text('x')\n"
            "except OSError as e:\n    print(type(e).__name__)",
            "try:\n    bytearray(6 * 1024 ** 3)\nexcept MemoryError:\n    print('MemoryError')",
            "try:\n    with open('big', 'wb') as f:\n        f.write(b'x' * 100 * 1024 ** 2)\nexcept OSError as e:\n"
            "    print(type(e).__name__)",
            "import subprocess, sys\nprocs = []\ntry:\n    for _ in range(400):\n"
            "        procs.append(subprocess.Popen(['sleep', '30']))\nexcept OSError as e:\n"
            "    print(type(e).__name__, len(procs) < 400)",
        )
    finally:
        del os.environ["ATTNLAB_GRADER_SECRET"]
    return [text(cell).strip() for cell in nb.cells]


def test_the_kernel_works_in_a_private_home_holding_only_its_notebook(isolation):
    cwd, home, *files = isolation[0].split()
    assert cwd == home == "/home/student"
    assert files == ["notebook.ipynb"]


def test_the_grader_files_solutions_and_autograder_are_invisible(isolation):
    assert isolation[1] == "False False False"


def test_the_kernel_sees_only_its_own_processes(isolation):
    assert max(eval(isolation[2])) < 100  # its own pid namespace: a handful of small pids


def test_nothing_of_the_graders_environment_reaches_the_kernel(isolation):
    assert isolation[3] == "False False"


def test_no_network_and_a_read_only_library(isolation):
    assert isolation[4] in ("OSError", "ConnectionRefusedError") or "Error" in isolation[4]
    assert isolation[5] == "OSError"


def test_memory_file_size_and_process_limits(isolation):
    assert isolation[6] == "MemoryError"
    assert isolation[7] == "OSError"  # 100 MB is past the 64 MB file limit
    assert isolation[8] == "BlockingIOError True"  # the process limit stops a fork storm


def test_an_interrupted_a_hung_and_a_dead_kernel_each_recover(course):
    start = time.monotonic()
    nb = run(
        course,
        "x = 1",
        "while True:\n    pass",  # interrupted at the timeout
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",  # ignores it
        "print(x + 1)",  # x survives: the cells before the restart were replayed
        "import os\nos._exit(1)",
        "print(x + 2)",
        timeout=2,
    )
    statuses = [(stopped(cell) or {}).get("status") for cell in nb.cells]
    assert statuses == [None, "timeout", "timeout", None, "kernel_died", None]
    assert text(nb.cells[3]) == "2\n" and text(nb.cells[5]) == "3\n"
    assert error(nb.cells[1]) == error(nb.cells[2]) == "CellTimeoutError"
    assert time.monotonic() - start < 40


def test_the_budget_stops_the_notebook(course):
    from dataclasses import replace

    nb = run(replace(course, budget=5), "import time\ntime.sleep(3)", "time.sleep(3)", "print('never')", timeout=10)
    statuses = [(stopped(cell) or {}).get("status") for cell in nb.cells]
    assert statuses == [None, "time_budget", "time_budget"]
    assert text(nb.cells[2]) == ""


def test_without_the_sandbox_the_kernel_runs_as_the_grader_and_still_records(course):
    from attnlab.protocol import RECORD_MIME
    from autograder.course.notebooks import nbgrader_metadata

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import os\nprint(os.getcwd())"),
        nbformat.v4.new_code_cell(
            "from attnlab.checks import record\nrecord('x', 1.5)",
            metadata={"nbgrader": nbgrader_metadata("test_x", grade=True, locked=True, points=1)},
        ),
    ]
    nb = run_notebook(course, nb, nb, Path("/tmp"), Execution(timeout=10, sandbox=False))
    assert text(nb.cells[0]).strip() == "/tmp"
    assert [RECORD_MIME in o.get("data", {}) for o in nb.cells[1].outputs] == [True]  # records stay in test cells


def test_the_kernel_imports_the_library_the_sandbox_binds(course, tmp_path, monkeypatch):
    """A grader that imported a second copy of the course (a clone as the working folder, PYTHONPATH) binds
    that copy into the sandbox; the kernel must import it, not the one the venv's install points to (which
    is not bound: every exercise then failed with NameError, status ok)."""
    import shutil

    import attnlab
    import autograder.sandbox.bwrap

    clone = tmp_path / "clone" / "attnlab"
    shutil.copytree(Path(attnlab.__file__).resolve().parent, clone, ignore=shutil.ignore_patterns("*.pt"))
    monkeypatch.setattr(autograder.sandbox.bwrap, "_library_dir", lambda: clone)
    nb = run(course, "import attnlab, os\nprint(os.path.dirname(attnlab.__file__))")
    assert text(nb.cells[0]).strip() == str(clone)


# Every mount the kernel sees, and which of them it can create a file in: (mount point, size limit in bytes).
WHERE_IT_WRITES = r"""
import os
written = set()
for line in open('/proc/self/mountinfo'):
    point, options = line.split()[4].replace('\\040', ' '), line.split(' - ')[1].split()[2]
    probe = os.path.join(point, '.attnlab-probe')
    try:
        with open(probe, 'x') as f:
            f.write('x')
    except OSError:
        continue
    os.remove(probe)
    size = next((int(o[5:].rstrip('k')) * 1024 for o in options.split(',') if o.startswith('size=')), None)
    written.add((point, size))
print(sorted(written), os.getuid())
"""
WRITABLE = {"/tmp", "/home/student", "/dev/shm"}


def _written(line: str) -> tuple[dict[str, int | None], int]:
    mounts, uid = line.rsplit(" ", 1)
    return dict(eval(mounts)), int(uid)


def test_the_kernel_writes_only_to_its_own_bounded_tmpfs_folders(course):
    """Not the folder of its connection file on the host (its sockets live in its own /tmp), nor bwrap's
    root or /dev: only /tmp, its home and /dev/shm, each no larger than the sandbox's disk limit."""
    nb = run(course, WHERE_IT_WRITES)
    written, _ = _written(text(nb.cells[0]).strip())
    assert set(written) == WRITABLE
    assert all(size is not None and size <= course.sandbox_limits.disk_mb * 2**20 for size in written.values())


NOT_ROOT = ["unshare", "--user", "--map-user=1000", "--map-group=1000"]


def _can_run_without_root() -> bool:
    try:
        done = subprocess.run([*NOT_ROOT, "true"], capture_output=True)
    except OSError:
        return False
    return done.returncode == 0


@pytest.mark.skipif(os.geteuid() != 0 or not _can_run_without_root(), reason="needs root and unshare --map-user")
def test_a_grader_without_root_runs_the_kernel_in_the_same_sandbox(tmp_path):
    """A grader that is not root (an instructor's own account) runs kernels with its own uid: they must be
    as confined as under root. Simulated as root in a user namespace where this process is uid 1000."""
    script = (
        "import nbformat, pathlib\n"
        "from autograder.course.config import load_config\n"
        "from autograder.pipeline.nbgrader_api import Execution\n"
        "from autograder.pipeline.running import run_notebook\n"
        "nb = nbformat.v4.new_notebook()\n"
        f"nb.cells = [nbformat.v4.new_code_cell({WHERE_IT_WRITES!r}), nbformat.v4.new_code_cell('print(6 * 7)')]\n"
        "nb = run_notebook(load_config(), nb, nb, pathlib.Path.cwd(), Execution(timeout=30, sandbox=True))\n"
        "for cell in nb.cells:\n"
        "    print(''.join(o.get('text', '') for o in cell.outputs).strip())\n"
    )
    done = subprocess.run(
        [*NOT_ROOT, sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    probe, answer = done.stdout.strip().splitlines()[-2:]
    written, uid = _written(probe)
    assert uid == 1000  # the grader's own uid: no uid of its own without root
    assert set(written) == WRITABLE
    assert answer == "42"


def test_a_kernel_that_swaps_its_sockets_for_links_does_not_redirect_the_grader(course, tmp_path):
    """The kernel owns the files of its sockets: it replaces them with links to a socket of the host (here
    one this test listens on; it could be another kernel's) and closes its own, so the grader's sockets
    reconnect. They must reconnect to nothing but the kernel's own sockets."""
    import socket
    import threading

    lure = tmp_path / "lure.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(lure))
    listener.listen(16)
    listener.settimeout(0.2)
    reached, stop = [], threading.Event()

    def serve():
        while not stop.is_set():
            try:
                reached.append(listener.accept()[0].recv(16))
            except OSError:
                pass

    server = threading.Thread(target=serve)
    server.start()
    attack = (
        "import json, os, sys, time\n"
        "info = json.load(open(sys.argv[sys.argv.index('-f') + 1]))\n"
        "for name in ('hb_port', 'stdin_port', 'shell_port', 'control_port'):\n"
        "    path = f\"{info['ip']}-{info[name]}\"\n"
        f"    os.unlink(path); os.symlink({str(lure)!r}, path)\n"
        "kernel = get_ipython().kernel\n"
        "kernel.parent.heartbeat.socket.close(linger=0)\n"
        "kernel.stdin_socket.close(linger=0)\n"
        "time.sleep(4)  # zmq reconnects every 0.1 s; the heartbeat makes a new socket after 3 s\n"
        "print('swapped')"
    )
    try:
        nb = run(course, attack, "print(6 * 7)", timeout=20)
    finally:
        stop.set()
        server.join()
        listener.close()
    assert text(nb.cells[0]) == "swapped\n" and text(nb.cells[1]) == "42\n"
    assert reached == []
