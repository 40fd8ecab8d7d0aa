"""
Figures that compare attribution methods, with the words on the axes.

- plot_attribution_grid: one sentence, one row per method, each word's cell coloured by its score
  (each row scaled by its largest |score|), the gold rationale as the top row.
- plot_method_scores: precision@k and ranking AUC of every method against the gold rationale.
- plot_method_comparison: the ranking AUC of every method on two or more models, with 95% intervals.
(Words coloured by one score per method, as text: attnlab.plots.plot_token_scores.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from attnlab.stats import bootstrap


def plot_attribution_grid(
    words: Sequence[str],
    scores: Mapping[str, torch.Tensor],
    gold: torch.Tensor | Sequence[bool] | None = None,
    title: str | None = None,
    skip_cls: bool = True,
) -> Figure:
    """words: one sentence ([CLS] first); scores: {method: (T,) scores}; gold: (T,) bool.

    skip_cls: leave the [CLS] column out (it is not a word, and several methods give it most weight).
    Blue is positive, red negative; every row is divided by its largest |score| over the shown words.
    """
    if not scores:
        raise ValueError("scores is empty: pass {method name: (T,) scores}")
    start = 1 if skip_cls else 0
    shown = list(words)[start:]
    n = len(shown)
    rows, names = [], []
    if gold is not None:
        gold = torch.as_tensor(gold)
        if gold.shape[0] < len(words):
            raise ValueError(f"gold has {gold.shape[0]} entries for {len(words)} words")
        rows.append(gold[start : start + n].float().numpy())
        names.append("gold rationale")
    for name, row in scores.items():
        row = torch.as_tensor(row).detach().float()
        if row.dim() != 1 or row.shape[0] < len(words):
            raise ValueError(f"{name}: expected (T,) scores with T >= {len(words)}, got shape {tuple(row.shape)}")
        values = row[start : start + n].numpy()
        scale = np.abs(values).max()
        rows.append(values / scale if scale > 0 else values)
        names.append(name)
    grid = np.stack(rows)  # (methods, words)
    fig, ax = plt.subplots(figsize=(0.6 * n + 4.0, 0.38 * len(rows) + 1.4), layout="constrained")
    image = ax.imshow(grid, cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
    fig.colorbar(image, ax=ax, label="score / largest |score| of its row", shrink=0.8)
    ax.set_xticks(range(n), shown, rotation=60, ha="right", fontsize=9)
    ax.set_yticks(range(len(rows)), names, fontsize=9)
    if gold is not None:
        ax.axhline(0.5, color="black", lw=1.5)  # the gold row sits apart from the methods
        for j in np.flatnonzero(rows[0]):
            ax.get_xticklabels()[j].set_fontweight("bold")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_method_scores(rows: Sequence, chance_auc: float = 0.5, title: str | None = None) -> Figure:
    """rows: MethodScore records (attnlab.attribution.plausibility); one pair of bars per method."""
    if not rows:
        raise ValueError("no methods to plot")
    names = [r.method for r in rows]
    y = np.arange(len(rows))
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 0.32 * len(rows) + 1.4), sharey=True)
    axes[0].barh(y, [r.precision_at_k for r in rows], color="tab:blue")
    axes[0].set_xlabel("precision@k (k = number of gold words)")
    axes[0].set_xlim(0, 1)
    axes[1].barh(y, [r.auc for r in rows], color="tab:green")
    axes[1].axvline(chance_auc, color="gray", ls="--", lw=1)
    axes[1].set_xlabel("ranking AUC (0.5 = chance)")
    axes[1].set_xlim(0, 1)
    axes[0].set_yticks(y, names, fontsize=9)
    axes[0].invert_yaxis()
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_method_comparison(
    by_model: Mapping[str, Sequence], chance_auc: float = 0.5, title: str | None = None
) -> Figure:
    """by_model: {model name: MethodScore records of the same methods}; one bar per model and method: the
    ranking AUC, with its 95% bootstrap interval over the sentences."""
    if not by_model:
        raise ValueError("no models to plot")
    models = list(by_model)
    methods = [r.method for r in by_model[models[0]]]
    height = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(7.5, 0.42 * len(methods) * max(1, len(models) / 2) + 1.4))
    for k, name in enumerate(models):
        rows = {r.method: r for r in by_model[name]}
        intervals = [bootstrap(rows[m].per_example["auc"]) for m in methods]
        y = np.arange(len(methods)) + (k - (len(models) - 1) / 2) * height
        estimates = np.array([i.estimate for i in intervals])
        errors = np.array([[i.estimate - i.low for i in intervals], [i.high - i.estimate for i in intervals]])
        ax.barh(y, estimates, height=height, xerr=errors, capsize=2, label=name, color=f"C{k}")
    ax.axvline(chance_auc, color="gray", ls="--", lw=1)
    ax.set_xlabel("ranking AUC against the gold rationale (0.5 = chance), 95% interval")
    ax.set_xlim(0, 1)
    ax.set_yticks(np.arange(len(methods)), methods, fontsize=9)
    ax.invert_yaxis()
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=len(models), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
