"""attnlab.patching: sites, the batched engine against a one-site-at-a-time loop, hand-built models whose
answer is known, attribution patching on a linear model, ablations, path patching, results, errors."""

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from attnlab.hooks import HookedModule, HookPoint
from attnlab.models import TinyTransformer, TinyTransformerConfig, preset
from attnlab.patching import (
    Sites,
    ablation,
    activation_patching,
    attribution_patching,
    logit_difference,
    patch_together,
    path_patching,
    probability,
)
from attnlab.patching.results import recovery_result

# [CLS]=1, filler words 5..9; the clean sentences hold A=3 at position 2, the corrupted ones B=4.
A, B = 3, 4
CLEAN = torch.tensor([[1, 5, A, 6, 7], [1, 8, A, 9, 5], [1, 6, A, 7, 0], [1, 9, A, 5, 0]])
CORRUPT = torch.where(CLEAN == A, B, CLEAN)
WHERE = 2  # the one position where clean and corrupt differ
EPS = torch.finfo(torch.float32).eps


def random_model(seed: int = 0) -> TinyTransformer:
    """Untrained; its classifier scaled up so the pairs' logits differ by more than float noise."""
    torch.manual_seed(seed)
    model = TinyTransformer(preset("nano", vocab_size=10, max_len=8)).eval()
    with torch.no_grad():
        model.head.weight.mul_(100.0)
    return model


def class_one_minus_zero(logits: torch.Tensor) -> torch.Tensor:
    return logits[:, 1] - logits[:, 0]


# --- sites -------------------------------------------------------------------------------------------


def test_sites_cover_every_layer_head_and_position_of_their_kind():
    model = random_model()
    assert Sites.of(model, "resid_pre", 5).shape == (2, 5)
    assert Sites.of(model, "head_out", 5).shape == (2, 2)
    assert Sites.of(model, "v", 5).shape == (2, 2, 5)
    grid = Sites.of(model, "q", 5, layers=[1], heads=[1, 0], positions=[4])
    assert list(grid) == [(1, 1, 4), (1, 0, 4)] and grid.shape == (1, 2, 1) and len(grid) == 2
    assert grid.grid_index((1, 0, 4)) == (0, 1, 0)
    assert Sites.of(model, "mlp_out", 5, layers=[-1]).layers == (1,)  # -1: the last layer


@pytest.mark.parametrize(
    "kwargs, problem",
    [
        (dict(kind="resid"), "unknown kind"),
        (dict(kind="resid_pre", heads=[0]), "no head axis"),
        (dict(kind="head_out", positions=[0]), "every position"),
        (dict(kind="resid_pre", layers=[2]), "layer 2 does not exist"),
        (dict(kind="v", heads=[5]), "head 5 does not exist"),
        (dict(kind="v", positions=[0, 0]), "each position once"),
    ],
)
def test_a_wrong_site_is_refused_with_a_message(kwargs, problem):
    with pytest.raises(ValueError, match=problem):
        Sites.of(random_model(), width=5, **kwargs)


def test_a_site_outside_the_grid_is_refused():
    grid = Sites.of(random_model(), "resid_pre", 5, positions=[1, 2])
    with pytest.raises(ValueError, match="position 4 is not among"):
        grid.grid_index((0, 4))
    with pytest.raises(ValueError, match=r"\(layer, position\)"):
        grid.grid_index((0, 1, 2))


# --- the batched engine is the one-site-at-a-time definition -------------------------------------------


def patch_one_site(model, sites, site, clean, corrupt, metric):
    """The definition, one forward pass per site: the corrupted run with one site copied from the clean run."""
    name = sites.hook_name(site[0])
    _, cache = model.run_with_cache(clean, names=[name])
    index = (slice(None),) + sites.selector(site)

    def patch(x, hook):
        x = x.clone()
        x[index] = cache[name][index]
        return x

    with torch.no_grad(), model.hooks([(name, patch)]):
        return metric(model(corrupt).logits)


@pytest.mark.parametrize("kind", ["resid_pre", "attn_out", "mlp_out", "head_out", "q", "k", "v"])
def test_batched_patching_equals_patching_one_site_at_a_time(kind):
    model = random_model()
    result = activation_patching(model, CLEAN, CORRUPT, class_one_minus_zero, kind)
    for site in result.sites:
        expected = patch_one_site(model, result.sites, site, CLEAN, CORRUPT, class_one_minus_zero)
        assert torch.allclose(result.patched[result.sites.grid_index(site)], expected, atol=1e-5), site
    small = activation_patching(model, CLEAN, CORRUPT, class_one_minus_zero, kind, max_batch=7)  # 1 site a pass
    assert torch.allclose(small.patched, result.patched, atol=1e-6)  # float sums differ with the batch size
    assert model.active_hook_count() == 0


def test_recovery_is_normalised_per_pair_between_corrupt_and_clean():
    model = random_model()
    result = activation_patching(model, CLEAN, CORRUPT, class_one_minus_zero, "resid_pre")
    with torch.no_grad():
        clean, corrupt = (class_one_minus_zero(model(t).logits) for t in (CLEAN, CORRUPT))
    assert torch.allclose(result.clean, clean) and torch.allclose(result.corrupt, corrupt)
    assert torch.allclose(result.per_pair, (result.patched - corrupt) / (clean - corrupt))


def test_the_embedding_of_the_one_changed_position_carries_everything_and_the_others_nothing():
    # Any model: at layer 0 only position WHERE differs between the runs, so patching it restores the
    # clean run exactly, and patching any other position changes nothing.
    result = activation_patching(random_model(seed=3), CLEAN, CORRUPT, class_one_minus_zero, "resid_pre")
    layer0 = result.per_pair[0]  # (T, N)
    assert torch.allclose(layer0[WHERE], torch.ones(4), atol=1e-4)
    assert torch.allclose(layer0[torch.arange(5) != WHERE], torch.zeros(4, 4), atol=1e-4)  # float noise only


def test_patching_positions_together_is_one_patched_run_of_all_of_them():
    model = random_model(seed=3)
    single = activation_patching(model, CLEAN, CORRUPT, class_one_minus_zero, "resid_pre")
    for layer, position in [(0, WHERE), (1, 0), (1, 2)]:  # one position: the single site's recovery
        together = patch_together(model, CLEAN, CORRUPT, class_one_minus_zero, layer, [position])
        assert torch.allclose(together, single.per_pair[layer, position], atol=1e-5)
    everywhere = patch_together(model, CLEAN, CORRUPT, class_one_minus_zero, 1, range(5))  # the whole clean input
    assert torch.allclose(everywhere, torch.ones(4), atol=1e-5)
    # two positions at once are not the sum of each alone: the definition, one run with both replaced
    name = "blocks.1.hook_resid_pre"
    _, cache = model.run_with_cache(CLEAN, names=[name])

    def both(x, hook):
        x = x.clone()
        x[:, [0, 2]] = cache[name][:, [0, 2]]
        return x

    with torch.no_grad(), model.hooks([(name, both)]):
        patched = class_one_minus_zero(model(CORRUPT).logits)
    expected = (patched - single.corrupt) / (single.clean - single.corrupt)
    assert torch.allclose(patch_together(model, CLEAN, CORRUPT, class_one_minus_zero, 1, [0, 2]), expected, atol=1e-5)
    assert model.active_hook_count() == 0


@pytest.mark.parametrize("layer, positions, problem", [(2, [0], "layer"), (0, [7], "position"), (0, [], "position")])
def test_patching_together_refuses_a_site_outside_the_model(layer, positions, problem):
    with pytest.raises((ValueError, IndexError), match=problem):
        patch_together(random_model(), CLEAN, CORRUPT, class_one_minus_zero, layer, positions)


# --- a hand-built two-layer model with a known route -------------------------------------------------------


def hand_built() -> TinyTransformer:
    """Two layers, two heads, no MLPs, every attention uniform (W_q = W_k = 0).

    Layer 0, head 1 reads "is the token A?" from dimension 0 of every value and writes the mean into
    dimension 1 of the residual stream at every position; layer 1, head 0 copies dimension 1 into
    dimension 2; the classifier reads dimension 2 at [CLS]. Heads (0, 0) and (1, 1) write nothing.
    """
    torch.manual_seed(0)
    cfg = TinyTransformerConfig(vocab_size=10, max_len=8, d_model=8, n_heads=2, n_layers=2, d_mlp=4)
    model = TinyTransformer(cfg).eval()
    D, Dh = 8, 4
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for ln in [m for m in model.modules() if isinstance(m, nn.LayerNorm)]:
            ln.weight.fill_(1.0)
        model.tok_emb.weight[:, 3:] = torch.randn(10, D - 3) * 0.1  # filler directions
        model.tok_emb.weight[A, 0] = 3.0
        model.tok_emb.weight[:, 7] += 1.0  # keeps every vector away from zero before the LayerNorms
        for layer, (reader, writer) in enumerate(((0, 1), (1, 2))):
            head = 1 if layer == 0 else 0
            attn = model.blocks[layer].attn
            attn.qkv.weight[2 * D + head * Dh, reader] = 1.0  # v[head][0] = x[reader]
            attn.out.weight[writer, head * Dh] = 5.0  # residual[writer] += 5 * z[head][0]
        model.head.weight[1, 2] = 4.0
    return model


@pytest.fixture(scope="module")
def built():
    return hand_built()


def test_the_hand_built_model_does_what_its_docstring_says(built):
    with torch.no_grad():
        assert (built(CLEAN).logits.argmax(-1) == 1).all() and (built(CORRUPT).logits.argmax(-1) == 0).all()


def test_heads_that_write_nothing_recover_nothing_and_the_route_recovers(built):
    heads = activation_patching(built, CLEAN, CORRUPT, class_one_minus_zero, "head_out")
    mean = heads.mean()  # (L, H)
    assert abs(mean[0, 0]) < 1e-5 and abs(mean[1, 1]) < 1e-5  # they write nothing, whatever they compute
    assert mean[0, 1] > 0.5 and mean[1, 0] > 0.1
    for kind in ("q", "k"):  # uniform attention: queries and keys change nothing anywhere
        assert activation_patching(built, CLEAN, CORRUPT, class_one_minus_zero, kind).per_pair.abs().max() < 1e-5
    values = activation_patching(built, CLEAN, CORRUPT, class_one_minus_zero, "v").mean()  # (L, H, T)
    assert values[0, 1, WHERE] > 0.5  # layer 0's values differ only where the token does
    assert values[0, 1, torch.arange(5) != WHERE].abs().max() < 1e-5
    assert values[0, 0].abs().max() < 1e-5 and values[1, 1].abs().max() < 1e-5  # heads without values


def test_zero_ablating_a_head_that_writes_nothing_changes_nothing(built):
    drop = ablation(built, CLEAN, class_one_minus_zero, "head_out", method="zero")
    assert drop.per_pair[0, 0].abs().max() < 1e-5 and drop.per_pair[1, 1].abs().max() < 1e-5
    assert (drop.per_pair[0, 1] < 0).all()  # the head that reads A was needed


def test_path_patching_finds_the_one_path_between_the_heads(built):
    via_values = path_patching(built, CLEAN, CORRUPT, class_one_minus_zero, receivers=(1, 0), receiver_input="v")
    assert via_values.sites.shape == (1, 2)
    assert abs(via_values.mean()[0, 0]) < 1e-5 and via_values.mean()[0, 1] > 0.05  # only head (0, 1) sends
    for receiver, read in (((1, 0), "q"), ((1, 0), "k"), ((1, 1), "v")):
        other = path_patching(built, CLEAN, CORRUPT, class_one_minus_zero, receivers=receiver, receiver_input=read)
        assert other.per_pair.abs().max() < 1e-5, (receiver, read)  # uniform attention, or a head writing nothing
    both = path_patching(built, CLEAN, CORRUPT, class_one_minus_zero, receivers=[(1, 0), (1, 1)], receiver_input="v")
    assert torch.allclose(both.per_pair, via_values.per_pair, atol=1e-5)  # adding a head that writes nothing
    # The direct path of head (0, 1) (into [CLS]'s own residual stream) is not included: patching the head
    # recovers more than its path through head (1, 0) alone.
    whole = activation_patching(built, CLEAN, CORRUPT, class_one_minus_zero, "head_out")
    assert whole.mean()[0, 1] > via_values.mean()[0, 1]


# --- attribution patching ----------------------------------------------------------------------------


class LinearToy(HookedModule):
    """Every map is linear (no LayerNorm, no softmax: fixed attention weights), so a patch changes a
    linear metric by exactly its first-order term and attribution patching must equal real patching."""

    def __init__(self, vocab: int = 10, d: int = 6, n_layers: int = 2, n_heads: int = 2, width: int = 5):
        super().__init__()
        # The config the patching code reads (layer and head numbers, padding); the toy uses no more of it.
        self.cfg = TinyTransformerConfig(vocab_size=vocab, max_len=width, d_model=d, n_heads=n_heads, n_layers=n_layers)
        self.emb = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList()
        for _ in range(n_layers):
            block = nn.Module()
            block.hook_resid_pre = HookPoint()
            block.attn = nn.Module()
            block.attn.hook_v, block.attn.hook_z = HookPoint(), HookPoint()
            block.value, block.out = nn.Linear(d, d), nn.Linear(d, d)
            self.blocks.append(block)
        self.mix = nn.Parameter(torch.rand(width, width).softmax(-1))  # fixed "attention" (T, T)
        self.head = nn.Linear(d, 2)
        self.setup_hooks()

    def validate_tokens(self, tokens: torch.Tensor) -> None:
        pass

    def forward(self, tokens: torch.Tensor):
        x = self.emb(tokens)  # (B, T, d)
        B, T, d = x.shape
        H = self.cfg.n_heads
        for block in self.blocks:
            x = block.hook_resid_pre(x)
            v = block.attn.hook_v(block.value(x).view(B, T, H, d // H).transpose(1, 2))  # (B, H, T, Dh)
            z = block.attn.hook_z(self.mix[:T, :T] @ v)  # (B, H, T, Dh)
            x = x + block.out(z.transpose(1, 2).reshape(B, T, d))
        return SimpleNamespace(logits=self.head(x[:, 0]))


# Real patching divides a difference of two runs' metrics by the clean-minus-corrupt difference, which
# cancels leading digits; 2^10 eps of the largest value allows for it (measured: 44 eps, 6.5e-5 of 12.5).
LINEAR_TOY_ROUNDING = 2**10 * EPS


@pytest.mark.parametrize("kind", ["resid_pre", "head_out", "v"])
def test_attribution_patching_equals_activation_patching_on_a_linear_model(kind):
    torch.manual_seed(0)
    toy = LinearToy()
    real = activation_patching(toy, CLEAN, CORRUPT, class_one_minus_zero, kind)
    estimate = attribution_patching(toy, CLEAN, CORRUPT, class_one_minus_zero, kind)
    assert estimate.per_pair.shape == real.per_pair.shape
    assert torch.allclose(
        estimate.per_pair, real.per_pair, rtol=0, atol=LINEAR_TOY_ROUNDING * real.per_pair.abs().max()
    )
    assert real.per_pair.abs().max() > 0.1  # not trivially zero


def test_attribution_patching_on_a_subgrid_keeps_the_chosen_sites():
    torch.manual_seed(0)
    toy = LinearToy()
    grid = Sites.of(toy, "v", 5, layers=[1], heads=[1], positions=[0, WHERE])
    real = activation_patching(toy, CLEAN, CORRUPT, class_one_minus_zero, grid)
    estimate = attribution_patching(toy, CLEAN, CORRUPT, class_one_minus_zero, grid)
    assert estimate.per_pair.shape == (1, 1, 2, 4)
    assert torch.allclose(
        estimate.per_pair, real.per_pair, rtol=0, atol=LINEAR_TOY_ROUNDING * real.per_pair.abs().max()
    )


# --- ablation ------------------------------------------------------------------------------------------


def test_mean_and_resample_ablation_of_identical_inputs_change_nothing():
    model = random_model()
    same = CLEAN[:1].repeat(4, 1)  # four copies of one sentence: its mean and any resample are itself
    for method in ("mean", "resample"):
        drop = ablation(model, same, class_one_minus_zero, "resid_pre", method=method)
        # The mean of four equal float32 copies may round by an ulp, which moves the logit
        # difference (about 78 here) by a few of its own ulps: allowed 16 of them.
        assert drop.per_pair.abs().max() <= 16 * EPS * drop.original.abs().max(), method


def test_resample_ablation_draws_from_the_reference_with_its_seed():
    model = random_model()
    one = ablation(model, CLEAN, class_one_minus_zero, "head_out", "resample", reference=CORRUPT, seed=1)
    again = ablation(model, CLEAN, class_one_minus_zero, "head_out", "resample", reference=CORRUPT, seed=1)
    other = ablation(model, CLEAN, class_one_minus_zero, "head_out", "resample", reference=CORRUPT, seed=2)
    assert torch.equal(one.per_pair, again.per_pair) and not torch.equal(one.per_pair, other.per_pair)
    assert torch.equal(one.original, class_one_minus_zero(model(CLEAN).logits).detach())


@pytest.mark.parametrize(
    "kwargs, problem",
    [
        (dict(method="half"), "method must be one of zero, mean, resample"),
        (dict(method="mean", reference=CLEAN[:, :4]), "reference inputs have 4 positions"),
    ],
)
def test_a_wrong_ablation_is_refused_with_a_message(kwargs, problem):
    with pytest.raises(ValueError, match=problem):
        ablation(random_model(), CLEAN, class_one_minus_zero, "head_out", **kwargs)


# --- inputs a user can get wrong ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "corrupt, problem",
    [
        (CORRUPT[:, :4], "same shape"),
        (torch.where(CLEAN == 0, 5, CORRUPT), "padding in the same places"),
    ],
)
def test_pairs_that_cannot_be_aligned_are_refused(corrupt, problem):
    with pytest.raises(ValueError, match=problem):
        activation_patching(random_model(), CLEAN, corrupt, class_one_minus_zero)


def test_a_metric_must_give_one_value_per_pair():
    with pytest.raises(ValueError, match=r"one value per pair, shape \(4,\)"):
        activation_patching(random_model(), CLEAN, CORRUPT, lambda logits: logits.sum())


def test_pairs_with_nothing_to_recover_are_refused():
    with pytest.raises(ValueError, match="pair 0: the metric is the same"):
        activation_patching(random_model(), CLEAN, CLEAN, class_one_minus_zero)


@pytest.mark.parametrize(
    "kwargs, problem",
    [
        (dict(receivers=(0, 1)), "must be 1..1"),
        (dict(receivers=(1, 2)), "head 2 does not exist"),
        (dict(receivers=[(1, 0), (0, 1)]), "heads of one layer"),
        (dict(receivers=[]), "receivers are heads"),
        (dict(receivers=(1, 0), receiver_input="z"), "'q', 'k' or 'v'"),
        (dict(receivers=(1, 0), senders=Sites.of(random_model(), "head_out", 5, layers=[1])), "layers before"),
    ],
)
def test_a_wrong_path_is_refused_with_a_message(kwargs, problem):
    with pytest.raises(ValueError, match=problem):
        path_patching(random_model(), CLEAN, CORRUPT, class_one_minus_zero, **kwargs)


# --- metrics and results ------------------------------------------------------------------------------


def test_the_metrics():
    logits = torch.tensor([[2.0, -1.0], [0.0, 3.0]])
    labels = torch.tensor([0, 1])
    assert torch.equal(logit_difference(labels, 1 - labels)(logits), torch.tensor([3.0, 3.0]))
    assert torch.allclose(probability(labels)(logits), torch.tensor([1 / (1 + math.exp(-3))] * 2))
    with pytest.raises(ValueError, match="label tensors"):
        logit_difference(labels, labels[:1])


def test_results_give_means_intervals_and_the_best_sites():
    grid = Sites.of(random_model(), "head_out", 5)
    patched = torch.tensor([[[1.0, 1.0, 1.0], [2.0, 2.5, 3.0]], [[0.0, 0.0, 0.0], [1.5, 1.5, 1.5]]])  # (2, 2, N=3)
    result = recovery_result(grid, patched, clean=torch.full((3,), 3.0), corrupt=torch.zeros(3))
    assert torch.allclose(result.mean(), torch.tensor([[1 / 3, 2.5 / 3], [0.0, 0.5]]))
    assert result.best() == (0, 1)
    assert [site for site, _ in result.top(2)] == [(0, 1), (1, 1)]
    assert result.interval((1, 1)).estimate == pytest.approx(0.5) and result.interval((1, 1)).low == pytest.approx(0.5)
    assert result.difference((0, 1), (1, 1)).estimate == pytest.approx(2.5 / 3 - 0.5)
