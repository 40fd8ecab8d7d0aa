"""
Figures of probing results: accuracy by layer (task, control, random model) and a layer x head map.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure


def plot_probe_accuracy(rows: Sequence, properties: Sequence[str] | None = None, title: str | None = None) -> Figure:
    """rows: attnlab.probing.LayerRow list. One panel per property, accuracy against layer: a solid line
    per model for the task, a dashed line for its control task."""
    properties = list(dict.fromkeys(r.property for r in rows)) if properties is None else list(properties)
    models = list(dict.fromkeys(r.model for r in rows))
    fig, axes = plt.subplots(1, len(properties), figsize=(3.6 * len(properties), 3.0), squeeze=False)
    for ax, prop in zip(axes[0], properties):
        for c, m in enumerate(models):
            mine = sorted((r for r in rows if r.property == prop and r.model == m), key=lambda r: r.layer)
            layers = [r.layer for r in mine]
            ax.plot(layers, [r.accuracy for r in mine], "-o", color=f"C{c}", label=f"{m}: task")
            ax.plot(layers, [r.control for r in mine], "--x", color=f"C{c}", label=f"{m}: control")
        kind = next((r.features for r in rows if r.property == prop), "")
        ax.set_xlabel("hidden states after layer (0 = embeddings)" if kind == "hidden" else "attention of layer")
        ax.set_xticks(sorted({r.layer for r in rows if r.property == prop}))
        ax.set_ylim(0, 1.02)
        ax.set_title(prop, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("held-out accuracy")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_head_map(accuracy: torch.Tensor, title: str | None = None, baseline: float | None = None) -> Figure:
    """accuracy: (L, H) map of single-head accuracies, each cell annotated; `baseline` goes in the title."""
    L, H = accuracy.shape
    fig, ax = plt.subplots(figsize=(0.9 * H + 1.8, 0.7 * L + 1.2))
    image = ax.imshow(accuracy.detach().float().numpy(), cmap="Greens", vmin=0, vmax=1)
    for l in range(L):
        for h in range(H):
            value = float(accuracy[l, h])
            ax.text(
                h, l, f"{value:.0%}", ha="center", va="center", fontsize=8, color="white" if value > 0.6 else "black"
            )
    ax.set_xticks(range(H), [f"head {h}" for h in range(H)], fontsize=8)
    ax.set_yticks(range(L), [f"layer {l}" for l in range(L)], fontsize=8)
    fig.colorbar(image, ax=ax, fraction=0.05)
    text = title or ""
    if baseline is not None:
        text += f"{' ' if text else ''}(baseline {baseline:.0%})"
    if text:
        ax.set_title(text, fontsize=9)
    fig.tight_layout()
    return fig
