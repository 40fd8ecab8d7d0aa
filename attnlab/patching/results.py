"""
What a sweep returns: one value per site and per pair, with its mean over pairs and a bootstrap interval.

    result.mean()                    # (*grid): e.g. (L, T) mean recovery per (layer, position)
    result.best()                    # the site with the largest mean, e.g. (0, 4)
    result.interval((0, 4))          # Interval: mean over pairs and its seeded 95% bootstrap interval
    result.top(3)                    # the three largest sites with their intervals

Recovery (activation patching, Heimersheim & Nanda 2024's "denoising"): for pair n and site s,

    recovery[s, n] = (m_patched[s, n] - m_corrupt[n]) / (m_clean[n] - m_corrupt[n])

0: the patched site brings back nothing of the clean behaviour; 1: all of it. Normalised per pair,
then averaged, so every pair counts alike and the interval is over pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from attnlab.patching.sites import Sites
from attnlab.stats import Interval, bootstrap

MIN_GAP = 1e-4  # a pair whose metric barely differs between clean and corrupt has nothing to recover


@dataclass(frozen=True)
class SiteEffects:
    sites: Sites
    per_pair: torch.Tensor  # (*sites.shape, N) the value of each site on each pair
    name: str  # what the values are, for tables and plot labels: "recovery", "change of the metric"

    def __post_init__(self) -> None:
        if tuple(self.per_pair.shape[:-1]) != self.sites.shape:
            raise ValueError(f"per_pair has shape {tuple(self.per_pair.shape)}, expected {self.sites.shape} + (N,)")

    @property
    def n_pairs(self) -> int:
        return self.per_pair.shape[-1]

    def mean(self) -> torch.Tensor:
        """(*grid) the mean over pairs of every site."""
        return self.per_pair.mean(-1)

    def interval(self, site: tuple[int, ...], seed: int = 0) -> Interval:
        """The mean of one site over pairs with its 95% bootstrap interval (attnlab.stats.bootstrap)."""
        return bootstrap(self.per_pair[self.sites.grid_index(site)], seed=seed)

    def difference(self, site: tuple[int, ...], other: tuple[int, ...], seed: int = 0) -> Interval:
        """site minus other, paired over the same pairs, with its interval."""
        a, b = (self.per_pair[self.sites.grid_index(s)] for s in (site, other))
        return bootstrap(a, b, seed=seed)

    def site_at(self, flat: int) -> tuple[int, ...]:
        return list(self.sites)[flat]

    def best(self) -> tuple[int, ...]:
        """The site with the largest mean, as (layer, position...) in the order of sites.dims."""
        return self.site_at(int(self.mean().flatten().argmax()))

    def top(self, k: int = 3) -> list[tuple[tuple[int, ...], Interval]]:
        """The k sites with the largest means, largest first, each with its interval."""
        order = self.mean().flatten().argsort(descending=True)[:k]
        return [(self.site_at(int(i)), self.interval(self.site_at(int(i)))) for i in order]


@dataclass(frozen=True)
class PatchingResult(SiteEffects):
    """Activation patching (or an estimate of it): recovery per site and pair, and the raw metric."""

    patched: torch.Tensor  # (*grid, N) the metric with one site taken from the clean run
    clean: torch.Tensor  # (N,) the metric on the clean input
    corrupt: torch.Tensor  # (N,) the metric on the corrupted input


def recovery(patched: torch.Tensor, clean: torch.Tensor, corrupt: torch.Tensor) -> torch.Tensor:
    """(patched - corrupt) / (clean - corrupt): patched (..., N), clean and corrupt (N,); refuses pairs
    with nothing to recover."""
    gap = clean - corrupt  # (N,)
    flat = (gap.abs() < MIN_GAP).nonzero()
    if len(flat):
        raise ValueError(
            f"pair {int(flat[0])}: the metric is the same on the clean and the corrupted input "
            f"({float(clean[flat[0]]):.4g}), so there is nothing to recover; use pairs on which the model's "
            "behaviour differs (for instance those whose predicted label flips)"
        )
    return (patched - corrupt) / gap


def recovery_result(
    sites: Sites, patched: torch.Tensor, clean: torch.Tensor, corrupt: torch.Tensor, name: str = "recovery"
) -> PatchingResult:
    """Normalise patched metrics (*grid, N) into recovery per pair; refuses pairs with nothing to recover."""
    return PatchingResult(
        sites=sites,
        per_pair=recovery(patched, clean, corrupt),
        name=name,
        patched=patched,
        clean=clean,
        corrupt=corrupt,
    )


@dataclass(frozen=True)
class AblationResult(SiteEffects):
    """Ablation: the change of the metric per site and pair when the site is replaced (zero, mean, resample)."""

    ablated: torch.Tensor  # (*grid, N) the metric with the site ablated
    original: torch.Tensor  # (N,) the metric without ablation
    method: str  # "zero", "mean" or "resample"
