"""
The course's settings from the environment, read in one place. Every `ATTNLAB_*` variable the library,
the grader and the tests read is read here, and only here; every other module asks a function below.

- ATTNLAB_CACHE_DIR, `cache_dir()`: the folder trained mini-models are cached in (the grader keeps its
  results of the instructor's solutions beside it); default ~/.cache/attnlab.
- ATTNLAB_CHECKPOINTS, `use_shipped_checkpoints()`: `shipped` (default) loads the course's shipped models,
  `own` trains every model on first use and caches it.
- ATTNLAB_RECORD, `recording()`: `1` in the kernels the grader starts; hidden tests then hand their
  results out as records.
- ATTNLAB_RETRAIN, `retrain_all()`: `all` makes the checkpoint test retrain every shipped model, not one
  per recipe (`make test-checkpoints`).
- ATTNLAB_CHROMIUM, `chromium()`: the browser the browser tests drive; default /usr/bin/chromium.

(`ATTNLAB_PYTHON_BIN` is only passed from `autograder/student/lab.py` to the students' terminal, whose shell
script reads it: no Python reads it.)

Each function reads the environment when it is called, never at import, so a variable set in a notebook
(`%env ATTNLAB_CHECKPOINTS=own`) or by a test (`monkeypatch.setenv`) counts from the next call on. Code
that needs other settings for a while (retraining every model into a scratch folder) says so with
`overridden(...)`, which this module honours before the environment, instead of changing `os.environ`:
the user's environment, and every process started meanwhile, keep the user's settings. An override
belongs to the context that made it (a `contextvars` variable): other threads and processes do not see it.

Nothing here imports torch: the kernel of every graded quiz imports this module.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from pathlib import Path

CACHE_DIR_ENV = "ATTNLAB_CACHE_DIR"
CHECKPOINTS_ENV = "ATTNLAB_CHECKPOINTS"
RECORDING_ENV = "ATTNLAB_RECORD"
RETRAIN_ENV = "ATTNLAB_RETRAIN"
CHROMIUM_ENV = "ATTNLAB_CHROMIUM"

CHECKPOINT_CHOICES = ("shipped", "own")
RETRAIN_CHOICES = ("all",)


@dataclass(frozen=True)
class Override:
    """Settings that win over the environment inside `overridden(...)`; None: the environment decides."""

    cache_dir: Path | None = None
    checkpoints: str | None = None


NO_OVERRIDE = Override()
_override: ContextVar[Override] = ContextVar("attnlab_settings_override", default=NO_OVERRIDE)


def _env(name: str) -> str | None:
    """The variable's value; None when it is unset or empty (`export ATTNLAB_CACHE_DIR=` means unset)."""
    return os.environ.get(name) or None


def _choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        spelled = " or ".join(f"'{choice}'" for choice in choices)
        raise ValueError(f"{name} must be {spelled}, got {value!r}")
    return value


def cache_dir() -> Path:
    """Where trained mini-models are cached: ATTNLAB_CACHE_DIR, or ~/.cache/attnlab."""
    chosen = _override.get().cache_dir
    if chosen is not None:
        return chosen
    value = _env(CACHE_DIR_ENV)
    return Path(value).expanduser() if value else Path.home() / ".cache" / "attnlab"


def use_shipped_checkpoints() -> bool:
    """False when ATTNLAB_CHECKPOINTS=own: every model is trained (and cached) instead of loaded from the
    course's shipped checkpoints. Any other value than `shipped` or `own` is refused (ValueError)."""
    choice = _override.get().checkpoints or _env(CHECKPOINTS_ENV) or "shipped"
    return _choice(CHECKPOINTS_ENV, choice, CHECKPOINT_CHOICES) == "shipped"


def recording() -> bool:
    """True in a kernel the grader started (ATTNLAB_RECORD=1); elsewhere hidden tests record nothing."""
    return os.environ.get(RECORDING_ENV) == "1"


def retrain_all() -> bool:
    """True when ATTNLAB_RETRAIN=all: the checkpoint test retrains every shipped model (`make test-checkpoints`)."""
    value = _env(RETRAIN_ENV)
    return value is not None and _choice(RETRAIN_ENV, value, RETRAIN_CHOICES) == "all"


def chromium() -> Path:
    """The Chromium the browser tests drive: ATTNLAB_CHROMIUM, or the system's /usr/bin/chromium."""
    return Path(_env(CHROMIUM_ENV) or "/usr/bin/chromium")


@contextmanager
def overridden(*, cache_dir: Path | str | None = None, checkpoints: str | None = None) -> Iterator[None]:
    """Inside, `cache_dir()` and `use_shipped_checkpoints()` answer these (None: as before), whatever the
    environment says; `os.environ` is never changed. Overrides nest; leaving one restores the one before."""
    if checkpoints is not None:
        _choice("checkpoints", checkpoints, CHECKPOINT_CHOICES)
    before = _override.get()
    changes = {"cache_dir": None if cache_dir is None else Path(cache_dir), "checkpoints": checkpoints}
    token = _override.set(replace(before, **{key: value for key, value in changes.items() if value is not None}))
    try:
        yield
    finally:
        _override.reset(token)
