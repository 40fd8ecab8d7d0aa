"""The bootstrap interval helper: seeded, paired, and right on cases whose answer is known."""

import math

import pytest
import torch

from attnlab.stats import bootstrap, bootstrap_share


def test_the_interval_is_seeded_and_contains_the_estimate():
    x = torch.randn(300, generator=torch.Generator().manual_seed(0))
    a, b = bootstrap(x, seed=1), bootstrap(x, seed=1)
    assert a == b
    # A float32 mean of n values rounds by up to n eps of their mean size, however small the mean (0.007 here).
    rounding = len(x) * torch.finfo(torch.float32).eps * x.abs().mean().item()
    assert a.low < a.estimate < a.high and a.estimate == pytest.approx(x.mean().item(), rel=0, abs=rounding)
    assert bootstrap(x, seed=2) != a  # another seed, another resampling


def test_the_width_matches_the_standard_error_of_a_mean():
    x = torch.randn(2000, generator=torch.Generator().manual_seed(0))
    interval = bootstrap(x, n_resamples=4000)
    se = x.std().item() / math.sqrt(len(x))
    assert interval.high - interval.low == pytest.approx(2 * 1.96 * se, rel=0.1)


def test_paired_differences_are_tighter_than_separate_intervals():
    g = torch.Generator().manual_seed(0)
    base = torch.rand(400, generator=g)
    a, b = base + 0.02, base + 0.01 * torch.randn(400, generator=g)  # same sentences, a is 0.02 higher
    diff = bootstrap(a, b)
    assert diff.estimate == pytest.approx(0.02, abs=0.003)
    assert diff.excludes(0.0)
    separate_a, separate_b = bootstrap(a), bootstrap(b)
    assert separate_a.low < separate_b.high  # unpaired intervals overlap: they could not tell
    with pytest.raises(ValueError, match="same shape"):
        bootstrap(a, b[:10])


def test_nan_is_left_out_and_shares_format_as_percent():
    x = torch.tensor([1.0, float("nan"), 0.0, 1.0])
    assert bootstrap(x).n == 3
    share = bootstrap_share(torch.tensor([True] * 30 + [False] * 70))
    assert share.estimate == pytest.approx(0.3)
    assert share.pct().startswith("30.0% [")
    assert str(bootstrap(torch.ones(5))) == "1.000 [1.000, 1.000]"
    with pytest.raises(ValueError, match="no defined"):
        bootstrap(torch.tensor([float("nan")]))


def test_intervals_are_the_plain_percentile_bootstrap_also_when_indices_are_reused():
    # bootstrap draws the resamples once per (n, n_resamples, seed), reuses them, and takes each
    # resample's mean as a product with the draw counts: every interval must still be the textbook
    # one (the mean of the gathered values), for any data of that size
    g = torch.Generator().manual_seed(3)
    ones_and_zeros = (torch.rand(250, generator=g) > 0.4).float()
    for x in (torch.rand(250, generator=g), ones_and_zeros):
        index = torch.randint(250, (500, 250), generator=torch.Generator().manual_seed(7))
        means = x.double()[index].mean(-1)
        low, high = torch.quantile(means, torch.tensor([0.025, 0.975], dtype=torch.double)).tolist()
        interval = bootstrap(x, n_resamples=500, seed=7)
        if x is ones_and_zeros:  # sums of whole numbers are exact in float64, in any order: the same bits
            assert (interval.low, interval.high) == (low, high)
        else:  # another order of summation: a float64 sum of n terms of size <= 1 is exact to n eps
            assert (interval.low, interval.high) == pytest.approx((low, high), rel=0, abs=250 * 2.0**-52)


def test_clustered_intervals_are_the_means_of_the_drawn_sentences():
    # the clustered bootstrap draws sentences and takes the mean over all words of the drawn ones
    # (computed from the draw counts): the same as gathering each resample's words
    g = torch.Generator().manual_seed(5)
    sentence = torch.randint(60, (400,), generator=g).sort().values  # (400,) words of 60 sentences, uneven
    assert len(sentence.unique()) == 60  # every sentence has words: ids 0..59 are the clusters drawn
    right = (torch.rand(400, generator=g) < 0.7).float()
    drawn = torch.randint(60, (300, 60), generator=torch.Generator().manual_seed(11))  # (R, G) sentences drawn
    sums = torch.zeros(60, dtype=torch.double).index_add_(0, sentence, right.double())
    sizes = torch.bincount(sentence, minlength=60).double()
    means = sums[drawn].sum(-1) / sizes[drawn].sum(-1)  # (R,)
    low, high = torch.quantile(means, torch.tensor([0.025, 0.975], dtype=torch.double)).tolist()
    interval = bootstrap(right, groups=sentence, n_resamples=300, seed=11)
    assert (interval.low, interval.high) == (low, high)  # whole numbers: exact sums


def test_clustered_examples_give_a_wider_interval_and_one_per_cluster_gives_the_plain_one():
    # 50 sentences of 10 words, each sentence all right or all wrong: 500 words but 50 independent draws
    g = torch.Generator().manual_seed(0)
    per_sentence = (torch.rand(50, generator=g) < 0.6).double()
    words = per_sentence.repeat_interleave(10)  # (500,)
    sentence = torch.arange(50).repeat_interleave(10)
    naive, clustered = bootstrap(words), bootstrap(words, groups=sentence)
    assert clustered.estimate == pytest.approx(naive.estimate)
    assert clustered.high - clustered.low > 2.5 * (naive.high - naive.low)  # about sqrt(10) wider
    by_sentence = bootstrap(per_sentence)
    assert clustered.low == pytest.approx(by_sentence.low) and clustered.high == pytest.approx(by_sentence.high)
    # one example per cluster: the plain bootstrap (the same resampling)
    x = torch.randn(40, generator=g)
    plain, single = bootstrap(x), bootstrap(x, groups=torch.arange(40))
    assert (single.low, single.high) == pytest.approx((plain.low, plain.high))
    with pytest.raises(ValueError, match="one id per value"):
        bootstrap(x, groups=torch.arange(39))
    with pytest.raises(ValueError, match="no other statistic"):
        bootstrap(x, groups=torch.arange(40), statistic=lambda v: v.median(-1).values)
