"""
Erasure: remove the tokens an explanation ranks highest, or keep only them, and read the model again.

The documented choice (after ERASER, DeYoung et al. 2020): erased tokens are *deleted* and the rest of
the sentence moves left, so the model never sees a token it was not trained on. `mode="mask"`
(replace by [MASK]) and `mode="pad"` (replace by [PAD]: the position stays, attention cannot reach
it) are the alternatives; see `attnlab.interventions.erase_tokens`.

Conventions shared by every metric of this package:
- the model is a [CLS] classifier; position 0 ([CLS]) is never ranked, erased or kept out;
- y is the class the model predicts on the full input (not the gold label), as in ERASER;
- a fraction of the words becomes ceil(fraction * words) words, at least one, so on our short
  sentences the 1 % and 5 % bins both mean "the single top word";
- ties in the scores are broken by position (earlier first), so rankings are deterministic.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence, Union

import torch

from attnlab.attribution.base import Attribution
from attnlab.interventions import erase_tokens
from attnlab.models import TinyTransformer

Scores = Union[torch.Tensor, Attribution]  # a (B, T) tensor, or a method that computes one


def require_classifier(model: TinyTransformer) -> None:
    if not isinstance(model, TinyTransformer):
        raise TypeError(f"expected a TinyTransformer, got {type(model).__name__}")
    if model.cfg.head != "cls":
        raise ValueError("faithfulness metrics explain a [CLS] classifier (head='cls'), not a token head")


def word_mask(model: TinyTransformer, tokens: torch.Tensor) -> torch.Tensor:
    """(B, T) bool: the words that can be ranked and erased (real tokens except [CLS] at position 0)."""
    words = tokens != model.cfg.pad_id
    words[:, 0] = False
    return words


def scores_of(method: Scores, model: TinyTransformer, tokens: torch.Tensor) -> torch.Tensor:
    """(B, T) detached scores: a given tensor (checked), or `method.attribute(tokens)` for the predicted class."""
    if isinstance(method, Attribution):
        if method.model is not model:
            raise ValueError(f"{method.name} explains a different model than the one being tested")
        scores = method.attribute(tokens)
    elif isinstance(method, torch.Tensor):
        scores = method
    else:
        raise TypeError(f"scores must be a (B, T) tensor or an Attribution, got {type(method).__name__}")
    if scores.shape != tokens.shape:
        raise ValueError(f"scores have shape {tuple(scores.shape)}, expected {tuple(tokens.shape)} like the tokens")
    return scores.detach().float()


def named_scores(methods: Mapping[str, Scores] | Sequence[Attribution]) -> dict[str, Scores]:
    """{name: method} from a dict, or from a list of Attribution objects (named by their .name)."""
    if isinstance(methods, Mapping):
        return dict(methods)
    named: dict[str, Scores] = {}
    for m in methods:
        if not isinstance(m, Attribution):
            raise TypeError(f"a list of methods must hold Attribution objects, got {type(m).__name__}; use a dict for tensors")
        if m.name in named:
            raise ValueError(f"two methods are named {m.name!r}; pass a dict to name them apart")
        named[m.name] = m
    return named


# -----------------------------------------------------------------------------
# rankings


def rank_words(scores: torch.Tensor, words: torch.Tensor) -> torch.Tensor:
    """(B, T) long: rank of each word by score, 0 = highest; [CLS] and padding rank after every word."""
    keyed = scores.float().masked_fill(~words, float("-inf"))  # (B, T)
    order = keyed.argsort(dim=1, descending=True, stable=True)  # (B, T) positions, best first
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(order.shape[1]).expand_as(order).contiguous())
    return ranks


def n_top(words: torch.Tensor, fraction: float) -> torch.Tensor:
    """(B,) long: how many words a fraction of each sentence is: ceil(fraction * words), at least 1."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    n_words = words.sum(1)  # (B,)
    k = torch.tensor([math.ceil(fraction * n - 1e-9) for n in n_words.tolist()], dtype=torch.long)
    return k.clamp(min=1).minimum(n_words)


def top_words(scores: torch.Tensor, words: torch.Tensor, k: torch.Tensor | int) -> torch.Tensor:
    """(B, T) bool: the k highest-scoring words of each example (k: int or (B,))."""
    k = torch.as_tensor(k).reshape(-1, 1)  # (B, 1) or (1, 1)
    return (rank_words(scores, words) < k) & words


# -----------------------------------------------------------------------------
# reading the model


def predicted_probability(
    model: TinyTransformer, tokens: torch.Tensor, target: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(p (B,), target (B,)): probability of `target` (default: the predicted class) on `tokens`."""
    require_classifier(model)
    with torch.no_grad():
        probs = model(tokens).logits.softmax(-1)  # (B, C)
    if target is None:
        target = probs.argmax(-1)
    return probs.gather(1, target[:, None])[:, 0], target


def erase(model: TinyTransformer, tokens: torch.Tensor, erase_mask: torch.Tensor, mode: str = "delete") -> torch.Tensor:
    """Token ids with the marked words removed (see the module docstring for `mode`). [CLS] always stays."""
    if erase_mask.shape != tokens.shape:
        raise ValueError(f"erase mask shape {tuple(erase_mask.shape)} does not match tokens {tuple(tokens.shape)}")
    erase_mask = erase_mask.bool() & word_mask(model, tokens)
    return erase_tokens(tokens, erase_mask, mode=mode, pad_id=model.cfg.pad_id)
