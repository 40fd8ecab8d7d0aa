"""
ERASER's faithfulness metrics (DeYoung et al. 2020) for soft token scores.

For the class y the model predicts on the full input x and the top-k % words r_k of a ranking:

    comprehensiveness_k = p(y | x) - p(y | x without r_k)    high = the ranked words were needed
    sufficiency_k       = p(y | x) - p(y | r_k only)          low  = the ranked words were enough
    AOPC                = mean over bins k of the above        (ERASER's code divides by |bins|)

Bins k in {1, 5, 10, 20, 50} % (ERASER's default). Sufficiency can be negative (the rationale alone
can be more convincing than the whole sentence). Erasure conventions: see erasure.py; rankings and
bins: ranking.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from attnlab.faithfulness.erasure import erase, predicted_probability
from attnlab.faithfulness.ranking import n_top, top_words
from attnlab.faithfulness.scores import Scores, scores_of
from attnlab.models import TinyTransformer
from attnlab.tasks.vocab import word_mask

BINS = (0.01, 0.05, 0.10, 0.20, 0.50)


def _probability_drop(
    model: TinyTransformer,
    tokens: torch.Tensor,
    erased: torch.Tensor,
    mode: str,
    full: tuple[torch.Tensor, torch.Tensor],
) -> torch.Tensor:
    """(B,) p(y|x) - p(y|x with the `erased` words removed); full = (p(y|x), y), read once by the caller."""
    p_full, y = full
    p_after, _ = predicted_probability(model, erase(model, tokens, erased, mode), y)
    return p_full - p_after


def comprehensiveness(
    model: TinyTransformer, tokens: torch.Tensor, scores: Scores, fraction: float, mode: str = "delete"
) -> torch.Tensor:
    """(B,) p(y|x) - p(y|x without the top `fraction` of words by `scores`)."""
    words = word_mask(tokens, model.cfg.pad_id)
    top = top_words(scores_of(scores, model, tokens), words, n_top(words, fraction))  # (B, T)
    return _probability_drop(model, tokens, top, mode, predicted_probability(model, tokens))


def sufficiency(
    model: TinyTransformer, tokens: torch.Tensor, scores: Scores, fraction: float, mode: str = "delete"
) -> torch.Tensor:
    """(B,) p(y|x) - p(y|only the top `fraction` of words by `scores`, plus [CLS])."""
    words = word_mask(tokens, model.cfg.pad_id)
    top = top_words(scores_of(scores, model, tokens), words, n_top(words, fraction))  # (B, T)
    # [CLS] is never a word, so it always stays.
    return _probability_drop(model, tokens, words & ~top, mode, predicted_probability(model, tokens))


@dataclass
class ErasureCurves:
    """Per-bin means over the examples, and the per-example AOPCs."""

    bins: tuple[float, ...]
    comprehensiveness: list[float]  # one mean per bin
    sufficiency: list[float]  # one mean per bin
    aopc_comprehensiveness: torch.Tensor  # (B,) mean over bins, per example
    aopc_sufficiency: torch.Tensor  # (B,)


def erasure_curves(
    model: TinyTransformer,
    tokens: torch.Tensor,
    scores: Scores,
    bins: Sequence[float] = BINS,
    mode: str = "delete",
    full: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> ErasureCurves:
    """Comprehensiveness and sufficiency at every bin, and their AOPC (mean over the bins).

    full: predicted_probability(model, tokens), when the caller already has it (one forward pass less).
    """
    if len(bins) == 0:
        raise ValueError("need at least one bin")
    scores = scores_of(scores, model, tokens)  # the ranking, the words and p(y|x): once for every bin
    words = word_mask(tokens, model.cfg.pad_id)
    full = predicted_probability(model, tokens) if full is None else full
    drops: dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor]] = {}  # words per example -> (comp, suff)
    comp, suff = [], []
    for fraction in bins:
        k = n_top(words, fraction)  # (B,)
        # On short sentences several bins keep the same number of words (1 % and 5 % are both one word):
        # the same words are erased, so the forward passes are run once.
        key = tuple(k.tolist())
        if key not in drops:
            top = top_words(scores, words, k)  # (B, T)
            drops[key] = (
                _probability_drop(model, tokens, top, mode, full),
                _probability_drop(model, tokens, words & ~top, mode, full),
            )
        comp.append(drops[key][0])
        suff.append(drops[key][1])
    comp, suff = torch.stack(comp), torch.stack(suff)  # (K, B) each
    return ErasureCurves(
        bins=tuple(bins),
        comprehensiveness=comp.mean(1).tolist(),
        sufficiency=suff.mean(1).tolist(),
        aopc_comprehensiveness=comp.mean(0),
        aopc_sufficiency=suff.mean(0),
    )
