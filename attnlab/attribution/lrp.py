"""
Layer-wise relevance propagation for the TinyTransformer: AttnLRP (Achtibat et al., 2024), in the
"gradient x input" form of the lxt library (after Arras et al., 2025), plus the CP-LRP variant
(Ali et al., 2022) that treats attention weights as constants.

LRP (Bach et al., 2015) starts from the explained logit and hands it backwards, layer by layer, so
that each layer's relevance adds up to the same total ("conservation"). For a layer that is linear
in its input, the ε-rule is exactly input ⊙ gradient; so LRP can be run as ONE backward pass of a
forward pass whose gradients have been modified where a layer is not linear:

    operation              rule (AttnLRP)              how the backward pass is modified
    Linear, residual add   ε-rule                      nothing (gradient x input is the rule)
    LayerNorm              identity                    the standard deviation is detached
    GELU                   identity                    gradient replaced by gelu(x) / x
    softmax                Taylor at x, with bias      nothing (gradient x input is the rule)
    A @ V                  uniform: half to each       gradient into A and V halved
    Q @ K^T                uniform: half to each       gradient into Q and K halved

Relevance of input token t: R_t = sum_d x[t, d] · g[t, d] at the embeddings x (token + position).
What is not conserved is absorbed by the biases and by the softmax rule's bias term (the half of
the relevance that the A @ V rule sends to A is only partly passed on to Q and K); the convergence
delta sum_t R_t - logit measures it. `relevance_budget` does the accounting per example: input
relevance + bias relevance + softmax absorption = logit (tests/ check it, and that delta = 0 for
CP-LRP on a model without biases).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from attnlab.attribution.base import Attribution, target_logit
from attnlab.attribution.gradients import input_embeddings
from attnlab.models import Attention, Block, TinyTransformer, TransformerOutput

RULES = ("attnlrp", "cp")
IDENTITY_EPS = 1e-10


class _ScaleGradient(torch.autograd.Function):
    """Identity forward; the gradient is multiplied by `factor` on the way back."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, factor: float) -> torch.Tensor:
        ctx.factor = factor
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad * ctx.factor, None


class _IdentityRuleGELU(torch.autograd.Function):
    """gelu(x) forward; backward passes relevance straight through: grad_in = grad · gelu(x) / x."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        out = F.gelu(x)
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, out = ctx.saved_tensors
        safe = torch.where(x >= 0, x + IDENTITY_EPS, x - IDENTITY_EPS)
        return grad * out / safe


def scale_gradient(x: torch.Tensor, factor: float) -> torch.Tensor:
    return _ScaleGradient.apply(x, factor)


def layer_norm_identity(ln: torch.nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    """The same values as ln(x), with the standard deviation detached (identity rule)."""
    centred = x - x.mean(-1, keepdim=True)
    std = (centred.pow(2).mean(-1, keepdim=True) + ln.eps).sqrt().detach()
    return centred / std * ln.weight + ln.bias


def _attention(
    attn: Attention, x: torch.Tensor, key_mask: torch.Tensor, rule: str, record: list | None
) -> tuple[torch.Tensor, torch.Tensor]:
    B, T, D = x.shape
    H, Dh = attn.n_heads, attn.d_head
    q, k, v = attn.qkv(x).split(D, dim=-1)  # each (B, T, D)
    q, k, v = (t.view(B, T, H, Dh).transpose(1, 2) for t in (q, k, v))  # each (B, H, T, Dh)
    if rule == "cp":
        q, k = q.detach(), k.detach()  # attention weights are constants: no relevance through softmax
    else:
        q, k = scale_gradient(q, 0.5), scale_gradient(k, 0.5)  # uniform rule on Q K^T
    scores = (q @ k.transpose(-2, -1) / math.sqrt(Dh)).masked_fill(~key_mask, float("-inf"))  # (B, H, T, T)
    pattern = F.softmax(scores, dim=-1)  # (B, H, T, T)
    if record is not None:
        record.append((scores, pattern))  # where the softmax rule loses relevance (tests account for it)
    if rule != "cp":
        pattern, v = scale_gradient(pattern, 0.5), scale_gradient(v, 0.5)  # uniform rule on A V
    z = (pattern @ v).transpose(1, 2).reshape(B, T, D)  # (B, T, D)
    return attn.out(z), pattern


def _block(
    block: Block, x: torch.Tensor, key_mask: torch.Tensor, rule: str, record: list | None
) -> tuple[torch.Tensor, torch.Tensor]:
    attn_out, pattern = _attention(block.attn, layer_norm_identity(block.ln1, x), key_mask, rule, record)
    x = x + attn_out
    hidden = _IdentityRuleGELU.apply(block.mlp.fc(layer_norm_identity(block.ln2, x)))
    return x + block.mlp.proj(hidden), pattern


def lrp_forward(
    model: TinyTransformer, embeds: torch.Tensor, mask: torch.Tensor, rule: str = "attnlrp", record: list | None = None
) -> TransformerOutput:
    """The model's forward pass from embeddings (B, T, D), with LRP's modified gradients.

    Its values equal the model's own forward pass (a test checks it); only the backward differs.
    record: a list that receives (scores, softmax) of every layer, both (B, H, T, T), in the graph.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if model.cfg.causal:
        raise ValueError("lrp_forward supports the encoder (causal=False) only")
    key_mask = mask[:, None, None, :]  # (B, 1, 1, T)
    x, hidden, patterns = embeds, [embeds], []
    for block in model.blocks:
        x, pattern = _block(block, x, key_mask, rule, record)
        hidden.append(x)
        patterns.append(pattern)
    x = layer_norm_identity(model.ln_f, x)
    logits = model.head(x[:, 0] if model.cfg.head == "cls" else x)
    return TransformerOutput(logits, torch.stack(patterns), torch.stack(hidden), tuple(patterns), mask)


class LRP(Attribution):
    """Relevance of each input token for the target logit; delta = sum of relevances - logit.

    rule: "attnlrp" (Achtibat et al., 2024) or "cp" (attention as constants, Ali et al., 2022).
    """

    name = "LRP"
    has_convergence_delta = True

    def __init__(self, model: TinyTransformer, rule: str = "attnlrp") -> None:
        super().__init__(model)
        if rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
        self.rule = rule
        self.name = "AttnLRP" if rule == "attnlrp" else "CP-LRP"

    def _attribute(self, tokens, target, mask, position):
        embeds = input_embeddings(self.model, tokens).detach().requires_grad_(True)  # (B, T, D)
        out = lrp_forward(self.model, embeds, mask, self.rule)
        y = target_logit(self.model, out, target, position)  # (B,)
        (grad,) = torch.autograd.grad(y.sum(), embeds)
        relevance = (embeds * grad).sum(-1).detach()  # (B, T)
        relevance = relevance.masked_fill(~mask, 0.0)
        return relevance, relevance.sum(-1) - y.detach()


@dataclass
class RelevanceBudget:
    """Where the explained logit goes, per example (B,): logit = inputs + biases + softmax (+ float error)."""

    logit: torch.Tensor  # the explained logit
    inputs: torch.Tensor  # sum of the input tokens' relevances (what LRP reports)
    biases: torch.Tensor  # relevance absorbed by every bias (linear layers, LayerNorm shifts)
    softmax: torch.Tensor  # relevance absorbed by the softmax rule's bias term (0 for CP-LRP)


def relevance_budget(model: TinyTransformer, tokens: torch.Tensor, target: torch.Tensor | None = None,
                     rule: str = "attnlrp") -> RelevanceBudget:
    """Split each example's logit into the relevance reaching the inputs and what biases and the
    softmax rule absorb, from one modified backward pass (gradient x input at every bias and softmax)."""
    mask = tokens != model.cfg.pad_id
    if target is None:
        with torch.no_grad():
            target = model(tokens).logits.argmax(-1)
    embeds = input_embeddings(model, tokens).detach().requires_grad_(True)  # (B, T, D)
    record: list = []
    out = lrp_forward(model, embeds, mask, rule, record)
    y = target_logit(model, out, target)  # (B,)
    biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
    tensors = [t for pair in record for t in pair]  # scores_0, softmax_0, scores_1, ...
    in_graph = [t if t.requires_grad else torch.zeros((), requires_grad=True) for t in tensors]  # CP-LRP: constants
    grads = torch.autograd.grad(y.sum(), [embeds, *in_graph], retain_graph=True, allow_unused=True)
    grads = [torch.zeros(()) if g is None else g for g in grads]  # examples are independent: one pass
    inputs = (embeds * grads[0]).sum((1, 2))  # (B,)
    softmax = torch.zeros(len(tokens))
    for (s, a), gs, ga in zip(record, grads[1::2], grads[2::2]):  # each (B, H, T, T), or 0 for constants
        into = (a * ga).sum((1, 2, 3))  # relevance reaching the softmax output
        out_of = torch.where(torch.isfinite(s), s * gs, 0.0).sum((1, 2, 3))  # passed on to its input scores
        softmax = softmax + (into - out_of).detach()
    # A bias is shared by the batch, so its relevance (bias x gradient) is taken one example at a time.
    bias_part = torch.zeros(len(tokens))
    for i in range(len(tokens)):
        per_bias = torch.autograd.grad(y[i], biases, retain_graph=True, allow_unused=True)
        bias_part[i] = sum((b * g).sum() for b, g in zip(biases, per_bias) if g is not None).detach()
    return RelevanceBudget(y.detach(), inputs.detach(), bias_part, softmax)
