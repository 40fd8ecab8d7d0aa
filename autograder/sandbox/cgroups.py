"""
A memory limit for a sandbox as a whole: a cgroup per kernel, when the grader may make one.

The rlimits set inside the sandbox (bwrap.py) count per process: a kernel with children may use the
address-space limit once per process. A cgroup counts every process of the sandbox together. One is
made when the grader runs as root on a system whose cgroup hierarchy is writable and offers the memory
controller: cgroup v2 (one hierarchy at /sys/fs/cgroup) or cgroup v1 (one hierarchy per controller,
/sys/fs/cgroup/memory and /sys/fs/cgroup/pids); otherwise `available()` is False and the per-process
limits are all there is (the README says what they mean). Groups are made in one folder for every
grader of the machine, below the hierarchy's root (in v2, a cgroup holding processes cannot hand
controllers to children).
"""

from __future__ import annotations

import os
import shutil
import signal
import time
import uuid
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PARENT = "attnlab-sandboxes"


def _v2(root: Path) -> bool:
    try:
        controllers = (root / "cgroup.controllers").read_text().split()
    except OSError:
        return False  # not a cgroup v2 hierarchy
    return "memory" in controllers and os.access(root, os.W_OK)


def _v1(root: Path) -> bool:
    memory = root / "memory"
    return (memory / "memory.limit_in_bytes").exists() and os.access(memory, os.W_OK)


def available(root: Path = ROOT) -> bool:
    """Can this process make memory-limited cgroups here?"""
    return os.geteuid() == 0 and (_v2(root) or _v1(root))


class SandboxGroup:
    """One sandbox's cgroup: a memory limit for all its processes together, no swap, a process limit."""

    def __init__(self, memory_bytes: int, processes: int, root: Path = ROOT) -> None:
        name = f"kernel-{uuid.uuid4().hex[:12]}"
        if _v2(root):
            self.folders = [self._make_v2(root, name, memory_bytes, processes)]
        else:
            self.folders = self._make_v1(root, name, memory_bytes, processes)

    @staticmethod
    def _make_v2(root: Path, name: str, memory_bytes: int, processes: int) -> Path:
        parent = root / PARENT
        parent.mkdir(exist_ok=True)
        for folder in (root, parent):  # children of each may be limited in memory and processes
            wanted = [c for c in ("memory", "pids") if c in (folder / "cgroup.controllers").read_text().split()]
            (folder / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in wanted))
        path = parent / name
        path.mkdir()
        (path / "memory.max").write_text(str(memory_bytes))
        _write_if_offered(path / "memory.swap.max", "0")
        _write_if_offered(path / "pids.max", str(processes))
        return path

    @staticmethod
    def _make_v1(root: Path, name: str, memory_bytes: int, processes: int) -> list[Path]:
        memory = root / "memory" / PARENT / name
        memory.mkdir(parents=True)
        (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
        # Memory and swap together no more than memory alone (offered when the kernel accounts swap).
        if (root / "memory" / "memory.memsw.limit_in_bytes").exists():
            (memory / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
        folders = [memory]
        if (root / "pids" / "cgroup.procs").exists():
            pids = root / "pids" / PARENT / name
            pids.mkdir(parents=True)
            (pids / "pids.max").write_text(str(processes))
            folders.append(pids)
        return folders

    @property
    def path(self) -> Path:
        """The group's folder in the memory hierarchy (v2: its only folder)."""
        return self.folders[0]

    @property
    def procs(self) -> list[Path]:
        """Writing a pid to each moves that process (and everything it starts later) into the group."""
        return [folder / "cgroup.procs" for folder in self.folders]

    def launcher(self) -> list[str]:
        """A command prefix that joins the group, then runs the rest of the command in it."""
        join = 'n=$0; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 1; shift; n=$((n - 1)); done; exec "$@"'
        return ["/bin/sh", "-c", join, str(len(self.procs)), *map(str, self.procs)]

    def remove(self) -> None:
        """Kill whatever is left in the group, and remove it."""
        for folder in self.folders:
            if (folder / "cgroup.kill").exists():  # v2 kills all at once
                _try_write(folder / "cgroup.kill", "1")
            else:
                _kill_listed(folder / "cgroup.procs")
            try:
                folder.rmdir()
            except OSError:
                # Not empty yet (its processes are dying), or a test's plain folder: removed as a folder.
                shutil.rmtree(folder, ignore_errors=True)


def _write_if_offered(path: Path, value: str) -> None:
    if path.exists():
        path.write_text(value)


def _try_write(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError:
        pass


def _kill_listed(procs: Path, wait: float = 2.0) -> None:
    """SIGKILL every process a v1 group lists, until it lists none (or `wait` seconds passed)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            pids = [int(p) for p in procs.read_text().split()]
        except (OSError, ValueError):
            return
        if not pids:
            return
        for pid in pids:
            if _in_group(pid, procs.parent.name):  # a pid listed in a plain file may be another process now
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if not any(_in_group(pid, procs.parent.name) for pid in pids):
            return
        time.sleep(0.02)


def _in_group(pid: int, name: str) -> bool:
    try:
        return f"/{PARENT}/{name}" in Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return False
