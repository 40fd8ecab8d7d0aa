"""
An OS sandbox for every kernel that runs a student's code: bubblewrap (bwrap), one per kernel.

Inside, the kernel sees the system, the Python installation, the virtual environment, the course's
library and the cached mini-models, all read-only; a private /tmp and a private home folder (its
working folder, holding a read-only copy of the notebook), both small tmpfs; and one folder of its
own on the host, read-only, holding its connection file. It writes only to its two tmpfs folders: its
sockets are files in its own /tmp, which the grader reaches through the sandbox's root
(/proc/PID/root; `ipc` transport, since the sandbox has no network). It does not see the grader's
home, the course folder, the gradebook, other submissions, solutions/ or the grader's processes (own
pid namespace and /proc).

Limits: address space, processes, file size and core dumps through rlimits set inside (prlimit);
disk through the size of the tmpfs folders. Running as root, the kernel also drops to an unprivileged
uid (one per grading slot, which no other process of the machine holds: process_slot), so a process
limit applies and no root-owned file is writable. When the
kernel process is killed, bwrap's --die-with-parent and the pid namespace kill everything it started.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from attnlab.settings import CACHE_DIR_ENV, RECORDING_ENV
from autograder.course.config import CourseError, SandboxLimits

# Inside the sandbox: the kernel's home and working folder, and where the model cache appears.
HOME = "/home/student"
FIRST_SANDBOX_UID = 61000  # root only: slot n runs as uid 61000 + n
INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: `sudo apt-get install bubblewrap`; Fedora: `sudo dnf install "
    "bubblewrap`), or pass --no-sandbox (under nbgrader's own commands: --RobustExecute.sandbox=False) to run "
    "student code with your own rights (not recommended)"
)
MiB = 1024 * 1024


# Running as root, a slot is taken by holding a lock on its file here, for the life of the process.
SLOT_LOCKS = (
    Path("/run/lock/attnlab-sandbox-slots") if Path("/run/lock").is_dir() else Path("/tmp/attnlab-sandbox-slots")
)
MAX_SLOTS = 900
_held: dict[int, tuple[int, object]] = {}  # pid -> (slot, its open lock file)


def process_slot() -> int:
    """
    This process's grading slot: its sandboxes run as uid FIRST_SANDBOX_UID + slot. Running as root, the
    slot is one no other process of this machine holds (grading runs side by side, their workers, `check`,
    Dask workers on one host), so one's process limit never counts another's kernels; it is held until
    this process ends. Not running as root, kernels have no uid of their own and every slot is 0.
    """
    if os.geteuid() != 0:
        return 0
    pid = os.getpid()
    if pid not in _held:  # a forked child holds its parent's lock file, not a slot of its own
        _held.clear()
        _held[pid] = _take_a_slot()
    return _held[pid][0]


def _take_a_slot() -> tuple[int, object]:
    SLOT_LOCKS.mkdir(mode=0o700, parents=True, exist_ok=True)
    for slot in range(1, MAX_SLOTS + 1):
        lock = (SLOT_LOCKS / f"{slot}.lock").open("a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released by the system when the process ends
        except BlockingIOError:
            lock.close()
            continue
        return slot, lock
    raise CourseError(f"all {MAX_SLOTS} sandbox slots of this machine are taken by running graders; try again later")


def sandbox_pid(info_file: Path) -> int | None:
    """The host pid of a sandbox's pid 1, as bwrap writes it to its --info-fd once the sandbox exists, or
    None while it has not (completely) written it."""
    try:
        return int(json.loads(info_file.read_text())["child-pid"])
    except (OSError, ValueError, KeyError):
        return None


class SandboxUnavailable(CourseError):
    pass


@lru_cache(maxsize=1)
def bwrap_path() -> str | None:
    """The bwrap executable if it is installed and can create a sandbox on this machine, else None."""
    found = shutil.which("bwrap")
    if found is None:
        return None
    probe = subprocess.run(
        [found, "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", "--proc", "/proc", "true"], capture_output=True
    )
    return found if probe.returncode == 0 else None


def require_bwrap() -> str:
    found = bwrap_path()
    if found is None:
        why = "is not installed" if shutil.which("bwrap") is None else "is installed but cannot create a sandbox here"
        raise SandboxUnavailable(f"bubblewrap (bwrap) {why}, and student code only runs inside it: {INSTALL_HINT}")
    return found


def _model_cache() -> Path:
    from attnlab.settings import cache_dir  # the library decides where trained mini-models live

    return cache_dir()


def unsafe_model_cache(cache: Path, course_root: Path | None = None) -> str | None:
    """Why no sandbox may see this model cache (every sandbox reads it), or None when it is safe."""
    cache = cache.resolve()
    for pattern in ("*-grader/reference", "*/*-grader/reference", "reference"):
        for found in cache.glob(pattern):
            if found.is_dir() and any(found.glob("*.json")):
                return f"it holds the grader's results of the instructor's solutions ({found})"
    for secret in (Path.home(), course_root):
        if secret is not None and secret.resolve().is_relative_to(cache):
            return f"it holds {secret.resolve()}"
    return None


def require_safe_model_cache(course_root: Path | None = None) -> None:
    cache = _model_cache()
    why = unsafe_model_cache(cache, course_root)
    if why is not None:
        raise CourseError(
            f"the model cache {cache} (ATTNLAB_CACHE_DIR) cannot be shown to student code: {why}. "
            "Point ATTNLAB_CACHE_DIR at a folder of its own (the default is ~/.cache/attnlab)"
        )


@lru_cache(maxsize=1)
def _font_cache() -> tuple[Path, ...]:
    """Matplotlib's font list, built once by the grader: each sandbox would otherwise rebuild it."""
    import matplotlib
    from matplotlib import font_manager  # noqa: F401  (builds the list in the grader's cache if missing)

    return tuple(sorted(Path(matplotlib.get_cachedir()).glob("fontlist-v*.json")))


def _library_dir() -> Path:
    import attnlab

    return Path(attnlab.__file__).resolve().parent


def _system_mounts() -> list[str]:
    """/usr read-only, and the top-level links or folders (/bin, /lib, ...) that point into it."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        top = Path("/") / name
        if top.is_symlink():
            args += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            args += ["--ro-bind", str(top), str(top)]
    # The dynamic linker's cache; nothing else of /etc (no passwd, no hosts, no pip configuration).
    if Path("/etc/ld.so.cache").is_file():
        args += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    return args


def _parents(path: Path) -> list[str]:
    """bwrap creates missing parent folders as 0700; create them 0755 so an unprivileged uid can pass."""
    args = []
    for parent in reversed(path.parents[:-1]):  # without "/"
        args += ["--perms", "0755", "--dir", str(parent)]
    return args


def _bind(flag: str, path: Path) -> list[str]:
    return _parents(path) + [flag, str(path), str(path)]


@dataclass
class Sandbox:
    """How to wrap a kernel command in bwrap. One object serves every kernel of a grading slot."""

    limits: SandboxLimits = SandboxLimits()
    slot: int = 0  # grading slot (parallel worker); picks the unprivileged uid when running as root
    writable_cache: bool = False  # the instructor's own runs may train and cache the mini-models

    @property
    def uid(self) -> int | None:
        """The unprivileged uid the kernel drops to, when the grader runs as root and the code is a student's."""
        return FIRST_SANDBOX_UID + self.slot if os.geteuid() == 0 and not self.writable_cache else None

    def read_only_paths(self) -> list[Path]:
        python = Path(sys.base_prefix).resolve()
        venv = Path(sys.prefix).resolve()
        paths = [python] + ([venv] if venv != python else []) + [_library_dir()]
        return [p for p in paths if not any(p.is_relative_to(q) and p != q for q in paths)]

    def aliases(self) -> list[tuple[Path, Path]]:
        """(path as this process names it, its real path) of the read-only paths reached through a symbolic
        link (a linked venv, course folder or home): the kernel is started by the first, bound by the second."""
        import attnlab

        named = [Path(sys.prefix), Path(sys.base_prefix), Path(attnlab.__file__).parent]
        found = {}
        for path in named:
            alias = Path(os.path.abspath(path))
            if alias != alias.resolve():
                found[alias] = alias.resolve()
        return sorted(found.items())

    def runtime_dir(self) -> Path:
        """A fresh host folder for one kernel's connection file and notebook copy: the grader's, read-only
        inside, and readable by no other user of the machine (the kernel's uid reads it through its group)."""
        folder = Path(tempfile.mkdtemp(prefix="attnlab-kernel-"))
        if self.uid is not None:
            os.chown(folder, os.geteuid(), self.uid)
            folder.chmod(0o750)
        return folder

    def command(
        self,
        kernel_cmd: list[str],
        runtime: Path,
        notebook: Path | None = None,
        env: dict[str, str] | None = None,
        args_file: Path | None = None,
        library: Path | None = None,
        info_file: Path | None = None,
    ) -> list[str]:
        """
        kernel_cmd (python -m ipykernel_launcher -f CONNECTION) run inside the sandbox; `library`, a copy of
        attnlab, takes the place of the installed one (which is then out of sight). With args_file (a file
        the sandbox cannot see), bwrap's options (every host path it mounts) are written there and read
        from a file descriptor, so the sandbox's pid 1 (bwrap) shows only the command it runs inside; with
        info_file as well, bwrap writes there the host pid of the sandbox's pid 1 (`sandbox_pid`).
        """
        args = self._bwrap_args(kernel_cmd, runtime, notebook, env, library)
        if args_file is None:
            return args
        # bwrap takes its options from the file; the command, which runs inside, stays on its command line.
        end = args.index("--")
        options = args[1:end] + (["--info-fd", "4"] if info_file is not None else [])
        args_file.write_bytes(b"".join(arg.encode() + b"\0" for arg in options))
        args_file.chmod(0o600)
        info = str(info_file) if info_file is not None else "/dev/null"
        launch = 'f=$1; i=$2; shift 2; exec "$0" --args 3 "$@" 3< "$f" 4> "$i"'
        return ["/bin/sh", "-c", launch, args[0], str(args_file), info, *args[end:]]

    def _bwrap_args(
        self,
        kernel_cmd: list[str],
        runtime: Path,
        notebook: Path | None,
        env: dict[str, str] | None,
        library: Path | None = None,
    ) -> list[str]:
        bwrap = require_bwrap()
        limits = self.limits
        args = [bwrap, "--die-with-parent", "--new-session", "--clearenv"]
        if self.uid is None:
            args += ["--unshare-all"]  # user namespace included: an unprivileged user gets one of its own
        else:
            args += [
                "--unshare-ipc",
                "--unshare-pid",
                "--unshare-net",
                "--unshare-uts",
                "--unshare-cgroup-try",
                "--cap-add",
                "CAP_SETUID",
                "--cap-add",
                "CAP_SETGID",
            ]  # only to drop to the sandbox uid
        # The private folders first: a read-only path may lie under /tmp (a clone in /tmp/fresh, say).
        size = str(limits.disk_mb * MiB)
        args += ["--size", size, "--perms", "1777", "--tmpfs", "/tmp"]
        args += ["--perms", "0755", "--dir", "/home", "--size", size, "--perms", "0777", "--tmpfs", HOME]
        args += _system_mounts() + ["--proc", "/proc", "--dev", "/dev"]
        for path in self.read_only_paths():
            args += _bind("--ro-bind", path)
        bound = self.read_only_paths()
        for alias, real in self.aliases():
            if not any(alias.is_relative_to(q) for q in bound):  # else the bind above shows it already
                args += _parents(alias) + ["--symlink", str(real), str(alias)]
        if library is not None:
            args += ["--ro-bind", str(library), str(_library_dir())]
        cache = _model_cache()
        if self.writable_cache:
            cache.mkdir(parents=True, exist_ok=True)
            args += _bind("--bind", cache)
        elif cache.is_dir():
            require_safe_model_cache()
            args += _bind("--ro-bind", cache)
        args += _bind("--ro-bind", runtime)
        args += ["--perms", "0777", "--dir", "/tmp/matplotlib"]
        for font_list in _font_cache():
            args += ["--ro-bind", str(font_list), f"/tmp/matplotlib/{font_list.name}"]
        if notebook is not None:
            args += ["--ro-bind", str(notebook), f"{HOME}/{notebook.name}"]
        # Writable: /tmp, the home and /dev/shm (shared memory), each a tmpfs of bounded size. Without a uid
        # of its own (a grader not running as root), the kernel owns bwrap's root and /dev: read-only too.
        args += ["--size", size, "--perms", "1777", "--tmpfs", "/dev/shm", "--remount-ro", "/dev", "--remount-ro", "/"]
        venv_bin = str(Path(sys.prefix) / "bin")
        inside_env = {
            "HOME": HOME,
            "PATH": f"{venv_bin}:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "MPLCONFIGDIR": "/tmp/matplotlib",
            "OMP_NUM_THREADS": "1",
            CACHE_DIR_ENV: str(cache),
            # The very library the grader binds comes first, whatever the venv's own paths point to (a
            # second copy of the course, an editable install of another checkout): only it is bound there.
            "PYTHONPATH": str(_library_dir().parent),
            RECORDING_ENV: "1",
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        }
        # The grader's choice of PyTorch CPU kernels (default, avx2, ...) is the kernel's too: runs under
        # a setting (CI, tests/test_cpu_kernels.py) must compute as they say. It is the grader's own variable.
        inside_env |= {k: os.environ[k] for k in ("ATEN_CPU_CAPABILITY",) if k in os.environ} | (env or {})
        for key, value in inside_env.items():
            args += ["--setenv", key, value]
        args += ["--chdir", HOME, "--"]
        if self.uid is not None:
            args += [
                "setpriv",
                f"--reuid={self.uid}",
                f"--regid={self.uid}",
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--",
            ]
        args += [
            "prlimit",
            f"--as={limits.memory_mb * MiB}",
            f"--nproc={limits.processes}",
            f"--fsize={limits.file_size_mb * MiB}",
            "--core=0",
            f"--nofile={limits.open_files}",
            "--",
        ]
        return args + kernel_cmd
