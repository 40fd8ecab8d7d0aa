"""
Ablation of attended positions (Serrano & Smith 2019): hide the words the [CLS] row attends to most
from attention (their weights set to 0, the row renormalised), and compare with hiding as many
random words drawn among the *other* words (their control never draws a top item: it asks whether
the top item matters more than a typical non-top one). If attention marks what the model uses, the
first should hurt far more.

Hiding uses `attnlab.interventions.block_keys` in the chosen layers only; the words stay in the
input, so every other route (earlier layers, the residual stream) still carries them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from attnlab.faithfulness.ranking import top_words
from attnlab.faithfulness.scores import require_classifier
from attnlab.interventions import block_keys
from attnlab.models import TinyTransformer
from attnlab.tasks.vocab import word_mask


@dataclass
class AttendedAblation:
    top_change: torch.Tensor  # (B,) |delta p(y)| after hiding the k most attended words
    random_change: torch.Tensor  # (B,) the same for k random words among the non-top words
    top_flipped: torch.Tensor  # (B,) bool: the predicted class changed
    random_flipped: torch.Tensor  # (B,) bool


def cls_attention(attentions: torch.Tensor, layer: int = -1, position: int = 0) -> torch.Tensor:
    """(B, T): head-mean attention row of `position` in `layer`, from (L, B, H, T, T) attentions."""
    return attentions[layer, :, :, position].mean(1)


def attended_ablation(
    model: TinyTransformer,
    tokens: torch.Tensor,
    k: int = 1,
    layer: int = -1,
    block_layers: Sequence[int] | None = None,
    seed: int = 0,
) -> AttendedAblation:
    """Hide the k words most attended by [CLS] in `layer` (and, separately, k random non-top words).

    block_layers: where they are hidden (default: only `layer`, Serrano & Smith's single attention layer).
    """
    require_classifier(model)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    (layer,) = model.cfg.layer_indices([layer])
    block_layers = [layer] if block_layers is None else list(block_layers)
    words = word_mask(tokens, model.cfg.pad_id)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        out = model(tokens)
        p0 = out.logits.softmax(-1)  # (B, C)
        y = p0.argmax(-1)
        top = top_words(cls_attention(out.attentions, layer), words, k)  # (B, T)
        others = words & ~top  # (B, T) the random control never draws a top word
        if bool((others.sum(1) < k).any()):
            raise ValueError(f"every sentence needs more than {2 * k - 1} words for k={k} top and k other words")
        rand = top_words(torch.rand(tokens.shape, generator=generator), others, k)  # (B, T)

        def hide(keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            with block_keys(model, keys, layers=block_layers):
                p = model(tokens).logits.softmax(-1)
            return (p.gather(1, y[:, None])[:, 0] - p0.gather(1, y[:, None])[:, 0]).abs(), p.argmax(-1) != y

        top_change, top_flipped = hide(top)
        random_change, random_flipped = hide(rand)
    return AttendedAblation(top_change, random_change, top_flipped, random_flipped)
