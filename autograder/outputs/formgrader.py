"""
`python -m autograder formgrader COURSE`: nbgrader's Formgrader on a course folder (`build/course`, or
OUT/course after `grade`), for the instructor only.

nbgrader 0.9 has no `formgrader` command: the Formgrader is a page of a Jupyter server started in the
course folder. This starts that server on 127.0.0.1 (reachable from this machine only; use an SSH
tunnel from elsewhere) with a token, opens on /formgrader, and without terminals: the server runs with
the instructor's rights, and a terminal there is a shell for anyone who gets hold of the page. It
refuses to run as root: what a student's notebook shows is rendered in this server's pages, and a root
server would turn any slip there into control of the machine.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from autograder.course.config import CourseError


def formgrader_command(course_dir: Path, port: int, allow_root: bool) -> list[str]:
    if not (course_dir / "nbgrader_config.py").is_file():
        raise CourseError(
            f"{course_dir} is not a course folder (no nbgrader_config.py): give build/course, or OUT/course after grade"
        )
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={course_dir.resolve()}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.open_browser=False",
        "--ServerApp.terminals_enabled=False",
        "--LabApp.default_url=/formgrader",
    ]
    if os.geteuid() == 0:
        if not allow_root:
            raise CourseError(
                "the Formgrader does not run as root: start it as your own user (it shows students' notebooks "
                "in its pages, with the server's rights); --allow-root overrides this"
            )
        command.append("--allow-root")
    return command


def formgrader(course_dir: Path, port: int, allow_root: bool) -> None:
    """Become the Jupyter server (Ctrl+C stops it, as for `jupyter lab`)."""
    command = formgrader_command(course_dir, port, allow_root)
    print(f"the Formgrader of {course_dir}: open the link with the token printed below (Ctrl+C stops it)", flush=True)
    os.chdir(course_dir)  # nbgrader reads nbgrader_config.py from the folder it runs in
    os.execv(command[0], command)
