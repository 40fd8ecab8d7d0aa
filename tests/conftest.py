"""Shared fixtures: the course's trained models (trained once, then loaded from the on-disk cache)."""

import pytest
import torch

from attnlab.train import TrainedModel, rationale_model, toy_language_model


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
    """The course configuration (autograder/course.toml) of this repository."""
    from autograder.config import load_config

    return load_config()


@pytest.fixture
def random_attention():
    """Seeded random attention probabilities, random_attention(L, B, H, T) -> (L, B, H, T, T), rows summing to 1."""

    def make(L: int = 3, B: int = 4, H: int = 2, T: int = 5, seed: int = 0) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return torch.randn(L, B, H, T, T, generator=g).mul(2).softmax(-1)

    return make


# `make test` runs on two workers with `--dist loadgroup --no-loadscope-reorder`: xdist hands out groups of
# tests in collection order. Each module is one group (its fixtures, a graded class say, are built once),
# except where it says otherwise: test_lessons.py grades its class in two groups, and the retraining tests
# of test_checkpoints.py, independent of each other, are spread over both workers. The longest groups go
# first and the many short ones fill the gaps at the end, so both workers finish at about the same time.
LONGEST_FIRST = ("test_lessons.py", "test_integrity.py", "test_scale.py", "test_grading.py", "test_checkpoints.py")
SPREAD = ("test_checkpoints.py",)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("xdist_group") is None and item.path.name not in SPREAD:
            item.add_marker(pytest.mark.xdist_group(item.path.stem))

    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: tests keep their order within a module
