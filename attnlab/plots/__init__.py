"""Figures for the lessons (matplotlib only). Every figure shows words, not token ids."""

from attnlab.plots.attention import plot_attention_maps, plot_token_scores
from attnlab.plots.attribution import plot_attribution_grid, plot_method_comparison, plot_method_scores
from attnlab.plots.faithfulness import plot_erasure_curves, plot_permutation_effect
from attnlab.plots.patching import plot_estimate_vs_patching, plot_patching_map
from attnlab.plots.probing import plot_head_map, plot_probe_accuracy

__all__ = [
    "plot_attention_maps",
    "plot_attribution_grid",
    "plot_erasure_curves",
    "plot_estimate_vs_patching",
    "plot_method_comparison",
    "plot_method_scores",
    "plot_head_map",
    "plot_patching_map",
    "plot_permutation_effect",
    "plot_probe_accuracy",
    "plot_token_scores",
]
