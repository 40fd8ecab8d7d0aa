"""
How many words must go before the decision flips? Two ways to make a word go, two functions:

- `deletion_flip`: delete the words from the *input*, best-ranked first, until the predicted class
  changes (the words vanish from every layer). This is an erasure test in the spirit of ERASER
  (DeYoung et al. 2020), not Serrano & Smith's: it changes the sentence, not the attention.
- `attention_flip`: Serrano & Smith (2019)'s multi-item test. The words stay in the input; their
  *attention weights* in one layer (default: the last, whose [CLS] row is the classifier's only
  attention) are set to 0 and the rest of each row renormalised (`attnlab.interventions.block_keys`),
  best-ranked first, until the decision flips. Their single-item version with its random non-top
  control is `attnlab.faithfulness.attended_ablation`.

Both rank once, on the full input, and do not re-rank as words go. A faithful ranking flips the
decision after few words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from attnlab.faithfulness.erasure import erase
from attnlab.faithfulness.ranking import top_words
from attnlab.faithfulness.scores import Scores, require_classifier, scores_of
from attnlab.interventions import block_keys
from attnlab.models import TinyTransformer
from attnlab.tasks.vocab import word_mask


@dataclass
class DecisionFlip:
    removed: torch.Tensor  # (B,) long: words removed when the decision first flipped; -1 = never flipped
    n_words: torch.Tensor  # (B,) long: words in the sentence ([CLS] not counted)

    @property
    def flipped(self) -> torch.Tensor:
        """(B,) bool: the decision flipped before every word was gone."""
        return self.removed >= 0

    @property
    def fraction(self) -> torch.Tensor:
        """(B,) share of the words removed before the flip; 1.0 when it never flipped (all were removed)."""
        return torch.where(self.flipped, self.removed.float(), self.n_words.float()) / self.n_words.float()


def _flip_search(
    model: TinyTransformer,
    tokens: torch.Tensor,
    scores: Scores,
    predict: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    original: torch.Tensor | None,
) -> DecisionFlip:
    """Remove the top-1, top-2, ... words by `scores`; predict(rows (b,), remove (b, T)) -> classes (b,).
    original: (B,) the classes predicted on the full input (None: predicted here)."""
    require_classifier(model)
    scores = scores_of(scores, model, tokens)
    words = word_mask(tokens, model.cfg.pad_id)
    n_words = words.sum(1)  # (B,)
    with torch.no_grad():
        if original is None:
            original = model(tokens).logits.argmax(-1)  # (B,)
        removed = torch.full_like(original, -1)
        for k in range(1, int(n_words.max()) + 1):
            todo = (removed < 0) & (k <= n_words)  # (B,) not flipped yet, still has a k-th word
            if not todo.any():
                break
            rows = todo.nonzero()[:, 0]
            flipped = predict(rows, top_words(scores[rows], words[rows], k)) != original[rows]
            removed[rows[flipped]] = k
    return DecisionFlip(removed=removed, n_words=n_words)


def deletion_flip(
    model: TinyTransformer,
    tokens: torch.Tensor,
    scores: Scores,
    mode: str = "delete",
    original: torch.Tensor | None = None,
) -> DecisionFlip:
    """Delete the top-1, top-2, ... words by `scores` from the input until the predicted class changes.
    original: (B,) the classes the model predicts on `tokens`, when the caller already has them."""

    def predict(rows: torch.Tensor, remove: torch.Tensor) -> torch.Tensor:
        return model(erase(model, tokens[rows], remove, mode)).logits.argmax(-1)

    return _flip_search(model, tokens, scores, predict, original)


def attention_flip(
    model: TinyTransformer,
    tokens: torch.Tensor,
    scores: Scores,
    layer: int = -1,
    original: torch.Tensor | None = None,
) -> DecisionFlip:
    """Zero the attention to the top-1, top-2, ... words by `scores` in `layer` (rows renormalised)
    until the predicted class changes (Serrano & Smith 2019); the input is left as it is.
    original: (B,) the classes the model predicts on `tokens`, when the caller already has them."""
    (layer,) = model.cfg.layer_indices([layer])

    def predict(rows: torch.Tensor, remove: torch.Tensor) -> torch.Tensor:
        with block_keys(model, remove, layers=[layer]):
            return model(tokens[rows]).logits.argmax(-1)

    return _flip_search(model, tokens, scores, predict, original)
