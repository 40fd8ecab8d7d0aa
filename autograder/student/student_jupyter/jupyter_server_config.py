"""The students' JupyterLab terminal: an interactive shell that keeps the course's Python first on PATH.

JupyterLab, started outside a terminal, opens terminals as login shells (`bash -l`), which read
/etc/profile, and Debian's /etc/profile resets PATH. So the shell is named here, with
terminal_rc.sh as its start-up file (bash reads it in place of ~/.bashrc, which it sources itself;
a POSIX sh reads the file named by ENV).
"""

import os
import shutil
from pathlib import Path

TERMINAL_RC = Path(__file__).resolve().with_name("terminal_rc.sh")

c = get_config()  # noqa: F821 (Jupyter defines get_config when it loads this file)
if os.name == "nt":
    pass  # Windows: JupyterLab's own choice (PowerShell or cmd), which keeps the PATH it was given
elif bash := shutil.which("bash"):
    c.ServerApp.terminado_settings = {"shell_command": [bash, "--rcfile", str(TERMINAL_RC), "-i"]}
else:
    os.environ["ENV"] = str(TERMINAL_RC)
    c.ServerApp.terminado_settings = {"shell_command": [shutil.which("sh") or "/bin/sh", "-i"]}
