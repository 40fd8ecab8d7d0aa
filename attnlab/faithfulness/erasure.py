"""
Erasure: remove words from the input and read the model again.

The documented choice (after ERASER, DeYoung et al. 2020): erased words are *deleted* and the rest of
the sentence moves left, so the model never sees a token it was not trained on. `mode="mask"`
(replace by [MASK]) and `mode="pad"` (replace by [PAD]: the position stays, attention cannot reach
it) are the alternatives; see `attnlab.interventions.erase_tokens`. [CLS] (position 0) is never
erased, and y is the class the model predicts on the full input (not the gold label), as in ERASER.
"""

from __future__ import annotations

import torch

from attnlab.faithfulness.scores import require_classifier
from attnlab.interventions import erase_tokens
from attnlab.models import TinyTransformer
from attnlab.tasks.vocab import word_mask


def erase(model: TinyTransformer, tokens: torch.Tensor, erase_mask: torch.Tensor, mode: str = "delete") -> torch.Tensor:
    """Token ids with the marked words removed (see the module docstring for `mode`). [CLS] always stays."""
    if erase_mask.shape != tokens.shape:
        raise ValueError(f"erase mask shape {tuple(erase_mask.shape)} does not match tokens {tuple(tokens.shape)}")
    erase_mask = erase_mask.bool() & word_mask(tokens, model.cfg.pad_id)
    return erase_tokens(tokens, erase_mask, mode=mode, pad_id=model.cfg.pad_id)


def predicted_probability(
    model: TinyTransformer, tokens: torch.Tensor, target: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(p (B,), target (B,)): probability of `target` (default: the predicted class) on `tokens`."""
    require_classifier(model)
    with torch.no_grad():
        logits = model(tokens).logits  # (B, C)
    return probability_of(logits, target)


def probability_of(logits: torch.Tensor, target: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """predicted_probability from logits (B, C) the caller already has: (p (B,), target (B,))."""
    probs = logits.softmax(-1)  # (B, C)
    if target is None:
        target = probs.argmax(-1)
    return probs.gather(1, target[:, None])[:, 0], target
