"""
Rank agreement between two importance scores (Jain & Wallace 2019): Kendall's tau-b, per example,
over the words of the sentence ([CLS] and padding left out), with scipy.stats.kendalltau.

Jain & Wallace compare attention with gradient and leave-one-out importance; here any two scores
can be compared. Tau is undefined (NaN) when one of the two rankings is constant (e.g. a sentence
of one word); summaries skip those examples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from scipy.stats import kendalltau as _scipy_kendalltau

from attnlab.faithfulness.erasure import Scores, scores_of, word_mask
from attnlab.models import TinyTransformer


@dataclass
class RankAgreement:
    tau: torch.Tensor  # (B,) Kendall tau-b per example, NaN where undefined
    p_value: torch.Tensor  # (B,) two-sided p-value per example

    @property
    def mean(self) -> float:
        """Mean tau over the examples where it is defined."""
        defined = ~self.tau.isnan()
        return self.tau[defined].mean().item() if defined.any() else math.nan

    @property
    def significant_fraction(self) -> float:
        """Share of examples with p < 0.05 (Jain & Wallace's "Sig. Frac.")."""
        return (self.p_value < 0.05).float().mean().item()


def kendall_tau(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> RankAgreement:
    """Kendall tau-b between a[i] and b[i] over the positions where mask[i] is True. a, b, mask: (B, T)."""
    if not (a.shape == b.shape == mask.shape) or a.dim() != 2:
        raise ValueError(f"need three (B, T) tensors of one shape, got {tuple(a.shape)}, {tuple(b.shape)}, {tuple(mask.shape)}")
    taus, ps = [], []
    for x, y, m in zip(a.detach().double(), b.detach().double(), mask.bool()):
        x, y = x[m].numpy(), y[m].numpy()
        if len(x) < 2 or (x == x[0]).all() or (y == y[0]).all():
            taus.append(math.nan)
            ps.append(math.nan)
            continue
        result = _scipy_kendalltau(x, y)
        taus.append(float(result.statistic))
        ps.append(float(result.pvalue))
    return RankAgreement(tau=torch.tensor(taus), p_value=torch.tensor(ps))


def rank_agreement(model: TinyTransformer, tokens: torch.Tensor, scores: Scores, reference: Scores) -> RankAgreement:
    """Kendall tau between a method's scores and a reference importance (leave-one-out, gradient...)."""
    return kendall_tau(scores_of(scores, model, tokens), scores_of(reference, model, tokens), word_mask(model, tokens))
