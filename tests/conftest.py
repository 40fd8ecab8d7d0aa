"""Shared fixtures: the course's trained models (trained once, then loaded from the on-disk cache)."""

import pytest
import torch
from xdist.scheduler import LoadScopeScheduling

import autograder  # noqa: F401  before any test imports nbformat: spares each worker the IRI parsers (autograder/__init__)
from attnlab.zoo import TrainedModel, rationale_model, toy_language_model


@pytest.fixture(autouse=True)
def _seed() -> None:
    # Many torch initialisations are random; a fixed seed keeps every test deterministic.
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def rationale() -> TrainedModel:
    return rationale_model()


@pytest.fixture(scope="session")
def toy_language() -> TrainedModel:
    return toy_language_model()


@pytest.fixture(scope="session")
def course():
    """The course configuration (autograder/course/course.toml) of this repository."""
    from autograder.course.config import load_config

    return load_config()


@pytest.fixture
def random_attention():
    """Seeded random attention probabilities, random_attention(L, B, H, T) -> (L, B, H, T, T), rows summing to 1."""

    def make(L: int = 3, B: int = 4, H: int = 2, T: int = 5, seed: int = 0) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return torch.randn(L, B, H, T, T, generator=g).mul(2).softmax(-1)

    return make


# `make test` runs on three workers with `--dist loadscope --no-loadscope-reorder`: xdist hands out each
# module (or test class) whole, so its fixtures, a graded class say, are built once, in collection order.
# The longest go first and the many short ones fill the gaps at the end, so the workers finish at about
# the same time. (test_lessons.py grades its class in two test classes, which may go to different workers.)
LONGEST_FIRST = (
    "test_lessons.py",
    "test_integrity.py",
    "test_guards_class.py",
    "test_scale.py",
    "test_grading.py",
    "test_checkpoints.py",
    "test_cpu_kernels.py",
)
# Modules whose tests share no costly fixture: each test is a unit of its own, so a module of long tests
# (a model retrained, a lesson run twice, per test) is spread over the workers instead of running on one
# after the others end.
EVERY_TEST_ON_ITS_OWN = ("tests/test_checkpoints.py::", "tests/test_cpu_kernels.py::")


# A private override, kept for what it saves (benchmarks/bench_scheduler.py, RESULTS.md): xdist's public way,
# --dist loadgroup with xdist_group marks, groups nothing under pytest 9.2 (pytest-dev/pytest-xdist#1386).
# tests/test_internals.py fails when xdist changes under the override, and when loadgroup groups again.
class LoadScopeWithIndependentTests(LoadScopeScheduling):
    def _split_scope(self, nodeid: str) -> str:
        return nodeid if nodeid.startswith(EVERY_TEST_ON_ITS_OWN) else super()._split_scope(nodeid)


def pytest_xdist_make_scheduler(config: pytest.Config, log) -> LoadScopeScheduling | None:
    return LoadScopeWithIndependentTests(config, log) if config.getvalue("dist") == "loadscope" else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: tests keep their order within a module
