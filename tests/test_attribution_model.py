"""Gradient-weighted attention, attention flow and LRP: hand-written formulas, oracles, conservation."""

import copy

import networkx as nx
import numpy as np
import pytest
import torch

from attnlab.attribution import (
    LRP,
    AttentionGradCAM,
    GradWeightedRollout,
    attention_flow,
    attention_rollout,
    grad_weighted_rollout,
)
from attnlab.attribution.flow import CAPACITY_SCALE, _dinic_flows, _shallow_flows
from attnlab.attribution.gradients import input_embeddings, logit_from_embeddings
from attnlab.attribution.lrp import lrp_hooks
from attnlab.models import TinyTransformer, preset
from attnlab.tasks.rationale import make_rationale_task

EPS = torch.finfo(torch.float32).eps


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


def test_flow_of_two_layers_matches_networkx(random_attention):
    # one and two layers take the closed form, three and more scipy's Dinic: both against networkx
    A = random_attention(L=2, B=2, T=7)
    flows = attention_flow(A)  # (B, T, T)
    for b in range(2):
        for i in (0, 3, 6):
            assert torch.allclose(flows[b, i].double(), networkx_flow(A[:, b], i), atol=1e-6)


@pytest.mark.parametrize("layers", [1, 2])
def test_the_closed_form_flow_is_dinics_to_the_last_integer_step(layers):
    g = np.random.default_rng(layers)
    steps = g.integers(0, CAPACITY_SCALE, size=(layers, 9, 9))
    steps[:, :, 4] = 0  # edges without capacity: paths that carry nothing
    steps[0, 2] = CAPACITY_SCALE  # and a saturating row
    sources = [0, 4, 8]
    assert np.array_equal(_shallow_flows(steps, sources), _dinic_flows(steps, sources))


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


def test_lrp_hooks_change_gradients_only(rationale):
    model, tokens = rationale.model, rationale.test.tokens[:50]
    with torch.no_grad():
        plain = model(tokens)
        for rule in ("attnlrp", "cp"):
            with model.hooks(lrp_hooks(rule)):
                hooked = model(tokens)
            # The LayerNorms are written out while their scale is hooked: equal up to float rounding,
            # a sum over d_model = 32 features rounding by up to 32 eps in each of the 2 layers.
            rounding = 2 * model.cfg.d_model * EPS
            logit_size = plain.logits.abs().max().item()
            torch.testing.assert_close(hooked.logits, plain.logits, atol=rounding * logit_size, rtol=0)
            torch.testing.assert_close(hooked.attentions, plain.attentions, atol=rounding, rtol=0)  # at most 1
    assert model.active_hook_count() == 0


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
    record: list = []  # scores_0, softmax_0, scores_1, ... as they leave the softmax's input and output

    def keep(x, hook):
        record.append(x)

    around_softmax = (lambda name: name.endswith(("attn.hook_scores", "attn.hook_pattern")), keep)
    with model.hooks([around_softmax, *lrp_hooks("attnlrp")]):
        y = logit_from_embeddings(model, tokens, mask, embeds, target, 0).sum()
    biases = [p for name, p in model.named_parameters() if name.endswith("bias")]
    tensors = record
    grads = torch.autograd.grad(y, [embeds, *biases, *tensors])
    relevance_in = (embeds * grads[0]).sum()
    absorbed_by_biases = sum((b * g).sum() for b, g in zip(biases, grads[1 : 1 + len(biases)]))
    absorbed_by_softmax = 0.0
    for s, a, gs, ga in zip(record[::2], record[1::2], grads[1 + len(biases) :: 2], grads[2 + len(biases) :: 2]):
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


def explicit_lrp(model: TinyTransformer, tokens: torch.Tensor, target: int, rule: str) -> torch.Tensor:
    """The rules of Achtibat et al. (2024) written relevance by relevance, as lxt's explicit functions,
    for one sentence (T,) without padding through a one-layer model, in float64: (T,) input relevances.

    Linear maps (every Linear, LayerNorm with its scale held constant): ε-rule R_x = x ⊙ Wᵀ(R_z / z);
    residual sums: each summand gets its share a / (a + b); GELU: identity; softmax: R_s = s ⊙ (R_A - A Σ R_A);
    A @ V and Q Kᵀ: half of N = R_O / O to each factor ("cp": A is a constant, V gets everything).
    """
    m = copy.deepcopy(model).double()
    block, (T,), D = m.blocks[0], tokens.shape, m.cfg.d_model
    H, Dh = m.cfg.n_heads, D // m.cfg.n_heads
    share = 0.5 if rule == "attnlrp" else 1.0

    def layer_norm(ln, x):  # (T, D) -> output and the linear map per token (the scale held constant)
        scale = (x.var(-1, unbiased=False, keepdim=True) + ln.eps).sqrt()  # (T, 1)
        W = (torch.eye(D, dtype=x.dtype) - 1.0 / D)[None] * (ln.weight[None, :, None] / scale[:, :, None])  # (T, D, D)
        return (x - x.mean(-1, keepdim=True)) / scale * ln.weight + ln.bias, W

    def epsilon(x, W, z, R):  # z = W x + b per token; x (T, i), W (T, o, i) or (o, i), z and R (T, o)
        return x * torch.einsum("toi,to->ti", W.expand(x.shape[0], *W.shape[-2:]), R / z)

    with torch.no_grad():
        x0 = m.embed(tokens[None])[0]  # (T, D)
        h1, W1 = layer_norm(block.ln1, x0)
        qkv = block.attn.qkv(h1)  # (T, 3D)
        q, k, v = (t.view(T, H, Dh).transpose(0, 1) for t in qkv.split(D, -1))  # (H, T, Dh)
        S = q @ k.transpose(-2, -1) / Dh**0.5  # (H, T, T)
        A = S.softmax(-1)
        O = A @ v  # (H, T, Dh)
        a = block.attn.out(O.transpose(0, 1).reshape(T, D))
        x1 = x0 + a
        h2, W2 = layer_norm(block.ln2, x1)
        u = block.mlp.fc(h2)
        g = torch.nn.functional.gelu(u)
        f = block.mlp.proj(g)
        x2 = x1 + f
        h3, W3 = layer_norm(m.ln_f, x2)

        R_h3 = torch.zeros_like(h3)
        R_h3[0] = h3[0] * m.head.weight[target]  # ε-rule from the logit, which is its own relevance
        R_x2 = epsilon(x2, W3, h3, R_h3)
        R_x1, R_f = x1 / x2 * R_x2, f / x2 * R_x2
        R_u = epsilon(g, block.mlp.proj.weight, f, R_f)  # GELU: identity, R_u = R_g
        R_x1 = R_x1 + epsilon(x1, W2, h2, epsilon(h2, block.mlp.fc.weight, u, R_u))
        R_x0, R_a = x0 / x1 * R_x1, a / x1 * R_x1
        R_O = epsilon(O.transpose(0, 1).reshape(T, D), block.attn.out.weight, a, R_a)
        N = R_O.view(T, H, Dh).transpose(0, 1) / O * share  # (H, T, Dh)
        R_v = v * (A.transpose(-2, -1) @ N)
        R_q = R_k = torch.zeros_like(q)
        if rule == "attnlrp":
            R_A = A * (N @ v.transpose(-2, -1))  # (H, T, T)
            R_S = S * (R_A - A * R_A.sum(-1, keepdim=True))
            N_S = R_S / S * share
            R_q, R_k = q * (N_S @ k) / Dh**0.5, k * (N_S.transpose(-2, -1) @ q) / Dh**0.5
        R_qkv = torch.cat([t.transpose(0, 1).reshape(T, D) for t in (R_q, R_k, R_v)], -1)  # (T, 3D)
        R_x0 = R_x0 + epsilon(x0, W1, h1, epsilon(h1, block.attn.qkv.weight, qkv, R_qkv))
    return R_x0.sum(-1)


@pytest.mark.parametrize("rule", ["attnlrp", "cp"])
def test_lrp_follows_the_rules_of_the_paper_relevance_by_relevance(one_layer, rule):
    model, tokens = one_layer
    for i in range(len(tokens)):
        sentence = tokens[i, : int((tokens[i] != 0).sum())]
        ours = LRP(model, rule=rule).attribute(sentence[None], target=1)[0].double()
        expected = explicit_lrp(model, sentence, 1, rule)
        torch.testing.assert_close(ours, expected, atol=1e-6, rtol=1e-4)
