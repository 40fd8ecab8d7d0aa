"""Figures put words, not ids, on their axes, and refuse inputs that do not fit."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch

from attnlab.plots import plot_attention_maps, plot_token_scores

WORDS = ["[CLS]", "not", "bad", "film"]


def _colour_bars(fig) -> list:
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


def test_attention_maps_have_one_panel_per_layer_and_head_with_words_on_both_axes():
    attentions = torch.softmax(torch.randn(2, 3, 6, 6), -1)  # (L, H, T, T), 2 padding positions
    fig = plot_attention_maps(attentions, WORDS)
    [bar] = _colour_bars(fig)
    assert len(fig.axes) == 6 + 1
    assert bar.get_ylabel() == "attention weight" and bar.get_ylim() == (0.0, 1.0)
    first = fig.axes[0]
    assert [t.get_text() for t in first.get_xticklabels()] == WORDS
    assert [t.get_text() for t in first.get_yticklabels()] == WORDS
    assert first.get_title() == "layer 0, head 0"
    plt.close(fig)


def test_attention_maps_accept_a_batch_of_one_and_refuse_more():
    attentions = torch.softmax(torch.randn(2, 1, 2, 4, 4), -1)  # (L, 1, H, T, T)
    plt.close(plot_attention_maps(attentions, WORDS, layers=[1], heads=[0]))
    with pytest.raises(ValueError, match="one example"):
        plot_attention_maps(torch.rand(2, 2, 2, 4, 4), WORDS)
    with pytest.raises(ValueError, match="5 words but only 4 positions"):
        plot_attention_maps(torch.rand(2, 2, 4, 4), WORDS + ["extra"])


def test_token_scores_draw_every_word_once_per_method():
    fig = plot_token_scores(WORDS, {"a": torch.tensor([0.0, 1.0, -1.0, 0.5]), "b": torch.ones(4)}, gold=[0, 1, 1, 0])
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts.count("bad") == 2 and "a" in texts and "b" in texts
    [bar] = _colour_bars(fig)
    assert bar.get_xlim() == (-1.0, 1.0)  # the colours of the words: -1 red, 1 blue
    plt.close(fig)
    with pytest.raises(ValueError, match="3 scores for 4 words"):
        plot_token_scores(WORDS, torch.ones(3))
