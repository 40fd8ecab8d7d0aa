"""
Rank agreement between two importance scores (Jain & Wallace 2019): Kendall's tau-b, per example,
over the words of the sentence ([CLS] and padding left out): scipy.stats.kendalltau's statistic,
computed for a whole batch at once; p-values from scipy, on first use.

Jain & Wallace compare attention with gradient and leave-one-out importance; here any two scores
can be compared. Tau is undefined (NaN) when one of the two rankings is constant (e.g. a sentence
of one word); summaries skip those examples.
"""

from __future__ import annotations

import math

import torch

from attnlab.faithfulness.scores import Scores, scores_of
from attnlab.models import TinyTransformer
from attnlab.tasks.vocab import word_mask


class RankAgreement:
    """Per-example Kendall tau-b (computed at once for the batch) and, on first use, its p-values."""

    def __init__(
        self,
        tau: torch.Tensor,
        inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
        p_value: torch.Tensor | None = None,
    ) -> None:
        self.tau = tau  # (B,) Kendall tau-b per example, NaN where undefined
        self._inputs = inputs  # (a, b, mask) for the p-values
        self._p_value = p_value

    @property
    def p_value(self) -> torch.Tensor:
        """(B,) two-sided p-value per example (scipy.stats.kendalltau), NaN where tau is undefined."""
        if self._p_value is None:
            from scipy.stats import kendalltau  # here, not at the top: importing scipy.stats takes about half a second

            a, b, mask = self._inputs
            ps = []
            for x, y, m, t in zip(a, b, mask, self.tau.tolist()):
                ps.append(math.nan if math.isnan(t) else float(kendalltau(x[m].numpy(), y[m].numpy()).pvalue))
            self._p_value = torch.tensor(ps, dtype=torch.double)
        return self._p_value

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
    """Kendall tau-b between a[i] and b[i] over the positions where mask[i] is True. a, b, mask: (B, T).

    tau-b = (concordant - discordant) / sqrt((pairs - ties in a) (pairs - ties in b)), the statistic of
    scipy.stats.kendalltau, computed for the whole batch at once from (B, T, T) sign matrices.
    """
    if not (a.shape == b.shape == mask.shape) or a.dim() != 2:
        raise ValueError(
            f"need three (B, T) tensors of one shape, got {tuple(a.shape)}, {tuple(b.shape)}, {tuple(mask.shape)}"
        )
    a, b, mask = a.detach().double(), b.detach().double(), mask.bool()
    T = a.shape[1]
    upper = torch.ones(T, T, dtype=torch.bool).triu(1)  # each pair i < j once
    pairs = mask[:, :, None] & mask[:, None, :] & upper  # (B, T, T)
    da = torch.sign(a[:, :, None] - a[:, None, :]) * pairs  # (B, T, T): +1, -1, or 0 for a tie / no pair
    db = torch.sign(b[:, :, None] - b[:, None, :]) * pairs
    n0 = pairs.sum((1, 2)).double()  # (B,) pairs
    untied_a = (da != 0).sum((1, 2)).double()  # n0 - ties in a
    untied_b = (db != 0).sum((1, 2)).double()
    denominator = (untied_a * untied_b).sqrt()
    tau = (da * db).sum((1, 2)) / denominator.clamp(min=1e-300)
    tau = torch.where((n0 > 0) & (untied_a > 0) & (untied_b > 0), tau.clamp(-1.0, 1.0), math.nan)
    return RankAgreement(tau=tau, inputs=(a, b, mask))


def rank_agreement(model: TinyTransformer, tokens: torch.Tensor, scores: Scores, reference: Scores) -> RankAgreement:
    """Kendall tau between a method's scores and a reference importance (leave-one-out, gradient...)."""
    return kendall_tau(
        scores_of(scores, model, tokens), scores_of(reference, model, tokens), word_mask(tokens, model.cfg.pad_id)
    )
