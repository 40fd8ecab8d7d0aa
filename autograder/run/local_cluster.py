"""
A Dask cluster on this machine set up as the README's cluster section says, for the tests and the
benchmarks: a certificate authority and a certificate made with openssl, a scheduler and workers that
speak only TLS, workers started from a copy of the library and the grader without solutions/, not as
root, with the course's preload. The grader's side (Dask's TLS settings) is set while it runs.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

# Run as root on one machine, workers start in a user namespace of their own where they are uid 1000:
# not root (no capability on the host), as the README asks of a real cluster's workers.
NOT_ROOT = ["unshare", "--user", "--map-user=1000", "--map-group=1000"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def certificates(folder: Path) -> dict[str, str]:
    """A certificate authority and one certificate it signed for 127.0.0.1 (scheduler, workers and grader
    share it here; a real cluster gives each host its own), made with openssl as the README shows."""
    folder.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    ca = ["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=attnlab local CA"]
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", *ca)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "cert.csr", "-subj", "/CN=127.0.0.1")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    signed = ["-CAcreateserial", "-out", "cert.pem", "-days", "2", "-extfile", "san.ext"]
    openssl("x509", "-req", "-in", "cert.csr", "-CA", "ca.pem", "-CAkey", "ca.key", *signed)
    return {name: str(folder / f"{name}.pem") for name in ("ca", "cert", "key")}


def tls_flags(tls: dict[str, str]) -> list[str]:
    """The TLS options of `dask scheduler` and `dask worker`."""
    return ["--tls-ca-file", tls["ca"], "--tls-cert", tls["cert"], "--tls-key", tls["key"]]


def worker_install(folder: Path, root: Path) -> Path:
    """What a grading host holds: the library and the grader, not solutions/ (a worker that can read the
    answer key refuses to grade). Its Python finds them first on PYTHONPATH."""
    for package in ("attnlab", "autograder"):
        shutil.copytree(root / package, folder / package, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def dask_command(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "dask"), *args]


class LocalCluster:
    """`with LocalCluster(folder, course_root, workers=2) as address:` a scheduler and `workers` worker
    processes on 127.0.0.1 over TLS, and the grader's TLS settings; all stopped on exit."""

    def __init__(self, folder: Path, course_root: Path, workers: int = 2) -> None:
        self.folder, self.course_root, self.workers = folder, course_root, workers
        self.processes: list[subprocess.Popen] = []
        self._settings = ExitStack()

    def __enter__(self) -> str:
        import dask
        from distributed import Client

        tls = certificates(self.folder / "tls")
        address = f"tls://127.0.0.1:{free_port()}"
        env = os.environ | {"OMP_NUM_THREADS": "1", "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True"}
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "start_new_session": True}
        host = ["--host", "127.0.0.1", "--no-dashboard", *tls_flags(tls)]
        port = address.rsplit(":", 1)[1]
        self.processes.append(
            subprocess.Popen(dask_command("scheduler", "--protocol", "tls", "--port", port, *host), env=env, **quiet)
        )
        install = worker_install(self.folder / "host", self.course_root)
        worker = dask_command(
            "worker", address, "--nworkers", str(self.workers), "--nthreads", "1", *host,
            "--preload", "autograder.run.dask_worker", "--local-directory", str(self.folder / "dask"),
        )  # fmt: skip
        as_user = NOT_ROOT if os.geteuid() == 0 else []
        self.processes.append(subprocess.Popen(as_user + worker, env=env | {"PYTHONPATH": str(install)}, **quiet))
        self._settings.enter_context(
            dask.config.set(
                {
                    "distributed.comm.require-encryption": True,
                    "distributed.comm.tls.ca-file": tls["ca"],
                    "distributed.comm.tls.client.cert": tls["cert"],
                    "distributed.comm.tls.client.key": tls["key"],
                }
            )
        )
        try:
            with Client(address, timeout="60s") as client:
                client.wait_for_workers(self.workers, timeout=120)
        except BaseException:
            self.__exit__()
            raise
        return address

    def __exit__(self, *exc) -> None:
        self._settings.close()
        for process in reversed(self.processes):
            os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self.processes.clear()
