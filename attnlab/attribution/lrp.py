"""
Layer-wise relevance propagation for the TinyTransformer: AttnLRP (Achtibat et al., 2024), in the
"gradient x input" form of the lxt library (after Arras et al., 2025), plus the CP-LRP variant
(Ali et al., 2022) that treats attention weights as constants.

LRP (Bach et al., 2015) starts from the explained logit and hands it backwards, layer by layer, so
that each layer's relevance adds up to the same total ("conservation"). For a layer that is linear
in its input, the ε-rule is exactly input ⊙ gradient; so LRP is ONE backward pass through the
model's own forward pass, with hooks on its hook points (models.py) that leave every value as it is
and change the gradient where a layer is not linear:

    operation              rule (AttnLRP)              hook
    Linear, residual add   ε-rule                      none (gradient x input is the rule)
    LayerNorm              identity                    *.hook_scale: the scale is detached
    GELU                   identity                    mlp.hook_pre, mlp.hook_post: gradient gelu(x) / x
    softmax                Taylor at x, with bias      none (gradient x input is the rule)
    A @ V                  uniform: half to each       attn.hook_pattern, attn.hook_v: gradient halved
    Q @ K^T                uniform: half to each       attn.hook_q, attn.hook_k: gradient halved

CP-LRP detaches attn.hook_q and attn.hook_k instead (no relevance flows through the softmax) and
keeps the LayerNorm and GELU rules. Because the hooks ride on the model's forward pass, LRP explains
the model as it runs: inside `with replace_attention(model, "uniform")` it explains the model with
uniform attention, like every other method.

Relevance of input token t: R_t = sum_d x[t, d] · g[t, d] at the embeddings x (token + position).
What is not conserved is absorbed by the biases and by the softmax rule's bias term (the half of
the relevance that the A @ V rule sends to A is only partly passed on to Q and K); the convergence
delta sum_t R_t - logit measures it. `relevance_budget` does the accounting per example: input
relevance + bias relevance + softmax absorption = logit (tests/ check it, and that delta = 0 for
CP-LRP on a model without biases).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from attnlab.attribution.base import Attribution
from attnlab.attribution.gradients import input_embeddings, logit_from_embeddings
from attnlab.hooks import HookFn, HookPoint
from attnlab.models import TinyTransformer, require_writable_pattern

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


class _IdentityRule(torch.autograd.Function):
    """Forward: `out` = f(x) as it is. Backward: relevance passes straight through f, so the gradient
    reaches x as grad · f(x) / x, and none goes through f's own gradient."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, out)
        return out.view_as(out)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, out = ctx.saved_tensors
        safe = torch.where(x >= 0, x + IDENTITY_EPS, x - IDENTITY_EPS)
        return grad * out / safe, None


def scale_gradient(x: torch.Tensor, factor: float) -> torch.Tensor:
    return _ScaleGradient.apply(x, factor)


def identity_rule(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """LRP's identity rule for an elementwise activation out = f(x) (GELU here; a pooler's tanh in lesson
    06): the value is `out` as it is, and on the way back x receives grad · f(x) / x, so the relevance
    f(x) · grad passes through f whole instead of x · f'(x) · grad."""
    return _IdentityRule.apply(x, out)


def _named(suffix: str) -> Callable[[str], bool]:
    return lambda name: name.endswith(suffix)


def lrp_hooks(rule: str = "attnlrp") -> list[tuple[Callable[[str], bool], HookFn]]:
    """The hooks that turn the model's backward pass into LRP's: `with model.hooks(lrp_hooks(rule)): ...`.

    Values are unchanged; only the gradients differ. Hooks added before these (an intervention) act
    first, so LRP sees the intervened tensors.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    pre_activation: dict[str, torch.Tensor] = {}  # mlp name -> its (B, T, d_mlp) input to the GELU

    def detach(x: torch.Tensor, hook: HookPoint) -> torch.Tensor:
        return x.detach()

    def halve_gradient(x: torch.Tensor, hook: HookPoint) -> torch.Tensor:
        return scale_gradient(x, 0.5)

    def remember_pre(x: torch.Tensor, hook: HookPoint) -> None:
        pre_activation[hook.name.rsplit(".", 1)[0]] = x

    def gelu_rule(post: torch.Tensor, hook: HookPoint) -> torch.Tensor:
        return identity_rule(pre_activation.pop(hook.name.rsplit(".", 1)[0]), post)

    hooks = [
        (_named("hook_scale"), detach),  # LayerNorm: identity rule
        (_named("mlp.hook_pre"), remember_pre),
        (_named("mlp.hook_post"), gelu_rule),  # GELU: identity rule
    ]
    if rule == "cp":  # attention weights are constants: no relevance through the softmax
        return hooks + [(_named("attn.hook_q"), detach), (_named("attn.hook_k"), detach)]
    uniform = ("attn.hook_q", "attn.hook_k", "attn.hook_pattern", "attn.hook_v")  # Q K^T and A V: half each
    return hooks + [(_named(name), halve_gradient) for name in uniform]


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
        if rule == "attnlrp":  # its A @ V rule halves the gradient at hook_pattern
            require_writable_pattern(model, "AttnLRP")
        self.rule = rule
        self.name = "AttnLRP" if rule == "attnlrp" else "CP-LRP"

    def _attribute(self, tokens, target, mask, position):
        embeds = input_embeddings(self.model, tokens).detach().requires_grad_(True)  # (B, T, D)
        with self.model.hooks(lrp_hooks(self.rule)):
            y = logit_from_embeddings(self.model, tokens, mask, embeds, target, position)  # (B,)
        (grad,) = torch.autograd.grad(y.sum(), embeds)  # examples are independent: one pass serves all
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


def relevance_budget(
    model: TinyTransformer, tokens: torch.Tensor, target: torch.Tensor | None = None, rule: str = "attnlrp"
) -> RelevanceBudget:
    """Split each example's logit into the relevance reaching the inputs and what biases and the
    softmax rule absorb, from one modified backward pass (gradient x input at every bias and softmax)."""
    if rule == "attnlrp":
        require_writable_pattern(model, "AttnLRP")
    mask = tokens != model.cfg.pad_id
    if target is None:
        with torch.no_grad():
            target = model(tokens).logits.argmax(-1)
    embeds = input_embeddings(model, tokens).detach().requires_grad_(True)  # (B, T, D)
    softmax_io: dict[str, torch.Tensor] = {}  # scores_0, pattern_0, scores_1, ...: each (B, H, T, T)

    def keep(x: torch.Tensor, hook: HookPoint) -> None:
        softmax_io[hook.name] = x

    around_softmax = (lambda name: name.endswith(("attn.hook_scores", "attn.hook_pattern")), keep)
    with model.hooks([around_softmax, *lrp_hooks(rule)]):  # kept before LRP halves the pattern's gradient
        y = logit_from_embeddings(model, tokens, mask, embeds, target, 0)  # (B,)
    biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
    tensors = list(softmax_io.values())
    in_graph = [t if t.requires_grad else torch.zeros((), requires_grad=True) for t in tensors]  # CP-LRP: constants
    grads = torch.autograd.grad(y.sum(), [embeds, *in_graph], retain_graph=True, allow_unused=True)
    grads = [torch.zeros(()) if g is None else g for g in grads]  # examples are independent: one pass
    inputs = (embeds * grads[0]).sum((1, 2))  # (B,)
    softmax = torch.zeros(len(tokens))
    for s, a, gs, ga in zip(tensors[::2], tensors[1::2], grads[1::2], grads[2::2]):  # or 0 for constants
        into = (a * ga).sum((1, 2, 3))  # relevance reaching the softmax output
        out_of = torch.where(torch.isfinite(s), s * gs, 0.0).sum((1, 2, 3))  # passed on to its input scores
        softmax = softmax + (into - out_of).detach()
    # A bias is shared by the batch, so its relevance (bias x gradient) is taken one example at a time.
    bias_part = torch.zeros(len(tokens))
    for i in range(len(tokens)):
        per_bias = torch.autograd.grad(y[i], biases, retain_graph=True, allow_unused=True)
        bias_part[i] = sum((b * g).sum() for b, g in zip(biases, per_bias) if g is not None).detach()
    return RelevanceBudget(y.detach(), inputs.detach(), bias_part, softmax)
