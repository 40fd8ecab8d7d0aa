"""`make lab` (python -m autograder lab): the students' JupyterLab, on the course, without the instructor's tools."""

import json
import os
import sys
from pathlib import Path

from autograder.lab import OPENS_ON, STUDENT_CONFIG, lab_command


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
