"""`make lab` (python -m autograder lab): the students' JupyterLab, on the course, without the instructor's tools."""

import json
import os
import subprocess
import sys
from pathlib import Path

from traitlets.config import Config

from autograder.student.lab import OPENS_ON, STUDENT_CONFIG, lab_command


def test_it_serves_the_course_opens_on_the_lessons_and_passes_options_on(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", "/elsewhere")
    command, env = lab_command(tmp_path, ["--port", "9999"])
    assert command[:3] == [sys.executable, "-m", "jupyterlab"] and command[-2:] == ["--port", "9999"]
    assert f"--ServerApp.root_dir={tmp_path.resolve()}" in command and f"--LabApp.default_url={OPENS_ON}" in command
    assert ("--allow-root" in command) == (os.geteuid() == 0)
    assert env["JUPYTER_CONFIG_PATH"].split(os.pathsep) == [str(STUDENT_CONFIG), "/elsewhere"]
    assert env["PATH"].split(os.pathsep)[0] == str(
        Path(sys.executable).parent
    )  # kernels and terminal: the course's Python


def test_every_nbgrader_server_extension_is_off_for_students():
    installed = Path(sys.prefix) / "etc" / "jupyter" / "jupyter_server_config.d" / "nbgrader.json"
    nbgrader = json.loads(installed.read_text())["ServerApp"]["jpserver_extensions"]
    ours = json.loads((STUDENT_CONFIG / "jupyter_server_config.json").read_text())["ServerApp"]["jpserver_extensions"]
    assert nbgrader and {name: False for name in nbgrader} == ours
    disabled = json.loads((STUDENT_CONFIG / "labconfig" / "page_config.json").read_text())["disabledExtensions"]
    assert all(disabled.values()) and "@jupyter/nbgrader:validate-assignment" in disabled


def test_a_terminal_finds_the_course_python_even_when_the_shell_set_up_resets_path(tmp_path):
    # What Debian's /etc/profile does to a login shell, here done by the student's own ~/.bashrc.
    (tmp_path / ".bashrc").write_text("PATH=/usr/bin:/bin\n")
    _, env = lab_command(tmp_path, [])
    config = {}
    exec(
        (STUDENT_CONFIG / "jupyter_server_config.py").read_text(),
        {"get_config": lambda: Config(), "__file__": str(STUDENT_CONFIG / "jupyter_server_config.py")},
        config,
    )
    shell = config["c"].ServerApp.terminado_settings["shell_command"]
    found = subprocess.run(
        [*shell, "-c", "command -v python"],
        env=env | {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.strip() == str(Path(sys.executable).parent / "python")
