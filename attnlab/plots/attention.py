"""
Figures of attention and of token scores, with the words on the axes.

- plot_attention_maps: one heat map per layer and head of a single example, query words on the
  rows, key words on the columns, and a colour bar for the weights.
- plot_token_scores: a sentence with each word coloured by a score, one row per method, the gold
  rationale underlined, and a colour bar for the scores; the picture every attribution lesson ends on.

Figures use matplotlib's constrained layout, which makes room for colour bars (tight_layout warns
about them, and a lesson must not write to stderr).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure


def _as_numpy(x: torch.Tensor):
    return x.detach().float().cpu().numpy()


def plot_attention_maps(
    attentions: torch.Tensor,
    words: Sequence[str],
    layers: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
    title: str | None = None,
    cell_size: float = 2.6,
) -> Figure:
    """attentions: (L, H, T, T) for one example (or (L, 1, H, T, T)); words: its T' <= T words.

    Rows of each map are queries ("who looks"), columns are keys ("at whom"); only the first
    len(words) positions are drawn, so padding is left out.
    """
    if attentions.dim() == 5:
        if attentions.shape[1] != 1:
            raise ValueError("pass the attentions of one example: (L, H, T, T) or (L, 1, H, T, T)")
        attentions = attentions[:, 0]
    if attentions.dim() != 4:
        raise ValueError(f"attentions must be (layers, heads, T, T), got {tuple(attentions.shape)}")
    n = len(words)
    if n > attentions.shape[-1]:
        raise ValueError(f"{n} words but only {attentions.shape[-1]} positions")
    layers = list(range(attentions.shape[0])) if layers is None else list(layers)
    heads = list(range(attentions.shape[1])) if heads is None else list(heads)
    fig, axes = plt.subplots(
        len(layers),
        len(heads),
        squeeze=False,
        layout="constrained",
        figsize=(cell_size * len(heads) + 1.4, cell_size * len(layers) + 0.6),
    )
    for r, l in enumerate(layers):
        for c, h in enumerate(heads):
            ax = axes[r][c]
            image = ax.imshow(_as_numpy(attentions[l, h, :n, :n]), cmap="Blues", vmin=0, vmax=1)
            ax.set_xticks(range(n), words, rotation=90, fontsize=7)
            ax.set_yticks(range(n), words if c == 0 else [""] * n, fontsize=7)
            ax.set_title(f"layer {l}, head {h}", fontsize=9)
    fig.colorbar(image, ax=axes, label="attention weight", shrink=min(1.0, 0.9 / len(layers) + 0.3))
    if title:
        fig.suptitle(title)
    return fig


def text_colour(face: tuple[float, ...]) -> str:
    """White on a dark cell, black on a light one: by the cell's relative luminance (WCAG 2)."""

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in face[:3])
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    # The contrast with white, (1.05) / (L + 0.05), beats the contrast with black, (L + 0.05) / 0.05, below L = 0.179.
    return "white" if luminance < 0.179 else "black"


def plot_token_scores(
    words: Sequence[str],
    scores: torch.Tensor | Mapping[str, torch.Tensor],
    gold: torch.Tensor | Sequence[bool] | None = None,
    title: str | None = None,
    normalise: bool = True,
) -> Figure:
    """Colour each word by its score; one row per method when `scores` is a dict {name: (T,)}.

    normalise: divide each row by its largest absolute value, so methods on different scales compare.
    Scores that are never negative (attention, say) are drawn from white to dark blue; scores with both
    signs red (negative) to blue (positive). A word on a dark cell is written in white.
    gold: (T,) bool, the words of the gold rationale, drawn underlined and bold.
    """
    rows = dict(scores) if isinstance(scores, Mapping) else {"score": scores}
    n = len(words)
    values_of = {}
    for name, row in rows.items():
        values_of[name] = _as_numpy(torch.as_tensor(row))[:n]
        if len(values_of[name]) < n:
            raise ValueError(f"{name}: {len(values_of[name])} scores for {n} words")
    signed = any((values < 0).any() for values in values_of.values())
    cmap, low = (plt.get_cmap("RdBu"), -1.0) if signed else (plt.get_cmap("Blues"), 0.0)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.75 * n + 2.0), 0.5 * len(rows) + 1.5), layout="constrained")
    for r, (name, values) in enumerate(values_of.items()):
        scale = max(abs(values).max(), 1e-12) if normalise else 1.0
        for i, (word, v) in enumerate(zip(words, values)):
            face = cmap((v / scale - low) / (1.0 - low))  # [low, 1] -> [0, 1] of the colour map
            ax.text(
                i, -r, word, ha="center", va="center", fontsize=9, color=text_colour(face),
                fontweight="bold" if gold is not None and bool(gold[i]) else "normal",
                bbox=dict(boxstyle="round,pad=0.25", fc=face, ec="none"),
            )  # fmt: skip
            if gold is not None and bool(gold[i]):
                ax.plot([i - 0.35, i + 0.35], [-r - 0.3, -r - 0.3], color="black", lw=1.2)
        ax.text(-0.8, -r, name, ha="right", va="center", fontsize=9)
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylim(-len(rows) + 0.4, 0.6)
    ax.axis("off")
    scale = ScalarMappable(Normalize(low, 1), cmap)  # the colours above: -1 red (signed only), 0 white, 1 blue
    bar = fig.colorbar(scale, ax=ax, orientation="horizontal", location="bottom", shrink=0.4, aspect=30, pad=0.02)
    bar.set_label("score / largest |score| of its row" if normalise else "score", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    if title:
        ax.set_title(title, fontsize=10)
    return fig
