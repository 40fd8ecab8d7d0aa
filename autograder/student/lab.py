"""
`python -m autograder lab` (what `make lab` runs): JupyterLab as a student should meet it.

- The student works in a workspace of their own, `work/` (git-ignored): `work/lessons/` and
  `work/quizzes/`, copied from the generated `lessons/` and `quizzes/` the first time, with any
  notebook the course gained since added at each start. A notebook already in the workspace is never
  replaced: it may hold the student's answers. `build` and `demo` write only `lessons/` and `quizzes/`.
- It serves the whole course repository and opens on work/lessons/: the quizzes (work/quizzes/) are
  reachable too, and a terminal opened in JupyterLab starts in the repository, where
  `python -m autograder check work/quizzes/quiz.ipynb` works as written.
- The course's Python comes first on PATH, for the kernels and for that terminal (whose shell would
  otherwise reset PATH: see student_jupyter/jupyter_server_config.py).
- Without nbgrader's instructor tools (its menu, Formgrader, Create Assignment, the Validate button)
  and without JupyterLab's news pop-up: the Jupyter configuration folder student_jupyter/ is put in
  front of the usual ones (JUPYTER_CONFIG_PATH), for this server only. An instructor who starts
  `jupyter lab` or `nbgrader formgrader` directly keeps every tool.

Extra arguments go to JupyterLab: `python -m autograder lab --port 9999 --no-browser`.
Nothing here needs a Linux-only module: the workspace and the server work on macOS and Windows too.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

STUDENT_CONFIG = Path(__file__).resolve().parent / "student_jupyter"
WORKSPACE = "work"
SEEDED_FROM = ("lessons", "quizzes")  # each copied into WORKSPACE/<same name>
OPENS_ON = f"/lab/tree/{WORKSPACE}/lessons"
COURSE_PYTHON_BIN = str(Path(sys.executable).parent)


def prepare_workspace(root: Path) -> list[Path]:
    """Copy into root/work/ every generated notebook it does not hold yet; returns the copies made."""
    added = []
    for folder in SEEDED_FROM:
        for notebook in sorted((root / folder).glob("*.ipynb")):
            copy = root / WORKSPACE / folder / notebook.name
            if copy.exists():
                continue  # the student's: never replaced, even when the course's version changed
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(notebook, copy)
            added.append(copy)
    return added


def lab_command(root: Path, extra: list[str]) -> tuple[list[str], dict[str, str]]:
    """The command that starts the students' JupyterLab on the repository `root`, and its environment."""
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={root.resolve()}",
        f"--LabApp.default_url={OPENS_ON}",
    ]
    if getattr(os, "geteuid", lambda: None)() == 0:  # no geteuid on Windows
        command.append("--allow-root")  # JupyterLab refuses to start as root unless told
    config_path = [str(STUDENT_CONFIG)] + [p for p in os.environ.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p]
    env = os.environ | {
        "PATH": os.pathsep.join([COURSE_PYTHON_BIN, os.environ.get("PATH", "")]),
        "ATTNLAB_PYTHON_BIN": COURSE_PYTHON_BIN,  # read again by the terminal: student_jupyter/terminal_rc.sh
        "JUPYTER_CONFIG_PATH": os.pathsep.join(config_path),
    }
    return command + extra, env


def lab(root: Path, extra: list[str]) -> None:
    """Prepare the workspace, then become the JupyterLab server (Ctrl+C behaves as it does for `jupyter lab`)."""
    for copy in prepare_workspace(root):
        print(f"  your copy: {copy.relative_to(root)}")
    print(f"Your work lives in {root / WORKSPACE}: `build` and `demo` never write there.", flush=True)
    command, env = lab_command(root, extra)
    if sys.platform == "win32":  # no exec on Windows: run JupyterLab as a child and wait for it
        import subprocess

        raise SystemExit(subprocess.call(command, env=env))
    os.execve(command[0], command, env)
