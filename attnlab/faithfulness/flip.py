"""
Decision flip (Serrano & Smith 2019): delete the words in a method's ranking order, best first, until
the predicted class changes. A faithful ranking flips the decision after few deletions.

The ranking is computed once on the full input and not recomputed as words go.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from attnlab.faithfulness.erasure import Scores, erase, scores_of, top_words, word_mask
from attnlab.models import TinyTransformer


@dataclass
class DecisionFlip:
    removed: torch.Tensor  # (B,) long: words deleted when the decision first flipped; -1 = never flipped
    n_words: torch.Tensor  # (B,) long: words in the sentence ([CLS] not counted)

    @property
    def flipped(self) -> torch.Tensor:
        """(B,) bool: the decision flipped before every word was gone."""
        return self.removed >= 0

    @property
    def fraction(self) -> torch.Tensor:
        """(B,) share of the words deleted before the flip; 1.0 when it never flipped (all were deleted)."""
        return torch.where(self.flipped, self.removed.float(), self.n_words.float()) / self.n_words.float()


def decision_flip(model: TinyTransformer, tokens: torch.Tensor, scores: Scores, mode: str = "delete") -> DecisionFlip:
    """Delete the top-1, top-2, ... words by `scores` and record when the predicted class first changes."""
    scores = scores_of(scores, model, tokens)
    words = word_mask(model, tokens)
    n_words = words.sum(1)  # (B,)
    with torch.no_grad():
        original = model(tokens).logits.argmax(-1)  # (B,)
        removed = torch.full_like(original, -1)
        for k in range(1, int(n_words.max()) + 1):
            todo = (removed < 0) & (k <= n_words)  # (B,) not flipped yet, still has a k-th word
            if not todo.any():
                break
            erased = erase(model, tokens[todo], top_words(scores[todo], words[todo], k), mode)
            flipped = model(erased).logits.argmax(-1) != original[todo]
            index = todo.nonzero()[:, 0]
            removed[index[flipped]] = k
    return DecisionFlip(removed=removed, n_words=n_words)
