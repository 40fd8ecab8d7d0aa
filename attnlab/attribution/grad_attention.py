"""
Attention weighted by its gradient: which attention weights push the explained logit up?

- grad_weighted_rollout (Chefer, Gur & Wolf, 2021b, rules 5-6): per layer
      Ā_l = mean_h clamp(∇A_l ⊙ A_l, min=0)          # clamp *before* the head mean
  accumulated from R = I with R ← R + Ā_l · R (layer 0 first). No row renormalisation: R keeps the
  scale of the gradients, and only the ranking within a row is meant to be read.
- AttentionGradCAM (Chefer et al.'s "Attn-GradCAM" baseline, after Grad-CAM, Selvaraju et al. 2017):
  last layer only; each head is weighted by its gradient averaged over the explained row, heads
  averaged, negatives clamped.

∇A is the gradient of the target logit with respect to the attention probabilities, taken through
the model's own forward pass (out.attention_list stays in the autograd graph).
"""

from __future__ import annotations

import torch

from attnlab.attribution.base import Attribution, target_logit
from attnlab.attribution.rollout import mean_over_heads
from attnlab.attribution.validate import check_attentions, check_same_shape
from attnlab.models import TinyTransformer


def grad_weighted_rollout(
    attentions: torch.Tensor, attention_grads: torch.Tensor, validate: bool = True
) -> torch.Tensor:
    """Chefer et al. 2021b relevance matrix.

    attentions, attention_grads: (L, B, H, T, T), or (L, H, T, T) for one example.
    Returns R = (I + Ā_L) ··· (I + Ā_1), shape (B, T, T) (or (T, T)). Row i: relevance of each
    input token for position i of the last layer. validate=False skips the input checks.
    """
    single = attentions.dim() == 4
    if validate:
        check_same_shape(attentions, attention_grads, "attentions", "attention_grads")
        attentions = check_attentions(attentions)  # (L, B, H, T, T)
    elif single:
        attentions = attentions.unsqueeze(1)
    attention_grads = attention_grads.reshape(attentions.shape)
    weighted = mean_over_heads((attention_grads * attentions).clamp_(min=0))  # (L, B, T, T): clamp, then mean
    relevance = weighted[0].clone()  # R = I + Ā_0 (R starts as I, so Ā_0 · I = Ā_0)
    relevance.diagonal(dim1=-2, dim2=-1).add_(1.0)  # (B, T, T)
    for layer in weighted[1:]:
        relevance = torch.baddbmm(relevance, layer, relevance)  # R + Ā_l · R in one kernel, (B, T, T)
    return relevance[0] if single else relevance


def attention_and_gradients(
    model: TinyTransformer, tokens: torch.Tensor, mask: torch.Tensor, target: torch.Tensor, position: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(attentions, ∂ target logit / ∂ attentions), both (L, B, H, T, T), detached."""
    out = model(tokens, mask)
    y = target_logit(model, out, target, position)  # (B,)
    grads = torch.autograd.grad(y.sum(), out.attention_list)  # examples are independent: one backward for all
    return out.attentions.detach(), torch.stack(grads)


class GradWeightedRollout(Attribution):
    """Chefer et al. 2021b: the row `position` of grad_weighted_rollout for the target class."""

    name = "grad-weighted rollout"
    reads_attention_row = True

    def _attribute(self, tokens, target, mask, position):
        attentions, grads = attention_and_gradients(self.model, tokens, mask, target, position)
        return grad_weighted_rollout(attentions, grads)[:, position]  # (B, T)


class AttentionGradCAM(Attribution):
    """Last-layer attention, each head weighted by its mean gradient over the explained row.

    score_j = clamp(mean_h w_h · A_L[h, position, j], min=0), w_h = mean over real keys j != [CLS]
    of ∂y/∂A_L[h, position, j] (as Chefer et al.'s baseline averages over the patches).
    """

    name = "attention Grad-CAM"
    reads_attention_row = True

    def _attribute(self, tokens, target, mask, position):
        attentions, grads = attention_and_gradients(self.model, tokens, mask, target, position)
        A, G = attentions[-1, :, :, position], grads[-1, :, :, position]  # (B, H, T): the explained row
        keys = mask.clone()
        keys[:, 0] = False  # the [CLS] key is left out of the average
        keys = keys[:, None, :].float()  # (B, 1, T)
        weights = (G * keys).sum(-1, keepdim=True) / keys.sum(-1, keepdim=True).clamp(min=1)  # (B, H, 1)
        return (weights * A).mean(1).clamp(min=0)  # (B, T)
