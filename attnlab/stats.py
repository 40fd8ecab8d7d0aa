"""
Uncertainty for the figures a lesson compares: seeded bootstrap 95% intervals over examples.

    est = bootstrap(per_sentence_auc)                 # mean and its 95% interval
    print(est)                                        # "0.962 [0.951, 0.972]"; est.pct() for shares
    diff = bootstrap(auc_a, auc_b)                    # paired: mean of a - b over the same sentences
    diff.excludes(0.0)                                # True if the interval lies wholly on one side of 0

The percentile bootstrap (Efron & Tibshirani, 1993): resample the examples with replacement
`n_resamples` times, recompute the statistic, and report the 2.5 and 97.5 percentiles. The resampling
is seeded, so the same values always give the same interval. Paired: when two figures are measured
on the same sentences, resample the *differences*, which is tighter and right, rather than comparing
two separate intervals. NaN entries (undefined for an example, e.g. an AUC without gold words) are
left out before resampling.

Clustered examples (words that come in sentences): pass `groups`, one id per example, and the
sentences are resampled whole, so words of one sentence, which tend to be right or wrong together,
do not count as independent (the cluster bootstrap; Davison & Hinkley, 1997, section 3.8). The
statistic is then the mean over all examples of the resampled groups.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import torch


@dataclass(frozen=True)
class Interval:
    estimate: float  # the statistic on all examples
    low: float  # 2.5th percentile of the bootstrap distribution (for level 0.95)
    high: float  # 97.5th percentile
    n: int  # examples used (NaN left out)
    level: float = 0.95

    def excludes(self, value: float) -> bool:
        """True if `value` lies outside the interval (the difference from it is supported)."""
        return not self.low <= value <= self.high

    def format(self, spec: str = ".3f", scale: float = 1.0, suffix: str = "") -> str:
        """'estimate [low, high]', each multiplied by `scale` (100 for percentages) and formatted by `spec`."""
        e, lo, hi = (format(v * scale, spec) for v in (self.estimate, self.low, self.high))
        return f"{e}{suffix} [{lo}{suffix}, {hi}{suffix}]"

    def pct(self, digits: int = 1) -> str:
        """The interval of a share as percentages: '68.8% [64.2%, 73.1%]'."""
        return self.format(f".{digits}f", 100.0, "%")

    def __str__(self) -> str:
        return self.format()


def _mean(x: torch.Tensor) -> torch.Tensor:
    return x.mean(-1)


def _draws(n: int, n_resamples: int, seed: int) -> torch.Tensor:
    """(n_resamples, n) indices of the resampled examples, drawn from a generator seeded with `seed`."""
    return torch.randint(n, (n_resamples, n), generator=torch.Generator().manual_seed(seed))


@lru_cache(maxsize=4)
def _resample_index(n: int, n_resamples: int, seed: int) -> torch.Tensor:
    """(n_resamples * n,) the drawn indices, for a statistic other than the mean.

    A lesson bootstraps many figures over the same examples: drawing the indices (most of the cost)
    once per (n, n_resamples, seed) gives the same intervals. Read-only: callers never modify it.
    """
    return _draws(n, n_resamples, seed).flatten()


@lru_cache(maxsize=4)
def _resample_counts(n: int, n_resamples: int, seed: int) -> torch.Tensor:
    """(n_resamples, n) float64: how often each example is drawn in each resample, from the same draws.

    The mean of a resample is then one matrix-vector product (counts @ x / n) instead of gathering
    R * n values; sums of whole numbers are exact in float64, so 0/1 data get the very same means.
    Cached and read-only like _resample_index (the same memory: 8 bytes per draw).
    """
    draws = _draws(n, n_resamples, seed)  # (R, n)
    counts = torch.zeros(n_resamples, n, dtype=torch.double)
    return counts.scatter_add_(1, draws, torch.ones(n_resamples, n, dtype=torch.double))


def bootstrap(
    values: torch.Tensor,
    other: torch.Tensor | None = None,
    statistic: Callable[[torch.Tensor], torch.Tensor] = _mean,
    n_resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    groups: torch.Tensor | None = None,
) -> Interval:
    """Percentile-bootstrap interval of `statistic` (default: the mean) over the examples of `values` (N,).

    With `other` (N,) measured on the same examples, the interval is of statistic(values - other).
    bool values count as 0/1, so the mean is a share. statistic maps (..., N) to (...).
    groups (N,): cluster ids (e.g. the sentence of each word); whole clusters are resampled (mean only).
    """
    x = torch.as_tensor(values).detach().double().flatten()
    if other is not None:
        y = torch.as_tensor(other).detach().double().flatten()
        if y.shape != x.shape:
            raise ValueError(f"paired values need the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
        x = x - y
    defined = ~x.isnan()
    x = x[defined]
    if len(x) == 0:
        raise ValueError("no defined values to bootstrap")
    if not 0.0 < level < 1.0 or n_resamples < 1:
        raise ValueError(f"need 0 < level < 1 and n_resamples >= 1, got {level}, {n_resamples}")
    if groups is not None:
        if statistic is not _mean:
            raise ValueError("a clustered bootstrap computes the mean; it takes no other statistic")
        ids = torch.as_tensor(groups).flatten()
        if ids.shape != defined.shape:
            raise ValueError(f"groups need one id per value: {tuple(ids.shape)} ids for {tuple(defined.shape)} values")
        return _cluster_bootstrap(x, ids[defined], n_resamples, level, seed)
    if statistic is _mean:
        resampled = _resample_counts(len(x), n_resamples, seed) @ x / len(x)  # (R, N) @ (N,) -> (R,)
    else:
        index = _resample_index(len(x), n_resamples, seed)  # (R * N,)
        resampled = statistic(x.index_select(0, index).view(n_resamples, len(x)))  # (R, N) -> (R,)
    tail = (1.0 - level) / 2
    low, high = torch.quantile(resampled, torch.tensor([tail, 1.0 - tail], dtype=torch.double)).tolist()
    return Interval(float(statistic(x[None])[0]), low, high, len(x), level)


def _cluster_bootstrap(x: torch.Tensor, ids: torch.Tensor, n_resamples: int, level: float, seed: int) -> Interval:
    _, cluster = torch.unique(ids, return_inverse=True)  # (N,) 0..G-1
    G = int(cluster.max()) + 1
    sums = torch.zeros(G, dtype=torch.double).index_add_(0, cluster, x)  # (G,)
    counts = torch.zeros(G, dtype=torch.double).index_add_(0, cluster, torch.ones_like(x))  # (G,)
    drawn = _resample_counts(G, n_resamples, seed) @ torch.stack([sums, counts], 1)  # (R, G) @ (G, 2) -> (R, 2)
    resampled = drawn[:, 0] / drawn[:, 1]  # (R,) mean over the drawn clusters' examples
    tail = (1.0 - level) / 2
    low, high = torch.quantile(resampled, torch.tensor([tail, 1.0 - tail], dtype=torch.double)).tolist()
    return Interval(float(x.mean()), low, high, len(x), level)


def bootstrap_share(flags: torch.Tensor, **kwargs) -> Interval:
    """Interval of a share (mean of a bool tensor), e.g. the share of sentences whose decision flips."""
    return bootstrap(torch.as_tensor(flags).float(), **kwargs)
