"""
Raw attention: the weights one query row (default [CLS]) puts on each key, read from one layer (or
averaged over layers) with the heads fused. The explanation everyone reaches for first; lesson 01
shows why it is plausible but not necessarily faithful.
"""

from __future__ import annotations

import torch

from attnlab.attribution.base import Attribution
from attnlab.attribution.rollout import HEAD_FUSIONS, fuse_heads


class RawAttention(Attribution):
    """Attention weights of the query row `position`.

    layer: an int (negative counts from the end; default -1, the last layer) or "mean" (average of
    all layers). head: "mean", "max", "min" (fuse the heads) or an int (one head).
    """

    name = "raw attention"
    reads_attention_row = True

    def __init__(self, model, layer: int | str = -1, head: int | str = "mean") -> None:
        super().__init__(model)
        if isinstance(layer, str):
            if layer != "mean":
                raise ValueError(f"layer must be an int or 'mean', got {layer!r}")
        else:
            (layer,) = model.cfg.layer_indices([layer])  # checked; -1 is the last layer
        if isinstance(head, str):
            if head not in HEAD_FUSIONS:
                raise ValueError(f"head must be an int or one of {HEAD_FUSIONS}, got {head!r}")
        else:
            (head,) = model.cfg.head_indices([head])  # checked
        self.layer, self.head = layer, head

    @torch.no_grad()
    def _attribute(self, tokens, target, mask, position):
        attentions = self.model(tokens, mask).attentions[..., position, :]  # (L, B, H, T)
        per_layer = attentions.mean(0) if self.layer == "mean" else attentions[self.layer]  # (B, H, T)
        if isinstance(self.head, int):
            return per_layer[:, self.head]  # (B, T)
        return fuse_heads(per_layer[..., None, :], self.head)[..., 0, :]  # fuse over H: (B, T)
