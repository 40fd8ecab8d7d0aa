"""The contract every attribution method keeps, as one matrix over `standard_methods()` (plus a few
non-default options): one score per token, padding at 0, a batch scored like its sentences one at a
time, no hook left on the model, and scores that follow the model when an intervention changes it."""

import copy

import pytest
import torch

from attnlab.attribution import RawAttention, Rollout, standard_methods
from attnlab.interventions import replace_attention
from attnlab.models import TinyTransformer, preset

OPTIONS = {  # non-default options of the methods whose options change what is read
    "raw attention (layer 0, head 1)": lambda m: RawAttention(m, layer=0, head=1),
    "raw attention (mean of layers, max over heads)": lambda m: RawAttention(m, layer="mean", head="max"),
    "rollout (max over heads)": lambda m: Rollout(m, head_fusion="max"),
}


def methods(model: TinyTransformer) -> dict:
    return {**standard_methods(model, ig_steps=16), **{name: make(model) for name, make in OPTIONS.items()}}


METHOD_NAMES = list(methods(TinyTransformer(preset("nano", vocab_size=8, max_len=4))))  # any model: names only


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_scores_per_token_zero_on_padding_and_a_batch_equals_its_sentences(rationale, name):
    method = methods(rationale.model)[name]
    batch = rationale.test.tokens[:10]
    scores = method.attribute(batch, target=1)
    assert scores.shape == batch.shape and bool(torch.isfinite(scores).all())
    assert bool((scores[batch == 0] == 0).all()), "padding must score 0"
    assert rationale.model.active_hook_count() == 0, "hooks left on the model"
    for i in range(len(batch)):
        n = int((batch[i] != 0).sum())
        alone = method.attribute(batch[i : i + 1, :n], target=1)  # the same sentence without padding
        torch.testing.assert_close(alone[0], scores[i, :n], atol=1e-5, rtol=1e-4, msg=f"example {i}")


def uniform_by_its_weights(model: TinyTransformer) -> TinyTransformer:
    """A copy whose queries and keys are 0, so its own forward pass attends uniformly to the real
    tokens: the model that `replace_attention(model, "uniform")` stands for, with no hook involved."""
    model = copy.deepcopy(model)
    D = model.cfg.d_model
    with torch.no_grad():
        for block in model.blocks:
            block.attn.qkv.weight[: 2 * D] = 0.0  # rows of q and k
            block.attn.qkv.bias[: 2 * D] = 0.0
    return model


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_scores_follow_an_intervention_as_the_output_does(rationale, name):
    model, tokens = rationale.model, rationale.test.tokens[:12]
    uniform = uniform_by_its_weights(model)
    with replace_attention(model, "uniform"):
        logits = model(tokens).logits
        intervened = methods(model)[name].attribute(tokens, target=1)
    torch.testing.assert_close(logits, uniform(tokens).logits)  # the intervention is that model
    torch.testing.assert_close(intervened, methods(uniform)[name].attribute(tokens, target=1), atol=1e-5, rtol=1e-4)
    if name != "random":
        unchanged = methods(model)[name].attribute(tokens, target=1)
        assert (intervened - unchanged).abs().max() > 1e-3, "the intervention should change the scores"
