"""Clean/corrupted pairs with a known route, and patching on the course's trained models finding that route."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch

from attnlab.patching import (
    activation_patching,
    attribution_patching,
    multihop_pairs,
    negation_pairs,
    path_patching,
)
from attnlab.plots import plot_estimate_vs_patching, plot_patching_map
from attnlab.tasks.multihop import MARKER
from attnlab.tasks.rationale import NEGATION, NEGATIVE, POSITIVE, label_of
from attnlab.zoo import multihop_model


@pytest.fixture(scope="module")
def multihop():
    return multihop_model(seed=0)


# --- the pairs ---------------------------------------------------------------------------------------


def test_negation_pairs_differ_only_in_the_not_and_flip_the_label():
    pairs = negation_pairs(50, seed=1, n_words=9, position=4)
    again = negation_pairs(50, seed=1, n_words=9, position=4)
    assert torch.equal(pairs.clean, again.clean) and torch.equal(pairs.corrupt, again.corrupt)  # seeded
    assert pairs.clean.shape == (50, 10) and (pairs.clean[:, 0] == pairs.vocab.cls_id).all()
    differ = (pairs.clean != pairs.corrupt).nonzero()[:, 1]
    assert differ.tolist() == [pairs.roles["not"]] * 50  # one token per pair, always the "not"
    for i in range(50):
        clean, corrupt = pairs.words(i)[1:], pairs.words(i, corrupt=True)[1:]
        assert (
            clean[pairs.roles["not"] - 1] == NEGATION and clean[pairs.roles["polarity word"] - 1] in POSITIVE + NEGATIVE
        )
        assert label_of(clean) == pairs.clean_labels[i] and label_of(corrupt) == pairs.corrupt_labels[i] != label_of(
            clean
        )
    assert 10 < int(pairs.clean_labels.sum()) < 40  # both labels


def test_multihop_pairs_swap_the_decisive_word_for_one_of_the_other_polarity():
    pairs = multihop_pairs(50, seed=2)
    differ = (pairs.clean != pairs.corrupt).nonzero()[:, 1]
    assert differ.tolist() == [pairs.roles["decisive"]] * 50
    for i in range(50):
        clean, corrupt = pairs.words(i), pairs.words(i, corrupt=True)
        assert clean[pairs.roles["#"]] == MARKER and clean.count(MARKER) == 1
        decisive = clean[pairs.roles["decisive"]]
        assert int(decisive in POSITIVE) == pairs.clean_labels[i] != int(corrupt[pairs.roles["decisive"]] in POSITIVE)
    assert pairs.position_names()[pairs.roles["#"]] == "#"


@pytest.mark.parametrize(
    "make, kwargs, problem",
    [
        (negation_pairs, dict(n=0), "at least 1"),
        (negation_pairs, dict(position=1), "2 <= position"),
        (negation_pairs, dict(n_words=16), "<= 15"),
        (multihop_pairs, dict(position=10, n_words=10), "below n_words"),
    ],
)
def test_a_template_that_cannot_be_built_is_refused(make, kwargs, problem):
    with pytest.raises(ValueError, match=problem):
        make(**kwargs)


# --- the routes, found -------------------------------------------------------------------------------


def test_on_the_negation_pairs_every_layers_best_site_is_on_the_route(rationale):
    model = rationale.model
    pairs = negation_pairs(200, seed=0).where_model_is_right(model)
    assert len(pairs) > 190
    result = activation_patching(model, pairs.clean, pairs.corrupt, pairs.metric(), "resid_pre")
    route = set(pairs.roles.values())  # [CLS], "not", the polarity word: the only places it can travel
    assert result.best() == (0, pairs.roles["not"])
    assert result.interval(result.best()).low > 0.999  # the one changed embedding carries everything
    for layer in result.sites.layers:
        row = result.mean()[layer]  # (T,)
        best = int(row.argmax())
        off_route = [t for t in range(len(row)) if t not in route]
        assert best in route
        assert result.interval((layer, best)).low > max(result.interval((layer, t)).high for t in off_route)


def test_on_the_multihop_model_the_marker_carries_the_word_to_cls(multihop):
    model = multihop.model
    pairs = multihop_pairs(200, seed=0).where_model_is_right(model)
    result = activation_patching(model, pairs.clean, pairs.corrupt, pairs.metric(), "resid_pre")
    marker, decisive = pairs.roles["#"], pairs.roles["decisive"]
    assert result.best()[1] in (marker, decisive)
    last = model.cfg.n_layers - 1
    assert result.interval((last, marker)).low > 0.95  # the last layer reads the marker...
    for layer in range(1, last + 1):
        assert abs(result.interval((layer, 0)).estimate) < 0.01  # ...and [CLS] has nothing before it does
        others = [t for t in range(pairs.clean.shape[1]) if t != marker]
        assert result.interval((layer, marker)).low > max(result.interval((layer, t)).high for t in others)


def test_on_the_multihop_model_the_route_runs_through_the_last_layers_values(multihop):
    model = multihop.model
    pairs = multihop_pairs(200, seed=0).where_model_is_right(model)
    last = model.cfg.n_layers - 1
    readers = [(last, h) for h in range(model.cfg.n_heads)]
    via = {read: path_patching(model, pairs.clean, pairs.corrupt, pairs.metric(), readers, read) for read in "qkv"}
    best = via["v"].best()
    assert best[0] < last and via["v"].interval(best).low > 0.3  # an earlier head sends through the values
    assert via["q"].per_pair.abs().max() < 1e-3 and via["k"].mean().abs().max() < 1e-3  # attention is fixed on #


def test_attribution_patching_misses_what_a_saturated_softmax_hides(multihop):
    # The known failure (Kramar et al., 2024): around the corrupted run the change is far from linear.
    model = multihop.model
    pairs = multihop_pairs(100, seed=0).where_model_is_right(model)
    real = activation_patching(model, pairs.clean, pairs.corrupt, pairs.metric(), "resid_pre")
    estimate = attribution_patching(model, pairs.clean, pairs.corrupt, pairs.metric(), "resid_pre")
    site = (0, pairs.roles["decisive"])
    assert real.interval(site).low > 0.99 and estimate.interval(site).high < 0.5


# --- figures -------------------------------------------------------------------------------------------


def test_patching_maps_name_their_rows_and_columns(multihop):
    pairs = multihop_pairs(20, seed=0)
    model = multihop.model
    result = activation_patching(model, pairs.clean, pairs.corrupt, pairs.metric(), "resid_pre")
    fig = plot_patching_map(result, pairs.position_names())
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == pairs.position_names()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["layer 0", "layer 1", "layer 2"]
    assert len(ax.texts) == 3 * pairs.clean.shape[1]  # every cell annotated
    plt.close(fig)
    heads = activation_patching(model, pairs.clean, pairs.corrupt, pairs.metric(), "head_out")
    values = activation_patching(model, pairs.clean, pairs.corrupt, pairs.metric(), "v")
    fig = plot_patching_map({"heads": heads, "heads again": heads})
    assert [a.get_title() for a in fig.axes[:2]] == ["heads", "heads again"]
    plt.close(fig)
    fig = plot_patching_map(values, pairs.position_names())
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()][:2] == ["L0 H0", "L0 H1"]
    plt.close(fig)
    fig = plot_estimate_vs_patching(heads, heads, labels=["a", "", "", "", "", "b"])
    assert len(fig.axes[0].collections[0].get_offsets()) == 6 and len(fig.axes[0].texts) == 2
    plt.close(fig)
