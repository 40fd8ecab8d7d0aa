"""
Figures of the faithfulness tests:

- plot_erasure_curves: comprehensiveness and sufficiency against the share of words removed / kept,
  one line per method of a FaithfulnessTable (DeYoung et al. 2020).
- plot_permutation_effect: Jain & Wallace (2019)'s scatter of the median output change under
  permuted attention against the largest attention weight.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure


def plot_erasure_curves(table, title: str | None = None) -> Figure:
    """table: attnlab.faithfulness.FaithfulnessTable. Left: comprehensiveness (higher = more faithful)
    after deleting the top k % of words; right: sufficiency (lower = more faithful) keeping only them."""
    if not table.rows:
        raise ValueError("the table has no methods to draw")
    percent = [100 * b for b in table.bins]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 3.4))
    for c, row in enumerate(table.rows):
        # 10 colours, then the same colours dashed with another marker: no two methods look alike.
        style = dict(
            color=f"C{c % 10}", ls="-" if c < 10 else "--", marker="o" if c < 10 else "s", ms=3, label=row.name
        )
        left.plot(percent, row.comprehensiveness, **style)
        right.plot(percent, row.sufficiency, **style)
    for ax, what in ((left, "comprehensiveness ↑\np(y|x) − p(y|x without top k%)"),
                     (right, "sufficiency ↓\np(y|x) − p(y|only top k%)")):  # fmt: skip
        ax.set_xscale("log")
        ax.set_xticks(percent, [f"{p:g}%" for p in percent])
        ax.minorticks_off()
        ax.set_xlabel("k: share of the words, ranked by the method")
        ax.set_ylabel(what, fontsize=8)
        ax.axhline(0, color="grey", lw=0.6)
        ax.grid(alpha=0.3)
    right.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.suptitle(title or f"Erasure curves on {table.n_examples} examples", fontsize=10)
    fig.tight_layout()
    return fig


def plot_permutation_effect(effect, title: str | None = None) -> Figure:
    """effect: attnlab.faithfulness.PermutationEffect. One dot per example: the largest [CLS] attention
    weight on a word against the median |change of p(y)| over the permutations."""
    max_attention = effect.max_attention.detach().cpu().numpy()
    change = effect.median_change.detach().cpu().numpy()
    if len(max_attention) != len(change):
        raise ValueError("max_attention and median_change must have one value per example")
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    ax.scatter(max_attention, change, s=8, alpha=0.5)
    ax.set_xlabel("largest [CLS] attention weight on a word")
    ax.set_ylabel(f"median |Δ p(y)| over {effect.n_permutations} permutations", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, max(0.1, float(change.max()) * 1.05))
    ax.grid(alpha=0.3)
    ax.set_title(title or "Permuted attention (Jain & Wallace 2019)", fontsize=10)
    fig.tight_layout()
    return fig
