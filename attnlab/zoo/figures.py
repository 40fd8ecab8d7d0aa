"""What a trained course model is measured by: its stored held-out metrics and the figures the lessons
build on, as the retraining test (tests/test_checkpoints.py) and the bands (attnlab.zoo.bands) compare them."""

from __future__ import annotations

import torch

from attnlab.attribution import RawAttention, Rollout, ranking_auc
from attnlab.faithfulness import rationale_attention_mass
from attnlab.probing import best_heads, coref_task, head_accuracy
from attnlab.tasks.multihop import MultihopData
from attnlab.tasks.rationale import RationaleData
from attnlab.tasks.toy_language import NO_LABEL
from attnlab.zoo.cache import TrainedModel


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
        mass = rationale_attention_mass(out.attentions, test.rationale)
        return {"share: last-layer [CLS] attention on the rationale": mass.mean().item()}
    # lesson 04: the best single coreference head, its pronouns hidden
    hidden = test.tokens.masked_fill(test.antecedent != NO_LABEL, test.vocab.mask_id)
    with torch.no_grad():
        accuracy = head_accuracy(model(hidden).attentions, coref_task(test))
    ((_, _, best),) = best_heads(accuracy, 1)
    return {"share: best coreference head": float(best)}


def figures(trained: TrainedModel) -> dict[str, float]:
    """Everything the retraining test compares: the stored held-out metrics and the headline figures."""
    return {**trained.metrics, **headline_figures(trained)}
