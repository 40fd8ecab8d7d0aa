"""The course ships its trained models (attnlab/checkpoints/): on a fresh clone every model a lesson
loads comes from there, and retraining it with the course's own code reproduces it.

What reproducing means. On the machine and PyTorch CPU kernels that made the checkpoints, retraining
on one thread gives the same weights to the last bit (`make checkpoints` followed by `git diff
--exit-code attnlab/checkpoints`). Another CPU (its ATEN_CPU_CAPABILITY kernels, its linear-algebra
code paths) rounds float sums in other orders and training ends up elsewhere, as with another seed: so
each held-out metric and headline figure of a retrained model must lie within its family's band, the
range of retrainings measured over seeds and kernel settings, widened, and kept beside the checkpoints
(attnlab/checkpoints/bands.json, written by `make bands`; attnlab/zoo/bands.py says how a band is
made).

The retraining test takes minutes. ATTNLAB_RETRAIN=all retrains all 19 (`make test-checkpoints`,
which CI runs after `make test`, under the machine's kernels and under another setting). `make test`
retrains the first model of the two recipes whose training code no faster test runs: the masked LM
and the multi-hop classifier. The other four recipes (classifier, deceptive, uniform attention, lesson
06's BERT) are trained briefly by unit tests (test_train.py, test_faithfulness_variants.py,
test_real_architecture.py); the models of one recipe differ in size, seed or layers only.
"""

import pytest
import torch

from attnlab import settings
from attnlab.zoo import cache
from attnlab.zoo.bands import load_bands
from attnlab.zoo.cache import SHIPPED_DIR
from attnlab.zoo.figures import figures
from attnlab.zoo.registry import COURSE_MODELS, CourseModel

RECIPES_NO_UNIT_TEST_TRAINS = ("masked LM", "multi-hop")


def _first_of_each_recipe(models: list[CourseModel], recipes: tuple[str, ...]) -> list[CourseModel]:
    first = {}
    for entry in models:
        if entry.recipe in recipes:
            first.setdefault(entry.recipe, entry)
    return list(first.values())


RETRAINED = (
    COURSE_MODELS if settings.retrain_all() else _first_of_each_recipe(COURSE_MODELS, RECIPES_NO_UNIT_TEST_TRAINS)
)


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """A fresh clone: nothing in the user's model cache, shipped checkpoints in use."""
    monkeypatch.setenv("ATTNLAB_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("ATTNLAB_CHECKPOINTS", raising=False)
    return tmp_path


def test_every_model_a_lesson_loads_is_shipped_and_nothing_else(empty_cache, monkeypatch):
    used = []
    load = cache._load

    def recording_load(path, model):
        metrics = load(path, model)
        if metrics is not None:
            used.append(path)
        return metrics

    monkeypatch.setattr(cache, "_load", recording_load)
    for entry in COURSE_MODELS:
        trained = entry.load()
        assert trained.source == "shipped", f"{entry.name} has no shipped checkpoint: run `make checkpoints`"
        assert trained.summary().startswith("shipped with the course; held-out ")
    shipped = sorted(SHIPPED_DIR.glob("*.pt"))
    assert sorted(used) == shipped, "attnlab/checkpoints/ holds files no lesson loads: run `make checkpoints`"
    assert sum(f.stat().st_size for f in shipped) < 5 * 2**20  # small enough to live in the repository
    assert not list(empty_cache.iterdir())  # nothing was trained or cached


def test_the_bands_were_measured_for_the_shipped_models(empty_cache):
    # Bands measured around other models (a recipe changed and `make bands` not run) would test nothing.
    shipped, limits = load_bands()
    for entry in COURSE_MODELS:
        assert (entry.family, entry.seed) in shipped and entry.family in limits, f"{entry.name}: run `make bands`"
        found = figures(entry.load())
        assert set(found) == set(limits[entry.family]), f"{entry.name}: figures without a band; run `make bands`"
        for figure, value in found.items():
            # the same weights: only the forward pass's rounding differs from the run that measured them
            assert value == pytest.approx(shipped[entry.family, entry.seed][figure], abs=1e-3), (entry.name, figure)


@pytest.mark.slow
@pytest.mark.parametrize("entry", RETRAINED, ids=lambda entry: entry.name)
def test_retraining_reproduces_the_shipped_model(entry: CourseModel, empty_cache, monkeypatch):
    monkeypatch.setenv("ATTNLAB_CHECKPOINTS", "own")
    retrained = entry.load()  # trained from scratch by the course's code, into the empty cache
    assert retrained.source == "trained"
    _, limits = load_bands()
    kernels = torch.backends.cpu.get_cpu_capability().lower()
    for figure, value in figures(retrained).items():
        low, high = limits[entry.family][figure]
        assert low <= value <= high, (
            f"{entry.name} retrained with {kernels}: {figure} {value:.4f} outside its band {low:.4f} to {high:.4f}"
        )
