"""Making the checkpoints the course ships (attnlab/checkpoints/): every course model trained from scratch."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from attnlab import settings
from attnlab.zoo.cache import SHIPPED_DIR
from attnlab.zoo.registry import COURSE_MODELS


@contextmanager
def trained_from_scratch() -> Iterator[Path]:
    """Every model loaded inside is trained anew, into a scratch cache (yielded) that is removed after."""
    with tempfile.TemporaryDirectory() as scratch:
        # "own": never copy a shipped checkpoint onto itself
        with settings.overridden(cache_dir=scratch, checkpoints="own"):
            yield Path(scratch)


def regenerate(folder: Path = SHIPPED_DIR) -> None:
    """Train every course model from scratch into an empty cache, then make `folder` hold exactly those files."""
    with trained_from_scratch() as scratch:
        start = time.process_time()
        for entry in COURSE_MODELS:
            trained = entry.load()
            print(f"{entry.name:<40} {trained.summary()}", flush=True)
        print(f"trained {len(COURSE_MODELS)} models in {time.process_time() - start:.0f} s of CPU time")
        made = sorted(scratch.glob("*.pt"))
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.pt"):
            stale.unlink()
        for file in made:
            shutil.copyfile(file, folder / file.name)
    size = sum(f.stat().st_size for f in folder.glob("*.pt"))
    print(f"{len(made)} checkpoints in {folder} ({size / 2**20:.1f} MB)")
