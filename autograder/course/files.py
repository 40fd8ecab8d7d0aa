"""Writing what the grader produces: whole files or nothing, and spreadsheet-safe CSV values."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, text: str) -> None:
    """Write a whole file or nothing: readers never see it half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)


def spreadsheet_safe(value: str) -> str:
    """A CSV value a spreadsheet will not run as a formula (OWASP: quote values starting with = + - @ tab CR)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
