"""
`python -m autograder lab` (what `make lab` runs): JupyterLab as a student should meet it.

- It serves the whole course repository and opens on lessons/: the quiz (quizzes/) is reachable too,
  and a terminal opened in JupyterLab starts in the repository, where the quiz's own instruction,
  `python -m autograder check quizzes/quiz.ipynb`, works as written.
- The course's Python comes first on PATH, for the kernels and for that terminal (whose shell would
  otherwise reset PATH: see student_jupyter/jupyter_server_config.py).
- Without nbgrader's instructor tools (its menu, Formgrader, Create Assignment, the Validate button)
  and without JupyterLab's news pop-up: the Jupyter configuration folder student_jupyter/ is put in
  front of the usual ones (JUPYTER_CONFIG_PATH), for this server only. An instructor who starts
  `jupyter lab` or `nbgrader formgrader` directly keeps every tool.

Extra arguments go to JupyterLab: `python -m autograder lab --port 9999 --no-browser`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

STUDENT_CONFIG = Path(__file__).resolve().parent / "student_jupyter"
OPENS_ON = "/lab/tree/lessons"
COURSE_PYTHON_BIN = str(Path(sys.executable).parent)


def lab_command(root: Path, extra: list[str]) -> tuple[list[str], dict[str, str]]:
    """The command that starts the students' JupyterLab on the repository `root`, and its environment."""
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={root.resolve()}",
        f"--LabApp.default_url={OPENS_ON}",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")  # JupyterLab refuses to start as root unless told
    config_path = [str(STUDENT_CONFIG)] + [p for p in os.environ.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p]
    env = os.environ | {
        "PATH": os.pathsep.join([COURSE_PYTHON_BIN, os.environ.get("PATH", "")]),
        "ATTNLAB_PYTHON_BIN": COURSE_PYTHON_BIN,  # read again by the terminal: student_jupyter/terminal_rc.sh
        "JUPYTER_CONFIG_PATH": os.pathsep.join(config_path),
    }
    return command + extra, env


def lab(root: Path, extra: list[str]) -> None:
    """Become the JupyterLab server (Ctrl+C behaves as it does for `jupyter lab`)."""
    command, env = lab_command(root, extra)
    os.execve(command[0], command, env)
