"""
The trained models the lessons load: each one's name, lessons, seed, recipe and family, and how to load it.
A family is one model but for its seed: its retrainings under other seeds share one band (attnlab.zoo.bands).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from attnlab.zoo.cache import TrainedModel
from attnlab.zoo.recipes import (
    bert_rationale_model,
    deceptive_model,
    multihop_model,
    rationale_model,
    toy_language_model,
    uniform_attention_model,
)


@dataclass(frozen=True)
class CourseModel:
    name: str  # what the lessons call it
    lessons: str  # the lessons that load it
    seed: int
    recipe: str  # the training code that makes it; models of one recipe differ in size, seed or layers only
    family: str  # the same model but for its seed: its retrainings under other seeds share one band
    make: Callable[[int], TrainedModel]  # seed -> the model, with the lessons' other arguments

    def load(self) -> TrainedModel:
        return self.make(self.seed)


# (family, recipe, make); the lessons load the first five with three seeds (lesson 02's honest and
# deceptive twins, 2 and 3 layers, and lesson 04's masked language model), the others with seed 0.
FAMILIES: list[tuple[str, str, Callable[[int], TrainedModel]]] = [
    ("rationale classifier, nano", "classifier", lambda seed: rationale_model(seed=seed)),
    ("rationale classifier, micro", "classifier", lambda seed: rationale_model(seed=seed, size="micro")),
    ("deceptive classifier, nano", "deceptive", lambda seed: deceptive_model(seed=seed, lam=0.1)),
    ("deceptive classifier, micro", "deceptive", lambda seed: deceptive_model(seed=seed, lam=0.1, size="micro")),
    ("toy-language masked LM", "masked LM", lambda seed: toy_language_model(seed=seed)),
    ("uniform attention, every layer", "uniform attention", lambda seed: uniform_attention_model(seed=seed).trained),
    (
        "uniform attention, last layer",
        "uniform attention",
        lambda seed: uniform_attention_model(seed=seed, layers=[-1]).trained,
    ),
    ("multi-hop classifier", "multi-hop", lambda seed: multihop_model(seed=seed)),
    ("rationale classifier, BERT", "BERT classifier", lambda seed: bert_rationale_model(seed=seed)),
]


def _lessons(family: str, seed: int) -> str:
    if family.startswith("toy-language"):
        return "04"
    if family.startswith("multi-hop"):
        return "03"
    if family.endswith("BERT"):
        return "06"
    return "00-03" if (family, seed) == ("rationale classifier, nano", 0) else "02"


COURSE_MODELS: list[CourseModel] = [
    CourseModel(f"{family}, seed {seed}", _lessons(family, seed), seed, recipe, family, make)
    for seed in (0, 1, 2)
    for family, recipe, make in FAMILIES[:5]
] + [CourseModel(family, _lessons(family, 0), 0, recipe, family, make) for family, recipe, make in FAMILIES[5:]]
