"""
A memory limit for a sandbox as a whole: a cgroup v2 per kernel, when the grader may make one.

The rlimits set inside the sandbox (sandbox.py) count per process: a kernel with children may use the
address-space limit once per process. A cgroup counts every process of the sandbox together. One is
made when the grader runs as root on a system whose /sys/fs/cgroup is a writable cgroup v2 hierarchy
offering the memory controller; otherwise `available()` is False and the per-process limits are all
there is (the README says what they mean). The group is made below the hierarchy's root (a cgroup
holding processes cannot hand controllers to children), in one folder for every grader of the machine.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PARENT = "attnlab-sandboxes"


def available(root: Path = ROOT) -> bool:
    """Can this process make memory-limited cgroups here?"""
    try:
        controllers = (root / "cgroup.controllers").read_text().split()
    except OSError:
        return False  # not a cgroup v2 hierarchy (cgroup v1, or none)
    return os.geteuid() == 0 and "memory" in controllers and os.access(root, os.W_OK)


class SandboxGroup:
    """One sandbox's cgroup: memory.max for all its processes together, no swap, pids.max."""

    def __init__(self, memory_bytes: int, processes: int, root: Path = ROOT) -> None:
        parent = root / PARENT
        parent.mkdir(exist_ok=True)
        for folder in (root, parent):  # children of each may be limited in memory and processes
            wanted = [c for c in ("memory", "pids") if c in (folder / "cgroup.controllers").read_text().split()]
            (folder / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in wanted))
        self.path = parent / f"kernel-{uuid.uuid4().hex[:12]}"
        self.path.mkdir()
        (self.path / "memory.max").write_text(str(memory_bytes))
        for name, value in (("memory.swap.max", "0"), ("pids.max", str(processes))):
            if (self.path / name).exists():
                (self.path / name).write_text(value)

    @property
    def procs(self) -> Path:
        """Writing a pid here moves that process (and everything it starts later) into the group."""
        return self.path / "cgroup.procs"

    def launcher(self) -> list[str]:
        """A command prefix that joins the group, then runs the rest of the command in it."""
        return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.procs)]

    def remove(self) -> None:
        """Kill whatever is left in the group, and remove it."""
        kill = self.path / "cgroup.kill"
        try:
            if kill.exists():
                kill.write_text("1")
            self.path.rmdir()
        except OSError:
            # Not empty yet (its processes are dying), or a test's plain folder: removed as a folder.
            shutil.rmtree(self.path, ignore_errors=True)
