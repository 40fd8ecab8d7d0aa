"""Figures for the lessons (matplotlib only). Every figure shows words, not token ids."""

from attnlab.plots.attention import plot_attention_maps, plot_token_scores

__all__ = ["plot_attention_maps", "plot_token_scores"]
