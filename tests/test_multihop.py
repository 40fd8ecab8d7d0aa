"""The multi-hop model (lesson 03): its route from the decisive word to [CLS] is the one it was built
with, and on it rollout and gradient-weighted rollout recover the source that last-layer attention misses."""

import pytest
import torch

from attnlab.attribution import GradWeightedRollout, RawAttention, Rollout, ranking_auc
from attnlab.interventions import block_keys
from attnlab.tasks.multihop import MARKER, MULTIHOP_VOCAB, make_multihop_task
from attnlab.tasks.rationale import POSITIVE
from attnlab.tasks.vocab import word_mask
from attnlab.zoo import TrainedModel, multihop_model


@pytest.fixture(scope="module")
def multihop() -> TrainedModel:
    return multihop_model(seed=0)


def test_the_task_marks_the_word_after_the_marker_as_the_source():
    data = make_multihop_task(200, seed=3)
    assert torch.equal(make_multihop_task(200, seed=3).tokens, data.tokens)  # seeded
    assert (data.marker.sum(1) == 1).all() and (data.rationale.sum(1) == 1).all()
    marker_at = data.marker.float().argmax(1)
    assert torch.equal(data.rationale.float().argmax(1), marker_at + 1)  # the decisive word follows "#"
    assert (data.tokens[data.marker] == MULTIHOP_VOCAB.index[MARKER]).all()
    decisive = data.tokens[data.rationale]  # (N,) one word per example
    is_positive = torch.tensor([data.vocab.words[t] in POSITIVE for t in decisive.tolist()])
    assert torch.equal(is_positive.long(), data.labels)  # the label is the decisive word's polarity


def test_the_model_learns_the_task_through_the_known_route(multihop):
    model, test = multihop.model, multihop.test
    assert multihop.metrics["accuracy"] >= 0.95
    with torch.no_grad():
        out = model(test.tokens)
    cls = out.attentions[:, :, :, 0].mean(2)  # (L, N, T) head-mean [CLS] rows
    assert cls[:-1, :, 1:].sum(-1).max() < 0.01  # layers 0 and 1: [CLS] looks only at itself
    assert (cls[-1] * test.marker).sum(-1).mean() > 0.95  # last layer: at the marker
    # the route is causal: hide the marker from [CLS]'s last layer and the model is at chance
    with torch.no_grad(), block_keys(model, test.marker, layers=[-1]):
        blind = (model(test.tokens).logits.argmax(-1) == test.labels).float().mean().item()
    assert 0.35 < blind < 0.65
    # the marker gathers the decisive word before the last layer: hide that word from every earlier
    # layer and the model is at chance, although [CLS] still reads the marker
    with torch.no_grad(), block_keys(model, test.rationale, layers=[0, 1]):
        cut = (model(test.tokens).logits.argmax(-1) == test.labels).float().mean().item()
    assert 0.35 < cut < 0.65


def test_rollout_recovers_the_source_that_last_layer_attention_misses(multihop):
    model, test = multihop.model, multihop.test.subset(slice(0, 400))
    words = word_mask(test.tokens)

    def auc(method) -> float:
        return ranking_auc(method.attribute(test.tokens), test.rationale, words).nanmean().item()

    raw, rollout, weighted = auc(RawAttention(model)), auc(Rollout(model)), auc(GradWeightedRollout(model))
    assert raw < 0.6  # the last layer points at the marker, not at the source
    assert rollout >= raw + 0.05 and weighted >= raw + 0.05
    assert rollout > 0.85 and weighted > 0.85
