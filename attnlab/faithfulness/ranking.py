"""
Rankings: which words an explanation puts first.

- Only words are ranked: [CLS] (position 0) and padding come after every word (tasks.vocab.word_mask).
- Ties in the scores are broken by position (earlier first), so rankings are deterministic.
- A fraction of the words is ceil(fraction * words) words, at least one, so on our short sentences
  ERASER's 1 % and 5 % bins both mean "the single top word".
"""

from __future__ import annotations

import math

import torch


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
