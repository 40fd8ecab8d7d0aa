"""Training time and held-out accuracy of each mini-model (trained anew, not the shipped checkpoints),
then the run time of every lesson notebook top to bottom (warm cache), each in a fresh kernel.

    .venv/bin/python benchmarks/bench_training.py [--skip-lessons]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import nbformat
import torch
from nbclient import NotebookClient

from attnlab import settings
from attnlab.zoo import rationale_model, toy_language_model

ROOT = Path(__file__).resolve().parents[1]


def bench_training() -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    with tempfile.TemporaryDirectory() as cold, settings.overridden(cache_dir=cold, checkpoints="own"):
        for name, make in (("rationale classifier", rationale_model), ("toy-language masked LM", toy_language_model)):
            start = time.perf_counter()
            trained = make()
            wall = time.perf_counter() - start
            print(f"{name:<24} {wall:5.1f} s wall (training {trained.train_seconds:.1f} s); {trained.summary()}")
            start = time.perf_counter()
            make()
            print(f"{name:<24} {time.perf_counter() - start:5.2f} s from the cache")


def bench_lessons() -> None:
    for folder in ("solutions", "lessons"):
        for path in sorted((ROOT / folder).glob("[0-9][0-9]_*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            # Student versions raise NotImplementedError in unfinished exercises: keep going past them.
            client = NotebookClient(
                nb,
                timeout=120,
                kernel_name="python3",
                allow_errors=folder == "lessons",
                resources={"metadata": {"path": str(path.parent)}},
            )
            start = time.perf_counter()
            client.execute()
            print(f"{folder}/{path.name:<36} {time.perf_counter() - start:5.1f} s (kernel start included)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-lessons", action="store_true")
    args = parser.parse_args()
    bench_training()
    rationale_model(), toy_language_model()  # warm the default cache the lessons use
    if not args.skip_lessons:
        bench_lessons()
