"""
Input checks shared by the matrix methods: a bad attention tensor fails early with a clear message
instead of producing a plausible-looking but meaningless explanation.
"""

from __future__ import annotations

import torch

ROW_SUM_TOLERANCE = 1e-4


def check_attentions(attentions: torch.Tensor, name: str = "attentions") -> torch.Tensor:
    """Validate attention probabilities and return them as (L, B, H, T, T).

    Accepts (L, B, H, T, T), or (L, H, T, T) for one example (a batch axis of 1 is added).
    Raises ValueError on a wrong rank, non-square maps, NaN or infinite values, negative weights,
    or rows that do not sum to 1.
    """
    if not isinstance(attentions, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(attentions).__name__}")
    if attentions.dim() == 4:
        attentions = attentions.unsqueeze(1)  # (L, H, T, T) -> (L, 1, H, T, T)
    if attentions.dim() != 5:
        shapes = "(layers, batch, heads, T, T) or (layers, heads, T, T)"
        raise ValueError(f"{name} must have shape {shapes}, got {tuple(attentions.shape)}")
    if attentions.shape[-1] != attentions.shape[-2]:
        raise ValueError(f"{name} maps must be square (T, T), got {tuple(attentions.shape[-2:])}")
    if not attentions.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {attentions.dtype}")
    # Two passes over the data, not five: NaN and inf propagate into the row sums, so checking the
    # (L, B, H, T) sums finds them; negative weights show up in the minimum.
    row_sums = attentions.sum(-1)  # (L, B, H, T)
    if not bool(torch.isfinite(row_sums).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    if float(attentions.amin()) < 0:
        raise ValueError(f"{name} contains negative weights; attention probabilities are >= 0")
    worst = int((row_sums - 1).abs().argmax())
    if abs(row_sums.flatten()[worst].item() - 1) > ROW_SUM_TOLERANCE:
        raise ValueError(
            f"{name} rows must sum to 1 (softmax probabilities over the keys); "
            f"row {tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), row_sums.shape))} "
            f"(layer, batch, head, query) sums to {row_sums.flatten()[worst].item():.4g}"
        )
    return attentions


def check_same_shape(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} has shape {tuple(a.shape)} but {name_b} has shape {tuple(b.shape)}; they must match"
        )
    if not bool(torch.isfinite(b.sum())):  # NaN and inf propagate into the sum: one pass, no bool copy
        raise ValueError(f"{name_b} contains NaN or infinite values")
