"""Plausibility metrics against a gold rationale, on hand-made scores; the method list runs end to end."""

import math

import pytest
import torch

from attnlab.attribution import Attribution
from attnlab.attribution.plausibility import format_table, precision_at_k, ranking_auc, score_against_rationale
from attnlab.attribution.standard import standard_methods
from attnlab.tasks.vocab import word_mask

#                     [CLS]  w1    w2    w3    w4   [PAD]
SCORES = torch.tensor([[9.0, 0.9, 0.1, 0.5, 0.2, 7.0], [9.0, 0.1, 0.2, 0.3, 0.4, 0.0]])
GOLD = torch.tensor([[0, 1, 0, 0, 1, 0], [0, 1, 0, 0, 0, 0]], dtype=torch.bool)
TOKENS = torch.tensor([[1, 5, 6, 7, 8, 0], [1, 5, 6, 7, 8, 9]])


def test_precision_at_k_by_hand():
    words = word_mask(TOKENS)
    # example 0: 2 gold words; top-2 words are w1 (gold) and w3 -> 1/2. [CLS] and [PAD] score high but are not words.
    # example 1: 1 gold word (w1); the top word is the extra word at position 5 -> 0.
    assert precision_at_k(SCORES, GOLD, words).tolist() == [0.5, 0.0]
    assert precision_at_k(SCORES, GOLD, words, k=3).tolist() == pytest.approx([2 / 3, 0.0])


def test_ranking_auc_by_hand():
    words = word_mask(TOKENS)
    # example 0: gold {0.9, 0.2} vs other {0.1, 0.5}: pairs won 0.9>0.1, 0.9>0.5, 0.2>0.1 -> 3/4
    # example 1: gold {0.1} vs other {0.2, 0.3, 0.4, 0.0}: won only against 0.0 -> 1/4
    assert ranking_auc(SCORES, GOLD, words).tolist() == [0.75, 0.25]
    ties = torch.ones_like(SCORES)
    assert ranking_auc(ties, GOLD, words).tolist() == [0.5, 0.5]


def test_examples_without_gold_give_nan_and_bad_input_is_refused():
    words = word_mask(TOKENS)
    none = torch.zeros_like(GOLD)
    assert all(math.isnan(v) for v in precision_at_k(SCORES, none, words).tolist())
    assert all(math.isnan(v) for v in ranking_auc(SCORES, none, words).tolist())
    with pytest.raises(ValueError, match="same shape"):
        precision_at_k(SCORES[:, :3], GOLD, words)
    with pytest.raises(ValueError, match="NaN"):
        ranking_auc(torch.full_like(SCORES, float("nan")), GOLD, words)


def test_score_against_rationale_on_the_trained_classifier(rationale):
    test = rationale.test.subset(slice(0, 60))
    methods = standard_methods(rationale.model, ig_steps=8)
    assert all(isinstance(m, Attribution) for m in methods.values())
    rows, results = score_against_rationale(rationale.model, test.tokens, test.rationale, methods)
    assert [r.method for r in rows] == list(methods)
    by_name = {r.method: r for r in rows}
    for r in rows:
        assert 0 <= r.precision_at_k <= 1 and 0 <= r.auc <= 1
        assert (r.mean_abs_delta is None) == (not methods[r.method].has_convergence_delta)
    # the ground truth is known: leave-one-out must beat the random floor by far
    assert by_name["leave-one-out"].auc > by_name["random"].auc + 0.2
    assert results["rollout"].scores.shape == test.tokens.shape
    assert "precision@k" in format_table(rows).splitlines()[0]


def test_magnitude_rankings_count_words_that_push_against_the_prediction():
    # A signed method that gives the gold words large *negative* scores: ranked by sign they come last
    # (AUC 0), ranked by magnitude first (AUC 1). score_against_rationale reports both.
    class Against(Attribution):
        name = "against"

        def _attribute(self, tokens, target, mask, position):
            return torch.where(GOLD, -5.0, 0.1)

    from attnlab.models import TinyTransformer, TinyTransformerConfig

    model = TinyTransformer(TinyTransformerConfig(vocab_size=10, max_len=6)).eval()
    rows, _ = score_against_rationale(model, TOKENS, GOLD, {"against": Against(model)})
    (row,) = rows
    assert row.auc == pytest.approx(0.0) and row.precision_at_k == pytest.approx(0.0)
    assert row.auc_magnitude == pytest.approx(1.0) and row.precision_at_k_magnitude == pytest.approx(1.0)
    assert row.per_example["auc_magnitude"].tolist() == [1.0, 1.0]
    assert "|s| AUC" in format_table(rows)
