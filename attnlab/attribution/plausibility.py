"""
Plausibility: how well each attribution method's scores find a gold rationale, all methods on the
same data (the methods: standard.standard_methods).

- precision_at_k: share of the k top-scored words that are gold (k = number of gold words: R-precision).
- ranking_auc: probability that a random gold word outscores a random other word (ties count 1/2).
- score_against_rationale: one row per method with both metrics, on the signed scores and on their
  magnitudes, the mean |delta| where a method has one, and its run time; format_table prints it.

Only words are ranked: [CLS] (position 0) and padding are never candidates.

Signed or magnitude? A signed method (gradient x input, integrated gradients, LRP, leave-one-out) gives
a word that pushes *against* the predicted class a negative score. Ranked by sign, such a word comes
last although the model depends on it; ranked by magnitude |score|, it counts as important whichever
way it pushes. Jain & Wallace (2019) rank gradients by magnitude. Both are reported: the signed
ranking asks "which words support the prediction?", the magnitude ranking "which words matter?".
For a non-negative method (attention, rollout, flow) the two are the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from attnlab.attribution.base import Attribution
from attnlab.attribution.standard import Attributions, attribute_all, standard_methods
from attnlab.models import TinyTransformer
from attnlab.tasks.vocab import word_mask


def _check(scores: torch.Tensor, gold: torch.Tensor, words: torch.Tensor) -> None:
    if not scores.shape == gold.shape == words.shape:
        shapes = f"scores {tuple(scores.shape)}, gold {tuple(gold.shape)} and words {tuple(words.shape)}"
        raise ValueError(f"{shapes} must have the same shape")
    if not bool(torch.isfinite(scores[words]).all()):
        raise ValueError("scores contain NaN or infinite values on words")


def precision_at_k(scores: torch.Tensor, gold: torch.Tensor, words: torch.Tensor, k: int | None = None) -> torch.Tensor:
    """(B,) share of the k top-scored words that are gold; k=None uses each example's number of gold words.

    Examples without gold words get NaN (leave them out of averages with nanmean).
    """
    _check(scores, gold, words)
    gold = gold.bool() & words
    n_gold = gold.sum(-1)  # (B,)
    ks = n_gold if k is None else torch.minimum(torch.full_like(n_gold, k), words.sum(-1))
    order = scores.masked_fill(~words, float("-inf")).argsort(dim=-1, descending=True, stable=True)  # (B, T)
    hits = gold.gather(1, order).float().cumsum(-1)  # (B, T): gold words among the top 1, 2, ...
    at_k = hits.gather(1, (ks - 1).clamp(min=0)[:, None])[:, 0]
    return torch.where(ks > 0, at_k / ks.clamp(min=1), float("nan"))


def ranking_auc(scores: torch.Tensor, gold: torch.Tensor, words: torch.Tensor) -> torch.Tensor:
    """(B,) ROC AUC of the scores for telling gold words from the other words (NaN if one group is empty)."""
    _check(scores, gold, words)
    gold = gold.bool() & words
    other = ~gold & words
    above = (scores[:, :, None] > scores[:, None, :]).float() + 0.5 * (scores[:, :, None] == scores[:, None, :]).float()
    pairs = gold[:, :, None] & other[:, None, :]  # (B, T gold, T other)
    n_pairs = pairs.sum((1, 2))
    auc = (above * pairs).sum((1, 2)) / n_pairs.clamp(min=1)
    return torch.where(n_pairs > 0, auc, float("nan"))


@dataclass
class MethodScore:
    method: str
    precision_at_k: float  # signed scores
    auc: float  # signed scores
    mean_abs_delta: float | None  # mean |convergence delta| (LRP, integrated gradients)
    mean_abs_logit: float | None  # the scale the delta compares to: mean |explained logit| (or logit gap)
    seconds: float
    precision_at_k_magnitude: float = float("nan")  # the same on |scores|
    auc_magnitude: float = float("nan")
    per_example: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)  # metric -> (B,), for intervals


def score_against_rationale(
    model: TinyTransformer,
    tokens: torch.Tensor,
    gold: torch.Tensor,
    methods: dict[str, Attribution] | None = None,
    target: int | torch.Tensor | None = None,
) -> tuple[list[MethodScore], dict[str, Attributions]]:
    """Score every method against the gold rationale on the same examples.

    Returns (one MethodScore per method, the raw attributions by name).
    """
    methods = standard_methods(model) if methods is None else methods
    words = word_mask(tokens, model.cfg.pad_id)
    results = attribute_all(methods, tokens, target)
    rows = []
    for name, result in results.items():
        scale = None
        if result.delta is not None:
            scale = (result.scores.sum(-1) - result.delta).abs().mean().item()  # |what should be explained|
        per_example = {
            "precision_at_k": precision_at_k(result.scores, gold, words),  # (B,)
            "auc": ranking_auc(result.scores, gold, words),
            "precision_at_k_magnitude": precision_at_k(result.scores.abs(), gold, words),
            "auc_magnitude": ranking_auc(result.scores.abs(), gold, words),
        }
        rows.append(
            MethodScore(
                method=name,
                precision_at_k=per_example["precision_at_k"].nanmean().item(),
                auc=per_example["auc"].nanmean().item(),
                mean_abs_delta=None if result.delta is None else result.delta.abs().mean().item(),
                mean_abs_logit=scale,
                seconds=result.seconds,
                precision_at_k_magnitude=per_example["precision_at_k_magnitude"].nanmean().item(),
                auc_magnitude=per_example["auc_magnitude"].nanmean().item(),
                per_example=per_example,
            )
        )
    return rows, results


def format_table(rows: list[MethodScore]) -> str:
    """A fixed-width text table, one line per method: signed scores, then magnitudes |scores|."""
    head = (
        f"{'method':<32}{'precision@k':>12}{'AUC':>7}{'|s| prec@k':>12}{'|s| AUC':>9}{'mean |delta|':>14}{'seconds':>9}"
    )
    lines = [head]
    for r in rows:
        delta = "" if r.mean_abs_delta is None else f"{r.mean_abs_delta:.3f} / {r.mean_abs_logit:.2f}"
        lines.append(
            f"{r.method:<32}{r.precision_at_k:>12.1%}{r.auc:>7.3f}{r.precision_at_k_magnitude:>12.1%}"
            f"{r.auc_magnitude:>9.3f}{delta:>14}{r.seconds:>9.2f}"
        )
    return "\n".join(lines)
