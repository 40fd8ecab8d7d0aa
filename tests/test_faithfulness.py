"""Faithfulness metrics on a hand-made model whose answer is known, then on the trained course model.

The hand-made model reads one token type only: its class is 1 exactly when the sentence holds the
KEY token, and p(class 1) depends only on the share of attention that reaches KEY tokens. Every
other word is irrelevant, so the faithful ranking ("KEY first") and its metrics are known.
"""

import math

import pytest
import torch
from scipy.stats import kendalltau

from attnlab.attribution.base import Attribution
from attnlab.faithfulness import (
    AdversaryConfig,
    adversarial_attention,
    attended_ablation,
    attention_flip,
    comprehensiveness,
    deletion_flip,
    erase,
    erasure_curves,
    faithfulness_table,
    jensen_shannon,
    keeps_prediction,
    kendall_tau,
    n_top,
    permutation_effect,
    rank_words,
    sufficiency,
    top_words,
)
from attnlab.faithfulness.permutation import shuffle_rows
from attnlab.interventions import replace_attention
from attnlab.models import TinyTransformer, TinyTransformerConfig, preset
from attnlab.tasks.vocab import word_mask

KEY = 3  # the one token the hand-made model reads; 0 [PAD], 1 [CLS], 2 [MASK], 4..9 filler
TOKENS = torch.tensor([
    [1, 4, 5, KEY, 6, 7, 0, 0],  # one KEY: class 1
    [1, 8, 9, 4, 5, 0, 0, 0],  # no KEY: class 0, nothing can change that
    [1, KEY, 4, 5, KEY, 6, 7, 8],  # two KEYs: class 1
    [1, 6, KEY, 0, 0, 0, 0, 0],  # one KEY, short
])  # fmt: skip


def key_reader(attend_to_key: float = 0.0) -> TinyTransformer:
    """One layer, one head. Embeddings: KEY -> u, every other token -> v (u, v orthogonal, zero mean).

    Values copy the input; the MLP is zero; the head reads the u-component of the [CLS] state, which is
    the attention weight [CLS] puts on KEY tokens. attend_to_key: extra attention score on KEY keys
    (0 = uniform attention).
    """
    cfg = TinyTransformerConfig(vocab_size=10, max_len=8, d_model=8, n_heads=1, n_layers=1, d_mlp=4)
    model = TinyTransformer(cfg)
    u = torch.tensor([1.0, -1, 1, -1, 1, -1, 1, -1])
    v = torch.tensor([1.0, 1, -1, -1, 1, 1, -1, -1])
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for ln in (model.blocks[0].ln1, model.blocks[0].ln2, model.ln_f):
            ln.weight.fill_(1.0)
        model.tok_emb.weight[:] = v
        model.tok_emb.weight[KEY] = u
        qkv = model.blocks[0].attn.qkv
        qkv.bias[0] = attend_to_key * math.sqrt(8)  # q = (s*sqrt(Dh), 0, ...) for every query
        qkv.weight[8] = u / 8  # k_0 = 1 on KEY, 0 elsewhere
        qkv.weight[16:24] = torch.eye(8)  # v = x
        model.blocks[0].attn.out.weight[:] = torch.eye(8)
        model.head.weight[1] = 40 * u / 8
        model.head.bias[1] = -1.0
    return model.eval()


class Oracle(Attribution):
    name = "oracle"

    def _attribute(self, tokens, target, mask, position):
        return (tokens == KEY).float()


class AntiOracle(Attribution):
    name = "anti-oracle"

    def _attribute(self, tokens, target, mask, position):
        return -(tokens == KEY).float()


class Constant(Attribution):
    name = "constant"

    def _attribute(self, tokens, target, mask, position):
        return torch.ones(tokens.shape)


@pytest.fixture
def model() -> TinyTransformer:
    return key_reader()


def probs(model, tokens):
    with torch.no_grad():
        return model(tokens).logits.softmax(-1)


def test_the_hand_made_model_reads_only_the_key(model):
    p = probs(model, TOKENS)
    assert p.argmax(-1).tolist() == [1, 0, 1, 1]
    fillers_swapped = TOKENS.clone()
    fillers_swapped[1, 1:5] = torch.tensor([5, 4, 9, 8])
    torch.testing.assert_close(probs(model, fillers_swapped)[1], p[1])


# -----------------------------------------------------------------------------
# rankings and erasure


def test_bins_become_at_least_one_word():
    words = torch.zeros(3, 12, dtype=torch.bool)
    words[0, 1:11], words[1, 1:4], words[2, 1:2] = True, True, True  # 10, 3 and 1 words
    assert [n_top(words, f).tolist() for f in (0.01, 0.05, 0.1, 0.2, 0.5, 1.0)] == [
        [1, 1, 1], [1, 1, 1], [1, 1, 1], [2, 1, 1], [5, 2, 1], [10, 3, 1]]  # fmt: skip
    with pytest.raises(ValueError, match="fraction"):
        n_top(words, 0.0)


def test_ranking_breaks_ties_by_position_and_ranks_cls_and_padding_last(model):
    words = word_mask(TOKENS)
    ranks = rank_words(torch.ones(TOKENS.shape), words)
    assert ranks[0].tolist()[:6] == [5, 0, 1, 2, 3, 4]
    top = top_words(torch.ones(TOKENS.shape), words, 2)
    assert top[3].tolist() == [False, True, True, False, False, False, False, False]


def test_erase_never_removes_cls(model):
    everything = torch.ones_like(TOKENS, dtype=torch.bool)
    assert erase(model, TOKENS, everything).tolist()[0] == [1, 0, 0, 0, 0, 0, 0, 0]
    with pytest.raises(ValueError, match="mode"):
        erase(model, TOKENS, everything, mode="blank")


def test_bad_scores_are_refused(model):
    with pytest.raises(ValueError, match="shape"):
        comprehensiveness(model, TOKENS, torch.ones(4, 5), 0.1)
    with pytest.raises(TypeError, match="Attribution"):
        comprehensiveness(model, TOKENS, [[1.0]], 0.1)
    with pytest.raises(ValueError, match="different model"):
        comprehensiveness(model, TOKENS, Oracle(key_reader()), 0.1)
    lm = TinyTransformer(preset("nano", vocab_size=10, max_len=8, head="token"))
    with pytest.raises(ValueError, match="classifier"):
        comprehensiveness(lm, TOKENS, torch.ones(4, 8), 0.1)


# -----------------------------------------------------------------------------
# ERASER


def test_comprehensiveness_of_the_faithful_ranking_is_the_drop_without_the_key(model):
    p = probs(model, TOKENS)
    comp = comprehensiveness(model, TOKENS, Oracle(model), 0.01)  # the single top word: a KEY
    without_first_key = TOKENS.clone()
    without_first_key[0] = torch.tensor([1, 4, 5, 6, 7, 0, 0, 0])
    expected0 = p[0, 1] - probs(model, without_first_key)[0, 1]
    torch.testing.assert_close(comp[0], expected0)
    assert comp[0] > 0.5 and comp[3] > 0.5
    assert comp[1] == 0  # nothing in a KEY-less sentence matters


def test_an_unfaithful_ranking_has_lower_comprehensiveness(model):
    faithful = comprehensiveness(model, TOKENS, Oracle(model), 0.2)
    unfaithful = comprehensiveness(model, TOKENS, AntiOracle(model), 0.2)
    assert (faithful[[0, 2, 3]] > unfaithful[[0, 2, 3]] + 0.3).all()
    # deleting fillers concentrates attention on the KEY: the prediction gets *more* confident
    assert unfaithful[0] < 0


def test_sufficiency_of_the_key_alone_is_negative(model):
    suff = sufficiency(model, TOKENS, Oracle(model), 0.01)
    only_key = torch.tensor([[1, KEY, 0, 0, 0, 0, 0, 0]])
    torch.testing.assert_close(suff[0], probs(model, TOKENS[:1])[0, 1] - probs(model, only_key)[0, 1])
    assert suff[0] < 0 and suff[1] == 0
    assert (sufficiency(model, TOKENS, AntiOracle(model), 0.01)[[0, 3]] > 0.5).all()  # one filler is not enough


def test_aopc_is_the_mean_over_bins(model):
    curves = erasure_curves(model, TOKENS, Oracle(model), bins=(0.1, 0.5))
    at_10, at_50 = (comprehensiveness(model, TOKENS, Oracle(model), fraction) for fraction in (0.1, 0.5))
    expected = (at_10 + at_50) / 2
    torch.testing.assert_close(curves.aopc_comprehensiveness, expected)
    assert curves.comprehensiveness[1] == pytest.approx(
        comprehensiveness(model, TOKENS, Oracle(model), 0.5).mean().item()
    )
    with pytest.raises(ValueError, match="bin"):
        erasure_curves(model, TOKENS, Oracle(model), bins=())


# -----------------------------------------------------------------------------
# decision flips: deleting words from the input, or zeroing their attention (Serrano & Smith)


def test_decision_flips_after_deleting_every_key_when_the_keys_come_first(model):
    flip = deletion_flip(model, TOKENS, Oracle(model))
    assert flip.removed.tolist() == [1, -1, 2, 1]
    assert flip.n_words.tolist() == [5, 4, 7, 2]
    torch.testing.assert_close(flip.fraction, torch.tensor([1 / 5, 1.0, 2 / 7, 1 / 2]))


def test_decision_flips_only_at_the_end_when_the_key_comes_last(model):
    flip = deletion_flip(model, TOKENS, AntiOracle(model))
    assert flip.removed.tolist() == [5, -1, 7, 2]
    assert flip.fraction.tolist() == [1.0, 1.0, 1.0, 1.0]


def test_attention_flip_zeroes_attention_and_keeps_the_input(model):
    # Zeroing the attention to every KEY flips the key reader exactly like deleting the KEYs.
    flip = attention_flip(model, TOKENS, Oracle(model))
    assert flip.removed.tolist() == [1, -1, 2, 1]
    assert attention_flip(model, TOKENS, AntiOracle(model)).removed.tolist() == [5, -1, 7, 2]


def test_attention_flip_never_flips_when_only_fillers_go_and_checks_its_layer():
    peaked = key_reader(attend_to_key=4.0)
    filler_first = torch.where(TOKENS == KEY, 0.0, 1.0) + 0.01 * torch.arange(8.0)  # fillers ranked first
    zeroed = attention_flip(peaked, TOKENS, filler_first)
    assert zeroed.removed.tolist() == [5, -1, 7, 2]  # only when the last word ranked, a KEY, goes
    with pytest.raises(ValueError, match="layer"):
        attention_flip(peaked, TOKENS, filler_first, layer=2)


# -----------------------------------------------------------------------------
# Kendall tau


def test_kendall_tau_matches_scipy_on_the_masked_positions():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 9, generator=g), torch.randn(5, 9, generator=g)
    mask = torch.rand(5, 9, generator=g) > 0.3
    mask[:, :3] = True
    agreement = kendall_tau(a, b, mask)
    for i in range(5):
        expected = kendalltau(a[i][mask[i]].numpy(), b[i][mask[i]].numpy())
        assert agreement.tau[i].item() == pytest.approx(expected.statistic)


def test_kendall_tau_matches_scipy_with_ties():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randint(3, (20, 10), generator=g).float(), torch.randint(4, (20, 10), generator=g).float()
    mask = torch.rand(20, 10, generator=g) > 0.2
    agreement = kendall_tau(a, b, mask)
    for i in range(20):
        x, y = a[i][mask[i]].numpy(), b[i][mask[i]].numpy()
        if len(x) < 2 or (x == x[0]).all() or (y == y[0]).all():
            assert agreement.tau[i].isnan()
        else:
            assert agreement.tau[i].item() == pytest.approx(kendalltau(x, y).statistic)


def test_kendall_tau_of_same_reversed_and_constant_rankings():
    a = torch.tensor([[0.0, 1, 2, 3, 4], [0.0, 1, 2, 3, 4], [0.0, 1, 2, 3, 4]])
    b = torch.stack([a[0] * 10, -a[1], torch.ones(5)])
    agreement = kendall_tau(a, b, torch.ones(3, 5, dtype=torch.bool))
    assert agreement.tau[0] == pytest.approx(1.0) and agreement.tau[1] == pytest.approx(-1.0)
    assert agreement.tau[2].isnan()
    # Exact test, no ties: of the 5! orderings one agrees perfectly and one is reversed, p = 2 / 5!
    assert agreement.p_value[:2].tolist() == pytest.approx([2 / math.factorial(5)] * 2)
    assert agreement.p_value[2].isnan()
    assert agreement.mean == pytest.approx(0.0)  # the undefined example is left out
    with pytest.raises(ValueError, match="shape"):
        kendall_tau(a, b[:2], torch.ones(3, 5, dtype=torch.bool))


# -----------------------------------------------------------------------------
# attention interventions


def test_permuting_uniform_attention_changes_nothing(model):
    effect = permutation_effect(model, TOKENS, n_permutations=5)
    assert effect.median_change.abs().max() < 1e-6
    assert effect.flip_share.max() == 0


def test_permuting_peaked_attention_moves_the_output():
    peaked = key_reader(attend_to_key=4.0)
    effect = permutation_effect(peaked, TOKENS, n_permutations=30)
    assert effect.max_attention[0] > 0.9  # [CLS] looks at the KEY
    assert effect.median_change[0] > 0.1
    # two words only: half the shuffles are the identity, so the median can be 0, but the swaps flip it
    assert effect.flip_share[3] > 0.2
    assert effect.median_change[1] < 1e-6  # no KEY: attention can go anywhere
    again = permutation_effect(peaked, TOKENS, n_permutations=30)
    torch.testing.assert_close(again.median_change, effect.median_change)


def test_permutations_leave_the_weight_on_cls_in_place_unless_asked():
    # Jain & Wallace permute over the words, not SOS/EOS: by default [CLS]'s own weight stays where it is
    g = torch.Generator().manual_seed(0)
    pattern = torch.rand(2, 3, 8, 8, generator=g).softmax(-1)  # (B, H, T, T)
    words = word_mask(TOKENS[:2])[:, None, None, :]  # (B, 1, 1, T)
    shuffled = shuffle_rows(pattern, words, torch.Generator().manual_seed(1))
    torch.testing.assert_close(shuffled[..., 0], pattern[..., 0], rtol=0, atol=0)  # [CLS] key kept
    torch.testing.assert_close(shuffled.masked_fill(words, 0), pattern.masked_fill(words, 0), rtol=0, atol=0)
    for row, original, allowed in zip(
        shuffled.flatten(0, 2), pattern.flatten(0, 2), words.expand_as(pattern).flatten(0, 2)
    ):
        assert sorted(row[allowed].tolist()) == sorted(original[allowed].tolist())  # the words' weights, reordered
    assert not torch.equal(shuffled, pattern)
    # keys="all" is the intervention's own permutation over every real token, [CLS] included
    peaked = key_reader(attend_to_key=4.0)
    effect = permutation_effect(peaked, TOKENS, n_permutations=10, seed=3, keys="all")
    with torch.no_grad():
        p0 = peaked(TOKENS).logits.softmax(-1)
        y = p0.argmax(-1, keepdim=True)
        changes = []
        for s in range(10):
            with replace_attention(peaked, "permute", layers=[-1], seed=3 + s):
                changes.append((peaked(TOKENS).logits.softmax(-1).gather(1, y) - p0.gather(1, y))[:, 0].abs())
    torch.testing.assert_close(effect.median_change, torch.stack(changes).quantile(0.5, dim=0))
    with pytest.raises(ValueError, match="keys must be"):
        permutation_effect(peaked, TOKENS, n_permutations=1, keys="cls")


def test_a_kept_prediction_must_leave_cls_in_place_by_default(model):
    # uniform attention: every permutation keeps p(y), so only the [CLS] rule can refuse one
    one = TOKENS[:1]  # 6 real tokens
    moves_cls = torch.tensor([1, 0, 2, 3, 4, 5])
    words_only = torch.tensor([0, 2, 1, 3, 4, 5])
    assert keeps_prediction(model, one, words_only, 0.01)
    assert not keeps_prediction(model, one, moves_cls, 0.01)
    assert keeps_prediction(model, one, moves_cls, 0.01, keys="all")
    assert not keeps_prediction(model, one, torch.arange(6), 0.01)  # the identity is no permutation test


def test_jensen_shannon_bounds():
    p = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    q = torch.tensor([[0.0, 1.0], [0.5, 0.5]])
    torch.testing.assert_close(jensen_shannon(p, q), torch.tensor([math.log(2), 0.0]))
    torch.testing.assert_close(jensen_shannon(p, q), jensen_shannon(q, p))


def output_change_with_rows(model, tokens, rows, layer):
    """|delta p(y)| measured by running the model with the [CLS] rows of `layer` replaced, (B,)."""
    with torch.no_grad():
        out = model(tokens)
        pattern = out.attentions[layer].clone()
        pattern[:, :, 0] = rows
        with replace_attention(model, "given", layers=[layer], attention=pattern):
            p = model(tokens).logits.softmax(-1)
    p0 = out.logits.softmax(-1)
    y = p0.argmax(-1, keepdim=True)
    return (p.gather(1, y) - p0.gather(1, y))[:, 0].abs()


def scipy_jsd(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Head-mean JSD of (B, H, T) rows by scipy (its distance is the square root of the divergence)."""
    from scipy.spatial.distance import jensenshannon

    return torch.tensor(
        [[jensenshannon(a, b) ** 2 for a, b in zip(pb.double().numpy(), qb.double().numpy())] for pb, qb in zip(p, q)]
    ).mean(1)


@pytest.mark.parametrize("tolerance", [0.01, 0.05])
def test_adversarial_attention_stays_within_the_tolerance(tolerance):
    peaked = key_reader(attend_to_key=4.0)
    cfg = AdversaryConfig(steps=150, lr=0.1, tolerance=tolerance)
    adv = adversarial_attention(peaked, TOKENS, cfg)
    change = output_change_with_rows(peaked, TOKENS, adv.adversarial, -1)  # measured independently
    assert (change <= tolerance + 1e-6).all()
    torch.testing.assert_close(adv.output_change, change.float(), atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(adv.adversarial.sum(-1), torch.ones(4, 1))
    assert adv.adversarial[TOKENS[:, None, :].expand(4, 1, 8) == 0].abs().max() == 0  # never on padding
    torch.testing.assert_close(adv.jsd.double(), scipy_jsd(adv.adversarial, adv.original), atol=1e-5, rtol=1e-4)
    assert adv.jsd[1] > 0.3  # no KEY: any attention keeps the output, so it moves far
    assert not adv.flipped.any()


def test_adversarial_attention_moves_far_when_attention_does_not_matter():
    deaf = key_reader(attend_to_key=4.0)
    with torch.no_grad():
        deaf.blocks[0].attn.out.weight.zero_()  # the attention output never reaches the residual stream
    adv = adversarial_attention(deaf, TOKENS, AdversaryConfig(steps=100, lr=0.1))
    assert (adv.jsd > 0.4).all() and (adv.output_change < 1e-6).all()
    with pytest.raises(ValueError, match="layer"):
        adversarial_attention(deaf, TOKENS, layer=3)


def test_hiding_the_attended_key_flips_the_decision_but_a_random_word_does_not():
    peaked = key_reader(attend_to_key=4.0)
    ablation = attended_ablation(peaked, TOKENS, k=1)
    assert ablation.top_flipped.tolist() == [True, False, False, True]  # two KEYs: one is left
    assert (ablation.top_change >= ablation.random_change - 1e-6).all()
    with pytest.raises(ValueError, match="k"):
        attended_ablation(peaked, TOKENS, k=0)


def test_the_random_control_of_attended_ablation_never_draws_the_top_word():
    # Serrano & Smith's control draws a random *non-top* item. In "[CLS] filler KEY" the top word is
    # the KEY, so the random word must be the filler whatever the seed, and never flip the decision.
    peaked = key_reader(attend_to_key=4.0)
    for seed in range(10):
        ablation = attended_ablation(peaked, TOKENS, k=1, seed=seed)
        assert not ablation.random_flipped[3] and not ablation.random_flipped[0]
    with pytest.raises(ValueError, match="words"):
        attended_ablation(peaked, TOKENS, k=2)  # the last sentence has 2 words: no 2 others left


# -----------------------------------------------------------------------------
# the comparison table


def test_the_table_ranks_the_faithful_method_first(model):
    methods = [Oracle(model), AntiOracle(model), Constant(model)]
    table = faithfulness_table(model, TOKENS, methods, references={"truth": Oracle(model)})
    assert [r.name for r in table.rows] == ["oracle", "anti-oracle", "constant"]
    assert table["oracle"].aopc_comprehensiveness > table["anti-oracle"].aopc_comprehensiveness + 0.3
    assert table["oracle"].aopc_sufficiency < table["anti-oracle"].aopc_sufficiency
    assert table["oracle"].flip_fraction < table["anti-oracle"].flip_fraction
    assert table["oracle"].tau["truth"] == pytest.approx(1.0)
    assert table["anti-oracle"].tau["truth"] == pytest.approx(-1.0)
    assert math.isnan(table["constant"].tau["truth"])
    assert len(table["oracle"].comprehensiveness) == 5
    text = table.format()
    assert "anti-oracle" in text and "tau vs truth" in text and "tau |.| vs truth" in text
    assert table["oracle"].attention_flip_fraction < table["anti-oracle"].attention_flip_fraction
    assert table["oracle"].per_example["aopc_comprehensiveness"].shape == (4,)


def test_tau_on_magnitudes_ignores_the_sign_of_the_reference(model):
    # A signed reference that scores the KEY strongly *negative*: by sign the oracle disagrees with it,
    # by magnitude (Jain & Wallace compare magnitudes) it agrees perfectly.
    signed = torch.where(TOKENS == KEY, -5.0, 0.1 * torch.arange(8.0))
    table = faithfulness_table(model, TOKENS, {"magnitude": signed.abs()}, references={"signed": signed})
    row = table["magnitude"]
    assert row.tau_magnitude["signed"] == pytest.approx(1.0)
    assert row.tau["signed"] < 0.5


def test_the_table_takes_tensors_by_name_and_refuses_duplicates(model):
    table = faithfulness_table(model, TOKENS, {"key indicator": (TOKENS == KEY).float()}, references={})
    assert table["key indicator"].flip_rate == pytest.approx(0.75)
    with pytest.raises(ValueError, match="named"):
        faithfulness_table(model, TOKENS, [Oracle(model), Oracle(model)], references={})
    with pytest.raises(ValueError, match="no methods"):
        faithfulness_table(model, TOKENS, {}, references={})
    with pytest.raises(KeyError, match="no method"):
        table["gradient"]


def test_a_method_that_is_also_a_reference_runs_once_and_its_scores_are_kept(model):
    class Counting(Oracle):
        calls = 0

        def _attribute(self, tokens, target, mask, position):
            Counting.calls += 1
            return super()._attribute(tokens, target, mask, position)

    oracle = Counting(model)
    table = faithfulness_table(
        model, TOKENS, {"oracle": oracle, "anti": AntiOracle(model)}, references={"truth": oracle}
    )
    assert Counting.calls == 1
    assert table["oracle"].tau["truth"] == pytest.approx(1.0)
    assert torch.equal(table.scores["oracle"], (TOKENS == KEY).float()) and set(table.scores) == {"oracle", "anti"}


def test_bins_that_keep_the_same_words_give_the_same_erasure(model):
    # 1 % and 5 % of a short sentence are both its top word: computed once, equal to the last bit
    curves = erasure_curves(model, TOKENS, Oracle(model), bins=(0.01, 0.05, 0.5))
    single = erasure_curves(model, TOKENS, Oracle(model), bins=(0.05,))
    assert curves.comprehensiveness[0] == curves.comprehensiveness[1] == single.comprehensiveness[0]
    assert curves.sufficiency[0] == curves.sufficiency[1] == single.sufficiency[0]
    assert curves.sufficiency[2] != curves.sufficiency[0]  # half of the words: another erasure


def test_adversarial_attention_in_an_earlier_layer_also_keeps_the_tolerance(rationale):
    model, tokens = rationale.model, rationale.test.tokens[:30]
    adv = adversarial_attention(model, tokens, AdversaryConfig(steps=40, lr=0.05, tolerance=0.02), layer=0)
    assert (output_change_with_rows(model, tokens, adv.adversarial, 0) <= 0.02 + 1e-6).all()
    assert adv.jsd.max() > 0


def test_erasure_curve_figure_has_one_line_per_method_in_each_panel(model):
    import matplotlib

    matplotlib.use("Agg")
    from attnlab.plots import plot_erasure_curves, plot_permutation_effect

    table = faithfulness_table(model, TOKENS, [Oracle(model), AntiOracle(model)], references={})
    fig = plot_erasure_curves(table)
    left, right = fig.axes
    assert [line.get_label() for line in right.get_lines() if not line.get_label().startswith("_")] == [
        "oracle",
        "anti-oracle",
    ]
    assert len(left.get_lines()) == 3  # two methods and the zero line
    assert "sufficiency" in right.get_ylabel() and "%" in left.get_xticklabels()[0].get_text()
    fig = plot_permutation_effect(permutation_effect(model, TOKENS, n_permutations=3))
    assert len(fig.axes[0].collections[0].get_offsets()) == 4
    table.rows = []
    with pytest.raises(ValueError, match="no methods"):
        plot_erasure_curves(table)
