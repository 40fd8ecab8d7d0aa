"""
Gradient baselines on the input embeddings x = token embedding + position embedding, (B, T, D):

- GradientXInput (Simonyan et al., 2014; Shrikumar et al., 2017): score_t = sum_d x[t, d] · ∂y/∂x[t, d].
  With ln_scale="detached" the gradient treats every LayerNorm's scale sqrt(var + eps) as a constant
  (the identity rule AttnLRP and CP-LRP use for LayerNorm, Ali et al., 2022): see below.
- IntegratedGradients (Sundararajan et al., 2017): score_t = sum_d (x - x')[t, d] · mean over the
  path x' + α(x - x') of ∂y/∂x[t, d]; by completeness the scores sum to y(x) - y(x').

y is the logit of the target class. Scores are signed: positive means "pushes towards the target".
The baseline x' replaces every word by [PAD] (its embedding plus the position embedding) and keeps
[CLS] and the attention mask as they are, so only the words' content is integrated away.
"""

from __future__ import annotations

import numpy as np
import torch

from attnlab.attribution.base import Attribution, target_logit
from attnlab.models import TinyTransformer


def input_embeddings(model: TinyTransformer, tokens: torch.Tensor) -> torch.Tensor:
    """(B, T) ids -> (B, T, D): what the model's hook_embed sees (TinyTransformer.embed)."""
    return model.embed(tokens)


def logit_from_embeddings(
    model: TinyTransformer,
    tokens: torch.Tensor,
    mask: torch.Tensor,
    embeds: torch.Tensor,
    target: torch.Tensor,
    position: int,
) -> torch.Tensor:
    """(B,) target logit when the embeddings (B, T, D) replace the model's own (mask and tokens kept)."""
    with model.hooks([("hook_embed", lambda x, hook: embeds)]):
        out = model(tokens, mask)
    return target_logit(model, out, target, position)


def baseline_token(model: TinyTransformer) -> int:
    """The token the baseline puts in place of every word: the model's `baseline_id` if it has one, else [PAD].

    A model without a pad token (GPT-2) has baseline_id None: there is no neutral token to guess, and
    an id outside the vocabulary would silently embed some other row, so integrated gradients refuses it.
    """
    token = getattr(model, "baseline_id", model.cfg.pad_id)
    if token is None or not 0 <= token < model.cfg.vocab_size:
        raise ValueError(
            "integrated gradients needs a baseline token to put in place of the words, and this model has "
            "no pad token: choose a neutral token and wrap the model with from_hf(model, baseline_id=...)"
        )
    return token


def pad_baseline(model: TinyTransformer, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, T, D) baseline embeddings: every real word replaced by [PAD] (or the model's baseline token),
    [CLS] (position 0) kept."""
    words = mask.clone()
    words[:, 0] = False
    return input_embeddings(model, tokens.masked_fill(words, baseline_token(model)))


LN_SCALE = ("plain", "detached")


def _detach_scale(x: torch.Tensor, hook) -> torch.Tensor:
    return x.detach()


class GradientXInput(Attribution):
    """Gradient of the target logit times the input embedding, summed over the embedding dimension.

    ln_scale="plain" (default): the model's own gradient. In a pre-LN model it is nearly blind to
    every path that reads a token's embedding through a LayerNorm: LN is scale-invariant, so its
    Jacobian J satisfies J(x) · x = 0 (up to eps), and x · g gets nothing from layer 0 reading the
    word, only from the word's own residual copy as later layers read it.
    ln_scale="detached": every `*.hook_scale` is detached, so LN is linear in x on the way back and
    those paths count (Ali et al., 2022; Achtibat et al., 2024). The forward pass is unchanged.
    """

    name = "gradient x input"

    def __init__(self, model: TinyTransformer, ln_scale: str = "plain") -> None:
        super().__init__(model)
        if ln_scale not in LN_SCALE:
            raise ValueError(f"ln_scale must be one of {LN_SCALE}, got {ln_scale!r}")
        self.ln_scale = ln_scale
        if ln_scale == "detached":
            self.name = "gradient x input (LN scale detached)"

    def _attribute(self, tokens, target, mask, position):
        embeds = input_embeddings(self.model, tokens).detach().requires_grad_(True)  # (B, T, D)
        hooks = [(lambda name: name.endswith("hook_scale"), _detach_scale)] if self.ln_scale == "detached" else []
        with self.model.hooks(hooks):
            y = logit_from_embeddings(self.model, tokens, mask, embeds, target, position)  # (B,)
        (grad,) = torch.autograd.grad(y.sum(), embeds)  # examples are independent, so one backward serves all
        return (grad * embeds).sum(-1).detach()  # (B, T)


class IntegratedGradients(Attribution):
    """Integrated gradients from the [PAD] baseline; returns its completeness delta on request.

    n_steps points on the straight path, placed by a midpoint Riemann sum ("riemann", the default) or
    Gauss-Legendre quadrature (captum's default). On this model the path crosses sharp turns of the
    softmax, where Gauss-Legendre's high-order nodes can miss by a lot at 50 steps while the midpoint
    rule stays close; the delta tells you which happened. delta = sum(scores) - (y(x) - y(x')), shape (B,).
    """

    name = "integrated gradients"
    has_convergence_delta = True

    def __init__(self, model: TinyTransformer, n_steps: int = 64, method: str = "riemann") -> None:
        super().__init__(model)
        baseline_token(model)  # refused here, before any work, when the model has no baseline token
        if n_steps < 1:
            raise ValueError(f"n_steps must be positive, got {n_steps}")
        if method not in ("gausslegendre", "riemann"):
            raise ValueError(f"method must be 'gausslegendre' or 'riemann', got {method!r}")
        self.n_steps, self.method = n_steps, method

    def _alphas_and_weights(self) -> tuple[list[float], list[float]]:
        if self.method == "riemann":
            return [(k + 0.5) / self.n_steps for k in range(self.n_steps)], [1.0 / self.n_steps] * self.n_steps
        nodes, weights = np.polynomial.legendre.leggauss(self.n_steps)  # on [-1, 1]
        return list(0.5 * (nodes + 1)), list(0.5 * weights)  # mapped to [0, 1]

    def _attribute(self, tokens, target, mask, position):
        x = input_embeddings(self.model, tokens).detach()  # (B, T, D)
        baseline = pad_baseline(self.model, tokens, mask).detach()  # (B, T, D)
        total_grad = torch.zeros_like(x)
        for alpha, weight in zip(*self._alphas_and_weights()):
            point = (baseline + alpha * (x - baseline)).requires_grad_(True)
            y = logit_from_embeddings(self.model, tokens, mask, point, target, position)
            (grad,) = torch.autograd.grad(y.sum(), point)
            total_grad += weight * grad
        scores = ((x - baseline) * total_grad).sum(-1)  # (B, T)
        with torch.no_grad():
            y_x = logit_from_embeddings(self.model, tokens, mask, x, target, position)
            y_base = logit_from_embeddings(self.model, tokens, mask, baseline, target, position)
        delta = scores.sum(-1) - (y_x - y_base)  # (B,)
        return scores, delta
