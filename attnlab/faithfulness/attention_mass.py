"""
How much attention a layer's [CLS] row puts on the gold rationale: the figure the deceptive model's
training pushes down (attnlab.zoo.recipes.deceptive_model) and that lessons 01 and 02 read.
"""

from __future__ import annotations

import torch

from attnlab.models import TinyTransformer
from attnlab.tasks.rationale import RationaleData


def rationale_attention_mass(
    attentions: torch.Tensor, rationale: torch.Tensor, layer: int = -1, position: int = 0
) -> torch.Tensor:
    """(B, H): weight that each head's `position` row in `layer` puts on rationale tokens.

    attentions: (L, B, H, T, T) or a tuple of L (B, H, T, T) tensors; rationale: (B, T) bool.
    """
    pattern = attentions[layer]  # (B, H, T, T)
    if rationale.shape != (pattern.shape[0], pattern.shape[-1]):
        raise ValueError(
            f"rationale has shape {tuple(rationale.shape)}, expected {(pattern.shape[0], pattern.shape[-1])}"
        )
    return (pattern[:, :, position] * rationale[:, None, :].float()).sum(-1)


@torch.no_grad()
def attention_mass_report(model: TinyTransformer, data: RationaleData, layer: int = -1) -> dict[str, float]:
    """Held-out accuracy and the last layer's [CLS] attention mass on the rationale (mean and max head)."""
    out = model(data.tokens)
    mass = rationale_attention_mass(out.attentions, data.rationale, layer)  # (N, H)
    return {
        "accuracy": (out.logits.argmax(-1) == data.labels).float().mean().item(),
        "mean_head_mass": mass.mean().item(),
        "max_head_mass": mass.max(1).values.mean().item(),
    }
