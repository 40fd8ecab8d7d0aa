"""
The kernel manager of every grading run: a normal jupyter_client kernel manager whose kernel process
is started inside the sandbox (autograder/sandbox/bwrap.py) and reached over `ipc` transport.

Only public jupyter_client interfaces are overridden: `format_kernel_cmd` (wrap the command),
`write_connection_file` (readable by the sandbox's uid), `start_kernel` (the kernel's own stdout and
stderr kept off the grader's terminal, no environment), `interrupt_kernel` (remember that a cell was
interrupted at its timeout), `kernel_spec` (interrupt by message: a signal would stop at bwrap) and
`cleanup_resources` (remove the kernel's folders) and `client` (a cap on the size of every message the
grader's sockets take: zmq refuses a larger one before reading it into memory and closes that channel;
RobustExecute then connects a new client).

The kernel binds its sockets in its own /tmp (a tmpfs of the sandbox): the connection file, read-only in
the sandbox, names that folder. Once they exist, and before any of the kernel's code runs, the grader
holds each socket by a descriptor reached through the sandbox's root (/proc/PID/root/tmp, the pid from
bwrap) and connects through links to those descriptors. So the kernel writes no host folder, whether the
grader runs as root or not, and a kernel that swaps its sockets for links to elsewhere (a socket of the
host, another kernel's) does not redirect the grader's reconnections.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import zmq
from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpec
from traitlets import Any, Int

from attnlab.settings import RECORDING_ENV
from autograder.sandbox import cgroups
from autograder.sandbox.bwrap import sandbox_pid

# Inside the sandbox: the kernel's sockets (/tmp/kernel-1, ...), in a tmpfs of its own.
KERNEL_SOCKETS_DIR = "/tmp"
KERNEL_SOCKETS = f"{KERNEL_SOCKETS_DIR}/kernel"


class SandboxedKernelManager(AsyncKernelManager):
    sandbox = Any(None, allow_none=True, help="a Sandbox, or None to run the kernel without one")
    notebook_copy = Any(None, allow_none=True, help="the notebook file to show read-only in the sandbox's home")
    interrupts = Int(0, help="how many times the kernel was interrupted (a cell ran past its timeout)")
    max_message_bytes = Int(32 * 2**20, help="largest message taken from the kernel; a larger one is dropped unread")
    library = Any(
        None, allow_none=True, help="a copy of attnlab the kernel imports instead (autograder/pipeline/guards.py)"
    )
    _runtime: Path | None = None

    _private: Path | None = None
    _group = None  # the kernel's cgroup (cgroups.py), when one can be made

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._socket_fds: list[int] = []  # O_PATH descriptors of the kernel's sockets (_hold_sockets)
        if self.sandbox is not None:
            # No network inside the sandbox: the kernel's sockets are files, reached through its root.
            self._runtime = self.sandbox.runtime_dir()
            self._private = Path(tempfile.mkdtemp(prefix="attnlab-kernel-args-"))  # the grader's only
            self.transport = "ipc"
            self._sockets.mkdir()
            self.ip = str(self._sockets / "kernel")
            self.connection_file = str(self._runtime / "kernel.json")

    @property
    def _sockets(self) -> Path:
        """The grader's names for the kernel's sockets: links to the descriptors it holds (_hold_sockets)."""
        return self._private / "sockets"

    @property
    def kernel_spec(self) -> KernelSpec | None:
        spec = super().kernel_spec
        if spec is not None and self.sandbox is not None and spec.interrupt_mode != "message":
            spec.interrupt_mode = "message"
        return spec

    def client(self, **kwargs):
        kc = super().client(**kwargs)
        self.context.setsockopt(zmq.MAXMSGSIZE, self.max_message_bytes)  # the control channel's
        # Default options of the client's own context: every channel it opens later (iopub, shell, stdin).
        kc.context.setsockopt(zmq.MAXMSGSIZE, self.max_message_bytes)
        return kc

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        command = super().format_kernel_cmd(extra_arguments)
        if self.sandbox is None:
            return command
        notebook = Path(self.notebook_copy) if self.notebook_copy else None
        self._info_file.unlink(missing_ok=True)  # a restart's bwrap writes its own
        wrapped = self.sandbox.command(
            command,
            self._runtime,
            notebook,
            args_file=self._private / "bwrap.args",
            library=self.library,
            info_file=self._info_file,
        )
        self._leave_group()  # a restart: the old kernel's group goes with it
        if self.sandbox.uid is not None and cgroups.available():
            limits = self.sandbox.limits
            self._group = cgroups.SandboxGroup(limits.memory_mb * 2**20, limits.processes)
            wrapped = self._group.launcher() + wrapped
        return wrapped

    def _leave_group(self) -> None:
        if self._group is not None:
            self._group.remove()
            self._group = None

    @property
    def _info_file(self) -> Path:
        return self._private / "bwrap.info"

    def write_connection_file(self, **kwargs) -> None:
        written = self._connection_file_written and os.path.exists(self.connection_file)
        super().write_connection_file(**kwargs)
        if self.sandbox is None or written:
            return
        # The kernel binds its sockets where it can write, in its own /tmp; the grader keeps its own name.
        path = Path(self.connection_file)
        info = json.loads(path.read_text())
        path.write_text(json.dumps(info | {"ip": KERNEL_SOCKETS}, indent=1))
        if self.sandbox.uid is not None:
            # Readable by the kernel's uid through its group, not writable: it is a file on the host's disk.
            os.chown(self.connection_file, 0, self.sandbox.uid)
            os.chmod(self.connection_file, 0o440)

    async def start_kernel(self, **kw) -> None:
        kw.setdefault("stdout", subprocess.DEVNULL)
        kw.setdefault("stderr", subprocess.DEVNULL)
        if self.sandbox is not None:
            kw["env"] = {}  # bwrap needs none, and sets the kernel's own; nothing of the grader's goes in
        else:
            kw["env"] = os.environ | {RECORDING_ENV: "1"}  # hidden tests hand their results out
            if self.library is not None:  # found before the installed attnlab (the kernel's folder holds none)
                kw["env"]["PYTHONPATH"] = os.pathsep.join(
                    [str(Path(self.library).parent), os.environ.get("PYTHONPATH", "")]
                )
        await super().start_kernel(**kw)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        # jupyter_client's documented override point, called at every start and restart, before the manager
        # connects its control socket.
        await super()._async_launch_kernel(kernel_cmd, **kw)
        if self.sandbox is not None:
            await self._hold_sockets()

    async def _hold_sockets(self, timeout: float = 60) -> None:
        """Once the kernel has bound its sockets, and before any of its code can run, take hold of each:
        an O_PATH descriptor of the socket itself, reached through the sandbox's root, and the grader's
        name for the socket a link to that descriptor. Every later connection (zmq's reconnects, a fresh
        heartbeat socket) reaches that very socket, even if the kernel puts a link elsewhere in its place."""
        self._release_sockets()
        process = self.provisioner.process
        deadline = time.monotonic() + timeout
        while (pid := sandbox_pid(self._info_file)) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                return  # bwrap failed or ended: the kernel is dead, and the caller finds out as it would anyway
            await asyncio.sleep(0.01)
        inside = Path(f"/proc/{pid}/root{KERNEL_SOCKETS_DIR}")
        for port in self.ports:
            while True:
                try:
                    fd = os.open(inside / f"kernel-{port}", os.O_PATH | os.O_NOFOLLOW)
                except OSError:  # not bound yet
                    if process.poll() is not None or time.monotonic() > deadline:
                        return
                    await asyncio.sleep(0.02)
                    continue
                if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                    os.close(fd)
                    return  # not the kernel's socket: connections fail, and the kernel counts as dead
                self._socket_fds.append(fd)
                (self._sockets / f"kernel-{port}").symlink_to(f"/proc/{os.getpid()}/fd/{fd}")
                break

    def _release_sockets(self) -> None:
        for fd in self._socket_fds:
            os.close(fd)
        self._socket_fds = []
        for link in self._sockets.iterdir():
            link.unlink()

    async def interrupt_kernel(self) -> None:
        self.interrupts += 1
        await super().interrupt_kernel()

    def runtime_file(self, name: str, text: str) -> Path:
        """A file written into this kernel's host folder (readable by the kernel), e.g. its notebook copy."""
        path = self._runtime / name
        path.write_text(text, encoding="utf-8")
        path.chmod(0o444)
        return path

    async def cleanup_resources(self, restart: bool = False) -> None:
        await super().cleanup_resources(restart=restart)
        if not restart and self._runtime is not None:
            self._release_sockets()
            self._leave_group()
            shutil.rmtree(self._runtime, ignore_errors=True)
            shutil.rmtree(self._private, ignore_errors=True)
