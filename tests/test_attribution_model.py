"""Gradient-weighted attention, attention flow and LRP: hand-written formulas, oracles, conservation."""

import copy

import networkx as nx
import pytest
import torch

from attnlab.attribution import (
    LRP,
    AttentionFlow,
    AttentionGradCAM,
    GradWeightedRollout,
    attention_flow,
    attention_rollout,
    grad_weighted_rollout,
)
from attnlab.attribution.gradients import input_embeddings
from attnlab.attribution.lrp import lrp_forward
from attnlab.models import TinyTransformer, preset
from attnlab.tasks.rationale import make_rationale_task


@pytest.fixture(scope="module")
def one_layer():
    torch.manual_seed(1)
    data = make_rationale_task(n=6, seed=5)
    model = TinyTransformer(preset("one-layer", vocab_size=len(data.vocab), max_len=16)).eval()
    return model, data.tokens


# --- grad_weighted_rollout --------------------------------------------------------------------


def test_grad_weighted_rule_by_hand():
    A = torch.tensor([[[0.5, 0.5], [0.2, 0.8]], [[1.0, 0.0], [0.4, 0.6]]])[None]  # (L=1, H=2, T, T)
    G = torch.tensor([[[2.0, -1.0], [1.0, 1.0]], [[-3.0, 4.0], [0.5, -1.0]]])[None]
    # clamp(G ⊙ A) per head: [[1, 0], [.2, .8]] and [[0, 0], [.2, 0]]; mean: [[.5, 0], [.2, .4]]
    expected = torch.eye(2) + torch.tensor([[0.5, 0.0], [0.2, 0.4]])
    assert torch.allclose(grad_weighted_rollout(A, G), expected)
    # the clamp comes before the head mean: mean-then-clamp would give a different matrix
    assert not torch.allclose(expected, torch.eye(2) + (G * A).mean(1)[0].clamp(min=0))


def test_grad_weighted_rollout_accumulates_layers_in_order(random_attention):
    A, G = random_attention(L=2, B=3), torch.randn(2, 3, 2, 5, 5, generator=torch.Generator().manual_seed(4))
    bar = (G * A).clamp(min=0).mean(2)  # (L, B, T, T)
    eye = torch.eye(5)
    expected = (eye + bar[1]) @ (eye + bar[0])  # newest layer on the left
    assert torch.allclose(grad_weighted_rollout(A, G), expected, atol=1e-6)
    assert torch.allclose(grad_weighted_rollout(A[:, 1], G[:, 1]), expected[1], atol=1e-6)


def test_zero_gradients_give_identity(random_attention):
    A = random_attention(L=2, B=3)
    assert torch.equal(grad_weighted_rollout(A, torch.zeros_like(A)), torch.eye(5).expand(3, 5, 5))


def test_grad_weighted_rollout_refuses_bad_input(random_attention):
    A = random_attention(L=2, B=3)
    with pytest.raises(ValueError, match="must match"):
        grad_weighted_rollout(A, A[:, :, :1])
    with pytest.raises(ValueError, match="NaN"):
        grad_weighted_rollout(A, torch.full_like(A, float("nan")))
    with pytest.raises(ValueError, match="sum to 1"):
        grad_weighted_rollout(A * 2, A)


def test_one_layer_model_equals_hand_written_product(one_layer):
    model, tokens = one_layer
    target = torch.tensor([0, 1, 1, 0, 1, 0])
    out, cache = model.run_with_cache(tokens, names=["blocks.0.attn.hook_pattern"])
    A = cache["blocks.0.attn.hook_pattern"]  # (B, H, T, T), read through a hook, not the method's path
    y = out.logits.gather(1, target[:, None]).sum()
    (dA,) = torch.autograd.grad(y, A)
    expected = torch.eye(A.shape[-1]) + (dA * A).clamp(min=0).mean(1)  # (B, T, T): I + Ā
    mask = tokens != 0
    got = GradWeightedRollout(model).attribute(tokens, target=target)
    assert torch.allclose(got, expected[:, 0] * mask, atol=1e-6)
    # Attn-GradCAM on the same layer: heads weighted by their mean gradient over the [CLS] row's words
    words = mask.clone()
    words[:, 0] = False
    w = (dA[:, :, 0] * words[:, None]).sum(-1) / words.sum(-1)[:, None]  # (B, H)
    cam = (w[..., None] * A[:, :, 0]).mean(1).clamp(min=0) * mask
    assert torch.allclose(AttentionGradCAM(model).attribute(tokens, target=target), cam.detach(), atol=1e-6)


# --- attention flow ---------------------------------------------------------------------------


def networkx_flow(attentions: torch.Tensor, source: int) -> torch.Tensor:
    """Abnar & Zuidema's construction, one example: (L, H, T, T) -> (T,) normalised flows."""
    A = attentions.double().mean(1) + torch.eye(attentions.shape[-1], dtype=torch.float64)
    A = A / A.sum(-1, keepdim=True)  # (L, T, T)
    L, T, _ = A.shape
    G = nx.DiGraph()
    for l in range(L):
        for i in range(T):
            for j in range(T):
                G.add_edge((l + 1, i), (l, j), capacity=float(A[l, i, j]))
    flows = torch.tensor(
        [nx.maximum_flow_value(G, (L, source), (0, j), flow_func=nx.algorithms.flow.edmonds_karp) for j in range(T)],
        dtype=torch.float64,
    )
    return flows / flows.sum()


def test_flow_matches_networkx(random_attention):
    A = random_attention(L=3, B=2, T=6)
    flows = attention_flow(A)  # (B, T, T)
    for b in range(2):
        for i in (0, 4):
            assert torch.allclose(flows[b, i].double(), networkx_flow(A[:, b], i), atol=1e-6)
    assert torch.allclose(flows.sum(-1), torch.ones(2, 6), atol=1e-6)


def test_one_layer_flow_is_the_capacity_itself(random_attention):
    A = random_attention(L=1, B=3)
    assert torch.allclose(attention_flow(A), attention_rollout(A), atol=1e-6)


def test_flow_leaves_padding_out_of_the_network_without_changing_any_flow(rationale):
    # padding gets exactly zero attention from real tokens, so no flow reaches it: the network on the
    # real tokens alone (mask=) gives the same flows, to the last bit
    tokens = rationale.test.tokens[:6]
    with torch.no_grad():
        out = rationale.model(tokens)
    assert (~out.mask).any()  # some sentences are padded
    full, trimmed = attention_flow(out.attentions), attention_flow(out.attentions, mask=out.mask)
    for b, real in enumerate(out.mask):
        assert torch.equal(full[b][real], trimmed[b][real])  # every flow from a real position
        assert bool((full[b][real][:, ~real] == 0).all())  # none of which reaches padding


def test_flow_only_computes_the_requested_rows(random_attention):
    flows = attention_flow(random_attention(L=2, B=3), positions=[0])
    assert bool((flows[:, 1:] == 0).all()) and torch.allclose(flows[:, 0].sum(-1), torch.ones(3))
    with pytest.raises(ValueError, match="positions"):
        attention_flow(random_attention(L=2, B=3), positions=[9])


# --- LRP --------------------------------------------------------------------------------------


def test_lrp_forward_equals_the_model(rationale):
    model, tokens = rationale.model, rationale.test.tokens[:50]
    with torch.no_grad():
        for rule in ("attnlrp", "cp"):
            got = lrp_forward(model, input_embeddings(model, tokens), tokens != 0, rule).logits
            assert torch.allclose(got, model(tokens).logits, atol=1e-5)


def without_biases(model: TinyTransformer) -> TinyTransformer:
    model = copy.deepcopy(model)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.zero_()
    return model


def test_cp_lrp_conserves_relevance_without_biases(rationale):
    model, tokens = without_biases(rationale.model), rationale.test.tokens[:64]
    relevance, delta = LRP(model, rule="cp").attribute(tokens, target=1, return_convergence_delta=True)
    logit = model(tokens).logits[:, 1].detach()
    assert torch.allclose(relevance.sum(-1), logit, rtol=1e-2, atol=1e-4), "sum of relevances = logit within 1%"
    assert delta.abs().max() < 1e-4


def test_attnlrp_accounts_for_every_bit_of_relevance(rationale):
    """logit = input relevance + relevance absorbed by the biases + by the softmax rule, exactly."""
    model, tokens = rationale.model, rationale.test.tokens[:16]
    mask, target = tokens != 0, torch.ones(16, dtype=torch.long)
    embeds = input_embeddings(model, tokens).detach().requires_grad_(True)
    record: list = []
    y = lrp_forward(model, embeds, mask, "attnlrp", record).logits[:, 1].sum()
    biases = [p for name, p in model.named_parameters() if name.endswith("bias")]
    tensors = [t for pair in record for t in pair]  # scores_0, softmax_0, scores_1, ...
    grads = torch.autograd.grad(y, [embeds, *biases, *tensors])
    relevance_in = (embeds * grads[0]).sum()
    absorbed_by_biases = sum((b * g).sum() for b, g in zip(biases, grads[1 : 1 + len(biases)]))
    absorbed_by_softmax = 0.0
    for (s, a), gs, ga in zip(record, grads[1 + len(biases) :: 2], grads[2 + len(biases) :: 2]):
        into_softmax = (a * ga).sum()
        out_of_softmax = torch.where(torch.isfinite(s), s * gs, 0.0).sum()
        absorbed_by_softmax = absorbed_by_softmax + into_softmax - out_of_softmax
    total = relevance_in + absorbed_by_biases + absorbed_by_softmax
    assert abs(total.item() - y.item()) < 1e-3 * abs(y.item())
    # and the method's own delta is exactly what the biases and the softmax absorbed
    _, delta = LRP(model).attribute(tokens, target=target, return_convergence_delta=True)
    assert abs(delta.sum().item() + (absorbed_by_biases + absorbed_by_softmax).item()) < 1e-3 * abs(y.item())


def test_lrp_delta_is_sum_minus_logit_on_the_trained_model(rationale):
    model, tokens = rationale.model, rationale.test.tokens[:64]
    for rule in ("attnlrp", "cp"):
        relevance, delta = LRP(model, rule=rule).attribute(tokens, target=1, return_convergence_delta=True)
        assert torch.allclose(delta, relevance.sum(-1) - model(tokens).logits[:, 1].detach(), atol=1e-4)
    a = LRP(model).attribute(tokens, target=1)
    assert not torch.allclose(a, LRP(model, rule="cp").attribute(tokens, target=1)), "the two rules differ"


def test_lrp_refuses_an_unknown_rule(rationale):
    with pytest.raises(ValueError, match="rule"):
        LRP(rationale.model, rule="alpha-beta")


# --- the contract, for the methods of this file -----------------------------------------------

MODEL_METHODS = {
    "grad-weighted rollout": GradWeightedRollout,
    "attention Grad-CAM": AttentionGradCAM,
    "attention flow": AttentionFlow,
    "AttnLRP": LRP,
    "CP-LRP": lambda m: LRP(m, rule="cp"),
}


@pytest.mark.parametrize("name", MODEL_METHODS)
def test_contract_batch_equals_one_at_a_time(rationale, name):
    method = MODEL_METHODS[name](rationale.model)
    batch = rationale.test.tokens[:10]
    scores = method.attribute(batch, target=1)
    assert scores.shape == batch.shape and bool(torch.isfinite(scores).all())
    assert bool((scores[batch == 0] == 0).all())
    assert rationale.model.active_hook_count() == 0
    for i in range(len(batch)):
        n = int((batch[i] != 0).sum())
        alone = method.attribute(batch[i : i + 1, :n], target=1)
        assert torch.allclose(alone[0], scores[i, :n], atol=1e-5), f"example {i}"


@pytest.mark.parametrize("rule", ["attnlrp", "cp"])
def test_relevance_budget_accounts_for_the_logit_example_by_example(rationale, rule):
    from attnlab.attribution import relevance_budget

    model, tokens = rationale.model, rationale.test.tokens[:24]
    budget = relevance_budget(model, tokens, rule=rule)
    total = budget.inputs + budget.biases + budget.softmax
    assert torch.allclose(total, budget.logit, atol=1e-3 * budget.logit.abs().max().item())
    relevance, delta = LRP(model, rule=rule).attribute(tokens, return_convergence_delta=True)
    assert torch.allclose(budget.inputs, relevance.sum(-1), atol=1e-4)
    assert torch.allclose(-(budget.biases + budget.softmax), delta, atol=1e-3)
    if rule == "cp":
        assert budget.softmax.abs().max() < 1e-5  # no relevance flows through a constant softmax
    else:
        assert budget.softmax.abs().max() > 1e-2
    zero = relevance_budget(without_biases(model), tokens, rule=rule)
    assert zero.biases.abs().max() < 1e-5
