"""The method-comparison figures show words and method names, and refuse input that does not fit."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch

from attnlab.attribution.plausibility import MethodScore
from attnlab.plots import plot_attribution_grid, plot_method_comparison, plot_method_scores

WORDS = ["[CLS]", "not", "bad", "film"]
SCORES = {"rollout": torch.tensor([0.5, 0.1, 0.3, 0.1, 0.0]), "LRP": torch.tensor([0.0, 2.0, -1.0, 0.5, 0.0])}
GOLD = torch.tensor([False, True, True, False, False])


def test_grid_has_words_on_x_and_gold_then_methods_on_y():
    fig = plot_attribution_grid(WORDS, SCORES, GOLD, title="one sentence")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == WORDS[1:]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["gold rationale", "rollout", "LRP"]
    grid = ax.images[0].get_array()
    assert grid.shape == (3, 3)
    assert grid[0].tolist() == [1.0, 1.0, 0.0]  # the gold row
    assert grid[2].tolist() == pytest.approx([1.0, -0.5, 0.25])  # each row scaled by its max |score|
    assert [t.get_fontweight() for t in ax.get_xticklabels()][:2] == ["bold", "bold"]
    assert [bar.get_ylim() for bar in fig.axes if bar.get_label() == "<colorbar>"] == [(-1.0, 1.0)]
    plt.close(fig)


def test_grid_keeps_cls_on_request_and_refuses_short_rows():
    fig = plot_attribution_grid(WORDS, SCORES, skip_cls=False)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == WORDS
    plt.close(fig)
    with pytest.raises(ValueError, match="rollout"):
        plot_attribution_grid(WORDS, {"rollout": torch.ones(2)})
    with pytest.raises(ValueError, match="empty"):
        plot_attribution_grid(WORDS, {})


def test_method_scores_one_bar_per_method():
    rows = [MethodScore("random", 0.2, 0.5, None, None, 0.1), MethodScore("rollout", 0.8, 0.95, None, None, 0.1)]
    fig = plot_method_scores(rows)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["random", "rollout"]
    assert [p.get_width() for p in fig.axes[1].patches] == [0.5, 0.95]
    plt.close(fig)
    with pytest.raises(ValueError):
        plot_method_scores([])


def test_method_comparison_one_bar_per_model_and_method_at_the_mean_auc():
    def rows(aucs):  # per-sentence AUCs of "random" and "rollout"
        return [
            MethodScore(name, 0.0, float(torch.tensor(a).mean()), None, None, 0.1, per_example={"auc": torch.tensor(a)})
            for name, a in zip(("random", "rollout"), aucs)
        ]

    fig = plot_method_comparison(
        {"course model": rows([[0.4, 0.6], [0.9, 1.0]]), "BERT": rows([[0.5, 0.5], [0.6, 0.8]])}
    )
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["random", "rollout"]
    assert [p.get_width() for p in ax.patches] == pytest.approx([0.5, 0.95, 0.5, 0.7])  # model by model
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["course model", "BERT"]
    plt.close(fig)
    with pytest.raises(ValueError, match="no models"):
        plot_method_comparison({})
