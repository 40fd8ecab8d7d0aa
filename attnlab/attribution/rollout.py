"""
Attention rollout (Abnar & Zuidema, 2020, "Quantifying Attention Flow in Transformers").

A layer's output at token i mixes the attended tokens *and* token i itself (the residual
connection). Rollout models both with Â_l = (A_l + I) renormalised to rows summing to 1, then
follows the mixing through the layers:

    R = Â_L · ... · Â_2 · Â_1          (newest layer multiplied on the left)

R[i, j] is how much of input token j ends up at position i of the last layer, if mixing were linear.
Heads are fused first: mean (the paper), max or min (jacobgil/vit-explain); after max or min the rows
no longer sum to 1, so they are renormalised (with keepdim: vit-explain's issue #16 divides by the
wrong row sums).
"""

from __future__ import annotations

import torch

from attnlab.attribution.base import Attribution
from attnlab.attribution.validate import check_attentions

HEAD_FUSIONS = ("mean", "max", "min")


def mean_over_heads(x: torch.Tensor) -> torch.Tensor:
    """(..., H, Q, K) -> (..., Q, K). The same as x.mean(-3), written as a (1, H) @ (..., H, T*T) product,
    which reads the data once with contiguous inner loops (several times faster than a strided mean)."""
    H, Q, K = x.shape[-3:]
    weights = torch.full((1, H), 1.0 / H, dtype=x.dtype, device=x.device)
    return (weights @ x.reshape(*x.shape[:-3], H, Q * K)).reshape(*x.shape[:-3], Q, K)


def fuse_heads(attentions: torch.Tensor, head_fusion: str = "mean") -> torch.Tensor:
    """(..., H, T, T) -> (..., T, T): mean, max or min over the head axis (dim -3)."""
    if head_fusion == "mean":
        return mean_over_heads(attentions)
    if head_fusion == "max":
        return attentions.amax(-3)
    if head_fusion == "min":
        return attentions.amin(-3)
    raise ValueError(f"head_fusion must be one of {HEAD_FUSIONS}, got {head_fusion!r}")


def normalise_rows(matrix: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """(..., T, T) with every row divided by its sum; a row summing to 0 is an error."""
    sums = matrix.sum(-1, keepdim=True)  # (..., T, 1): keepdim, so row i is divided by its own sum
    if bool((sums <= 0).any()):
        raise ValueError("a fused attention row sums to 0 and cannot be renormalised; use residual=True or mean fusion")
    return matrix.div_(sums) if inplace else matrix / sums


def attention_rollout(
    attentions: torch.Tensor, head_fusion: str = "mean", residual: bool = True, validate: bool = True
) -> torch.Tensor:
    """Roll attention out across layers.

    attentions: (L, B, H, T, T), or (L, H, T, T) for one example; rows sum to 1.
    head_fusion: "mean" (paper), "max" or "min" over heads.
    residual: add the identity (the skip connection) before renormalising the rows.
    validate: check the input first (shape, NaN, rows summing to 1); False skips the checks' two
    passes over the data, for attentions known to be valid.
    Returns (B, T, T), or (T, T) for one example; every row sums to 1.

    >>> A = torch.full((2, 1, 3, 3), 1 / 3)   # two layers, one head, uniform attention
    >>> attention_rollout(A)[0]
    tensor([0.3333, 0.3333, 0.3333])
    """
    single = attentions.dim() == 4
    if validate:
        attentions = check_attentions(attentions)  # (L, B, H, T, T)
    elif single:
        attentions = attentions.unsqueeze(1)
    fused = fuse_heads(attentions, head_fusion)  # (L, B, T, T)
    if not residual:
        if head_fusion != "mean":
            fused = normalise_rows(fused, inplace=True)
        rollout = fused[0]
        for layer in fused[1:]:
            rollout = layer @ rollout  # (B, T, T): newest layer on the left
        return rollout[0] if single else rollout
    # With the residual, Â = (A + I) / (s + 1) row by row, s = A's row sums (1 after mean fusion).
    # Â @ R = (A @ R + R) / (s + 1): one baddbmm per layer instead of building Â (adding I on the
    # diagonal, then a pass to renormalise), which is where a batched rollout spends most of its time.
    scale = 1.0 / (fused.sum(-1, keepdim=True) + 1.0)  # (L, B, T, 1)
    eye = torch.eye(fused.shape[-1], dtype=fused.dtype, device=fused.device)
    rollout = (fused[0] + eye) * scale[0]  # (B, T, T): Â_1
    for layer, layer_scale in zip(fused[1:], scale[1:]):
        rollout = torch.baddbmm(rollout, layer, rollout).mul_(layer_scale)  # Â_l @ R, newest on the left
    return rollout[0] if single else rollout


class FusedHeadsAttribution(Attribution):
    """A method that fuses the heads and adds the residual before following attention across layers
    (rollout, flow): the two options, checked once."""

    reads_attention_row = True

    def __init__(self, model, head_fusion: str = "mean", residual: bool = True) -> None:
        super().__init__(model)
        if head_fusion not in HEAD_FUSIONS:
            raise ValueError(f"head_fusion must be one of {HEAD_FUSIONS}, got {head_fusion!r}")
        self.head_fusion, self.residual = head_fusion, residual


class Rollout(FusedHeadsAttribution):
    """Attention rollout read at one query row (default [CLS]): how much of each input token reaches it.

    >>> scores = Rollout(model).attribute(tokens)          # (B, T)
    """

    name = "rollout"

    @torch.no_grad()
    def _attribute(self, tokens, target, mask, position):
        out = self.model(tokens, mask)
        rollout = attention_rollout(out.attentions, self.head_fusion, self.residual)  # (B, T, T)
        return rollout[:, position]  # (B, T)
