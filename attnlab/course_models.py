"""
The trained models the lessons load, and the checkpoints of them the course ships in attnlab/checkpoints/.

Every lesson loads its models through `attnlab.train` (or `attnlab.faithfulness.variants`), which
takes a shipped checkpoint when one matches the model's key, so a fresh clone trains nothing. The
checkpoints are made by the course's own training code; after a change to a model, its data or its
training, regenerate them (every model trained from scratch, on one thread, a few minutes in all):

    python -m attnlab.course_models --regenerate      # or: make checkpoints

A file holds the weights and the held-out metrics only, so on the machine that made them,
regenerating writes the same bytes: `git diff --exit-code attnlab/checkpoints` after `make
checkpoints` checks that the shipped models are exactly what the code trains.
`python -m attnlab.course_models` alone lists the models and where each one comes from.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from attnlab.faithfulness.variants import deceptive_model, uniform_attention_model
from attnlab.train import SHIPPED_DIR, TrainedModel, multihop_model, rationale_model, toy_language_model


@dataclass(frozen=True)
class CourseModel:
    name: str  # what the lessons call it
    lessons: str  # the lessons that load it
    seed: int  # models of other seeds are trained the same way as their seed-0 twin
    recipe: str  # the training code that makes it; models of one recipe differ in size, seed or layers only
    load: Callable[[], TrainedModel]  # with the lessons' exact arguments


def _by_seed(seed: int) -> list[CourseModel]:
    """The models a lesson loads with three seeds: lesson 02's honest and deceptive twins (2 and 3
    layers) and lesson 04's masked language model."""
    return [
        CourseModel(f"rationale classifier, nano, seed {seed}", "00-03" if seed == 0 else "02", seed, "classifier",
                    lambda: rationale_model(seed=seed)),
        CourseModel(f"rationale classifier, micro, seed {seed}", "02", seed, "classifier",
                    lambda: rationale_model(seed=seed, size="micro")),
        CourseModel(f"deceptive classifier, nano, seed {seed}", "02", seed, "deceptive",
                    lambda: deceptive_model(seed=seed, lam=0.1)),
        CourseModel(f"deceptive classifier, micro, seed {seed}", "02", seed, "deceptive",
                    lambda: deceptive_model(seed=seed, lam=0.1, size="micro")),
        CourseModel(f"toy-language masked LM, seed {seed}", "04", seed, "masked LM",
                    lambda: toy_language_model(seed=seed)),
    ]  # fmt: skip


COURSE_MODELS: list[CourseModel] = [
    *_by_seed(0),
    *_by_seed(1),
    *_by_seed(2),
    CourseModel(
        "uniform attention, every layer", "02", 0, "uniform attention", lambda: uniform_attention_model(seed=0).trained
    ),
    CourseModel(
        "uniform attention, last layer",
        "02",
        0,
        "uniform attention",
        lambda: uniform_attention_model(seed=0, layers=[-1]).trained,
    ),
    CourseModel("multi-hop classifier", "03", 0, "multi-hop", lambda: multihop_model(seed=0)),
]


def regenerate(folder: Path = SHIPPED_DIR) -> None:
    """Train every course model from scratch into an empty cache, then make `folder` hold exactly those files."""
    before = {key: os.environ.get(key) for key in ("ATTNLAB_CHECKPOINTS", "ATTNLAB_CACHE_DIR")}
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["ATTNLAB_CHECKPOINTS"] = "own"  # never copy a shipped checkpoint onto itself
        os.environ["ATTNLAB_CACHE_DIR"] = scratch
        try:
            start = time.process_time()
            for entry in COURSE_MODELS:
                trained = entry.load()
                print(f"{entry.name:<40} {trained.summary()}", flush=True)
            print(f"trained {len(COURSE_MODELS)} models in {time.process_time() - start:.0f} s of CPU time")
        finally:
            for key, value in before.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        made = sorted(Path(scratch).glob("*.pt"))
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.pt"):
            stale.unlink()
        for file in made:
            shutil.copyfile(file, folder / file.name)
    size = sum(f.stat().st_size for f in folder.glob("*.pt"))
    print(f"{len(made)} checkpoints in {folder} ({size / 2**20:.1f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description="The course's trained models and their shipped checkpoints.")
    parser.add_argument(
        "--regenerate", action="store_true", help="train every model anew and replace the shipped checkpoints"
    )
    args = parser.parse_args()
    if args.regenerate:
        regenerate()
        return
    for entry in COURSE_MODELS:
        print(f"{entry.name:<40} lessons {entry.lessons:<12} {entry.load().summary()}")


if __name__ == "__main__":
    main()
