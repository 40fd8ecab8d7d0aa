"""The course ships its trained models (attnlab/checkpoints/): on a fresh clone every model a lesson
loads comes from there, and retraining it with the course's own code reproduces it.

Tolerance of the retraining test: held-out accuracies and attention shares within 1.5 percentage
points, ranking AUCs within 0.03. On the machine that made the checkpoints, retraining on one thread
gives the same weights to the last bit; another CPU may round float sums differently, and a model
trained from other roundings ends up slightly elsewhere.

The retraining test takes minutes. ATTNLAB_RETRAIN=all retrains all 18 (`make test-checkpoints`,
which CI runs after `make test`). `make test` retrains the first model of the two recipes whose
training code no faster test runs: the masked LM and the multi-hop classifier. The other three
recipes (classifier, deceptive, uniform attention) are trained briefly by unit tests
(test_train.py, test_faithfulness_variants.py); the models of one recipe differ in size, seed or
layers only. `make checkpoints` followed by `git diff --exit-code attnlab/checkpoints` is the
bit-for-bit check of all of them.
"""

import os

import pytest
import torch

from attnlab import train
from attnlab.attribution import RawAttention, Rollout, ranking_auc
from attnlab.course_models import COURSE_MODELS, CourseModel
from attnlab.faithfulness import rationale_attention_mass
from attnlab.probing import best_heads, coref_task, head_accuracy
from attnlab.tasks.multihop import MultihopData
from attnlab.tasks.rationale import RationaleData
from attnlab.tasks.toy_language import NO_LABEL
from attnlab.train import SHIPPED_DIR, TrainedModel

SHARE_TOLERANCE = 0.015  # accuracies and attention shares
AUC_TOLERANCE = 0.03


RECIPES_NO_UNIT_TEST_TRAINS = ("masked LM", "multi-hop")


def _first_of_each_recipe(models: list[CourseModel], recipes: tuple[str, ...]) -> list[CourseModel]:
    first = {}
    for entry in models:
        if entry.recipe in recipes:
            first.setdefault(entry.recipe, entry)
    return list(first.values())


RETRAINED = (
    COURSE_MODELS
    if os.environ.get("ATTNLAB_RETRAIN") == "all"
    else _first_of_each_recipe(COURSE_MODELS, RECIPES_NO_UNIT_TEST_TRAINS)
)


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """A fresh clone: nothing in the user's model cache, shipped checkpoints in use."""
    monkeypatch.setenv("ATTNLAB_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("ATTNLAB_CHECKPOINTS", raising=False)
    return tmp_path


def test_every_model_a_lesson_loads_is_shipped_and_nothing_else(empty_cache, monkeypatch):
    used = []
    load = train._load

    def recording_load(path, model):
        metrics = load(path, model)
        if metrics is not None:
            used.append(path)
        return metrics

    monkeypatch.setattr(train, "_load", recording_load)
    for entry in COURSE_MODELS:
        trained = entry.load()
        assert trained.source == "shipped", f"{entry.name} has no shipped checkpoint: run `make checkpoints`"
        assert trained.summary().startswith("shipped with the course; held-out ")
    shipped = sorted(SHIPPED_DIR.glob("*.pt"))
    assert sorted(used) == shipped, "attnlab/checkpoints/ holds files no lesson loads: run `make checkpoints`"
    assert sum(f.stat().st_size for f in shipped) < 5 * 2**20  # small enough to live in the repository
    assert not list(empty_cache.iterdir())  # nothing was trained or cached


def headline_figures(trained: TrainedModel) -> dict[str, float]:
    """The figures the lessons build on, beyond the stored metrics, measured on the held-out data."""
    model, test = trained.model, trained.test
    with torch.no_grad():
        out = model(test.tokens)
    if isinstance(test, MultihopData):  # lesson 03: rollout recovers the source raw attention misses
        data = test.subset(slice(0, 400))
        words = data.mask.clone()
        words[:, 0] = False
        auc = {
            name: ranking_auc(method.attribute(data.tokens), data.rationale, words).nanmean().item()
            for name, method in (("raw", RawAttention(model)), ("rollout", Rollout(model)))
        }
        return {"auc: rollout minus raw attention": auc["rollout"] - auc["raw"]}
    if isinstance(test, RationaleData):  # lessons 01-02: how much [CLS] attends to the rationale
        return {
            "share: last-layer [CLS] attention on the rationale": rationale_attention_mass(
                out.attentions, test.rationale
            )
            .mean()
            .item()
        }
    # lesson 04: the best single coreference head, its pronouns hidden
    hidden = test.tokens.masked_fill(test.antecedent != NO_LABEL, test.vocab.mask_id)
    with torch.no_grad():
        accuracy = head_accuracy(model(hidden).attentions, coref_task(test))
    ((_, _, best),) = best_heads(accuracy, 1)
    return {"share: best coreference head": float(best)}


def _tolerance(figure: str) -> float:
    return AUC_TOLERANCE if figure.startswith("auc") else SHARE_TOLERANCE


@pytest.mark.slow
@pytest.mark.parametrize("entry", RETRAINED, ids=lambda entry: entry.name)
def test_retraining_reproduces_the_shipped_model(entry: CourseModel, empty_cache, monkeypatch):
    shipped = entry.load()
    assert shipped.source == "shipped"
    monkeypatch.setenv("ATTNLAB_CHECKPOINTS", "own")
    retrained = entry.load()  # trained from scratch by the course's code, into the empty cache
    assert retrained.source == "trained"
    assert set(retrained.metrics) == set(shipped.metrics)
    for name, value in shipped.metrics.items():
        assert retrained.metrics[name] == pytest.approx(value, abs=SHARE_TOLERANCE), name
    expected, found = headline_figures(shipped), headline_figures(retrained)
    for figure, value in expected.items():
        assert found[figure] == pytest.approx(value, abs=_tolerance(figure)), figure
