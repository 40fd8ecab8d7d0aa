"""
Figures of patching sweeps: a map of the mean value per site (layer x position, layer x head), and
attribution patching's estimate against real patching, site by site.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure


def _axis_labels(sites, dim: str, names: Sequence[str] | None) -> list[str]:
    values = sites.axis(dim)
    if dim == "position" and names is not None:
        return [names[t] for t in values]
    return [f"{dim} {v}" for v in values]


def _grid(result, position_names: Sequence[str] | None) -> tuple[torch.Tensor, list[str], list[str]]:
    """(mean (R, C), row labels, column labels); a (layer, head, position) grid gets a row per head."""
    sites, mean = result.sites, result.mean().detach().float()  # (*grid)
    if len(sites.dims) == 3:
        rows = [f"L{l} H{h}" for l in sites.layers for h in sites.heads]
        mean = mean.flatten(0, 1)
    else:
        rows = _axis_labels(sites, "layer", None)
    return mean, rows, _axis_labels(sites, sites.dims[-1], position_names)


def plot_patching_map(results, position_names: Sequence[str] | None = None, title: str | None = None) -> Figure:
    """The mean over pairs of every site, annotated; rows are layers (or (layer, head) for q, k, v).

    results: a PatchingResult or AblationResult, or a dict {panel title: result} drawn side by side on
    one colour scale. position_names: a label per position (e.g. `pairs.position_names()`).
    Blue is positive, red negative, white 0.
    """
    panels = dict(results) if isinstance(results, Mapping) else {results.name: results}
    grids = {name: _grid(result, position_names) for name, result in panels.items()}
    limit = max(max(float(mean.abs().max()), 1e-9) for mean, _, _ in grids.values())
    R, C = next(iter(grids.values()))[0].shape
    fig, axes = plt.subplots(
        1, len(grids), figsize=(len(grids) * (0.62 * C + 1.6) + 1.2, 0.5 * R + 1.8), squeeze=False, layout="constrained"
    )
    for ax, (name, (mean, rows, columns)) in zip(axes[0], grids.items()):
        image = ax.imshow(mean.numpy(), cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
        for r in range(mean.shape[0]):
            for c in range(mean.shape[1]):
                value = float(mean[r, c])
                ax.text(
                    c,
                    r,
                    f"{value:.2f}".replace("-0.00", "0.00"),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if abs(value) > 0.6 * limit else "black",
                )
        slanted = len(columns) > 4
        ax.set_xticks(
            range(len(columns)), columns, fontsize=8, rotation=45 if slanted else 0, ha="right" if slanted else "center"
        )
        ax.set_yticks(range(len(rows)), rows, fontsize=8)
        if len(grids) > 1:
            ax.set_title(name, fontsize=9)
    result = next(iter(panels.values()))
    fig.colorbar(image, ax=list(axes[0]), fraction=0.05, label="mean")
    fig.suptitle(title or f"{result.name}, mean over {result.n_pairs} pairs", fontsize=9)
    return fig


def plot_estimate_vs_patching(
    actual, estimate, labels: Sequence[str] | None = None, title: str | None = None
) -> Figure:
    """Each site's mean recovery by attribution patching (y) against activation patching (x), with the
    diagonal where the two agree; `labels` names the sites listed (flattened grid order) beside their dot."""
    x = actual.mean().detach().flatten().float()
    y = estimate.mean().detach().flatten().float()
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    low, high = float(torch.minimum(x.min(), y.min())), float(torch.maximum(x.max(), y.max()))
    pad = 0.05 * (high - low + 1e-9)
    ax.plot([low - pad, high + pad], [low - pad, high + pad], color="grey", lw=1, ls="--", label="estimate = patching")
    ax.scatter(x.numpy(), y.numpy(), s=18, color="#4c78a8")
    for i, label in enumerate(labels or []):
        if label:
            ax.annotate(label, (float(x[i]), float(y[i])), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("activation patching: mean recovery")
    ax.set_ylabel("attribution patching: estimate")
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
