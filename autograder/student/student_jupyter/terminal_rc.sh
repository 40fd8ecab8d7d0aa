# The start-up file of a terminal opened in `make lab`: the user's own shell set-up, then the
# course's Python first on PATH. Without it, JupyterLab starts a login shell, and a login shell's
# /etc/profile puts /usr/bin back in front: `python -m autograder check ...` would then find another
# Python, or none.
if [ -n "$BASH_VERSION" ]; then
    [ -f /etc/bash.bashrc ] && . /etc/bash.bashrc
    [ -f "$HOME/.bashrc" ] && . "$HOME/.bashrc"
fi
if [ -n "$ATTNLAB_PYTHON_BIN" ]; then
    PATH="$ATTNLAB_PYTHON_BIN:$PATH"
    export PATH
fi
