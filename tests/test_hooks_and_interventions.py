"""Hook points and interventions: they change the output, and they always clean up after themselves."""

import pytest
import torch

from attnlab.interventions import block_keys, erase_tokens, mask_heads, replace_attention
from attnlab.models import TinyTransformer, preset

TOKENS = torch.tensor([[1, 3, 4, 5, 6, 0], [1, 7, 8, 0, 0, 0]])


@pytest.fixture
def model() -> TinyTransformer:
    torch.manual_seed(0)
    return TinyTransformer(preset("nano", vocab_size=12, max_len=8)).eval()


def test_hook_names_are_stable(model):
    assert "blocks.1.attn.hook_pattern" in model.hook_names()
    assert "hook_embed" in model.hook_names()


def test_queries_keys_values_and_residual_hooks_see_what_the_model_computes(model):
    out, cache = model.run_with_cache(TOKENS)
    q, k = cache["blocks.0.attn.hook_q"], cache["blocks.0.attn.hook_k"]  # (B, H, T, Dh)
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5  # (B, H, T, T)
    torch.testing.assert_close(scores[..., :3], cache["blocks.0.attn.hook_scores"][..., :3])  # keys real in both
    z = cache["blocks.0.attn.hook_pattern"] @ cache["blocks.0.attn.hook_v"]
    torch.testing.assert_close(z, cache["blocks.0.attn.hook_z"])
    torch.testing.assert_close(cache["blocks.1.hook_resid_pre"], out.hidden_states[1])
    mlp = model.blocks[0].mlp
    torch.testing.assert_close(mlp.proj(cache["blocks.0.mlp.hook_post"]), cache["blocks.0.hook_mlp_out"])


def test_the_layer_norm_scale_and_the_mlp_input_are_hook_points(model):
    plain = model(TOKENS)
    out, cache = model.run_with_cache(TOKENS)
    x = out.hidden_states[1]  # (B, T, D) the residual stream entering block 1
    torch.testing.assert_close(
        cache["blocks.1.ln1.hook_scale"], (x.var(-1, unbiased=False, keepdim=True) + 1e-5).sqrt()
    )
    torch.testing.assert_close(out.logits, plain.logits, atol=1e-6, rtol=1e-5)  # written out: equal up to rounding
    torch.testing.assert_close(
        torch.nn.functional.gelu(cache["blocks.0.mlp.hook_pre"]), cache["blocks.0.mlp.hook_post"]
    )
    with model.hooks([("ln_f.hook_scale", lambda scale, hook: 2 * scale)]):
        halved = model(TOKENS)
    ln = model.ln_f
    expected = model.head((ln(out.hidden_states[-1]) - ln.bias) / 2 + ln.bias)[:, 0]  # the normalised vector halved
    torch.testing.assert_close(halved.logits, expected, atol=1e-5, rtol=1e-5)


def test_hook_points_add_no_weights_and_no_hook_means_the_plain_layer_norm(model):
    assert not any("hook" in key for key in model.state_dict())  # checkpoints keep loading
    x = torch.randn(2, 5, model.cfg.d_model)
    ln = model.blocks[0].ln1
    assert torch.equal(ln(x), torch.nn.functional.layer_norm(x, ln.normalized_shape, ln.weight, ln.bias, ln.eps))


def test_replacing_the_values_changes_the_output(model):
    clean = model(TOKENS).logits
    with model.hooks([("blocks.1.attn.hook_v", lambda v, hook: torch.zeros_like(v))]):
        zeroed = model(TOKENS).logits
    assert not torch.allclose(clean, zeroed)


def test_run_with_cache_records_the_attention_the_model_returns(model):
    out, cache = model.run_with_cache(TOKENS)
    torch.testing.assert_close(cache["blocks.0.attn.hook_pattern"], out.attentions[0])
    torch.testing.assert_close(cache["blocks.1.hook_resid_post"], out.hidden_states[2])


def test_hooks_are_removed_even_when_the_forward_pass_fails(model):
    def boom(x, hook):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        with model.hooks([("hook_embed", boom)]):
            model(TOKENS)
    assert model.active_hook_count() == 0


def test_a_hook_must_keep_the_shape(model):
    with pytest.raises(ValueError, match="returned shape"):
        with model.hooks([("hook_embed", lambda x, hook: x[:, :1])]):
            model(TOKENS)


def test_unknown_hook_name_lists_the_real_ones(model):
    with pytest.raises(KeyError, match="hook_pattern"):
        with model.hooks([("blocks.9.attn.pattern", lambda x, h: None)]):
            pass


def test_uniform_attention_is_uniform_over_real_tokens(model):
    with replace_attention(model, "uniform"):
        out = model(TOKENS)
    assert model.active_hook_count() == 0
    torch.testing.assert_close(out.attentions[:, 0, :, :, :5], torch.full((2, 2, 6, 5), 0.2))
    torch.testing.assert_close(out.attentions[:, 1, :, :, :3], torch.full((2, 2, 6, 3), 1 / 3))
    assert out.attentions[:, 1, :, :, 3:].abs().max() == 0


def test_uniform_attention_changes_the_output(model):
    plain = model(TOKENS).logits
    with replace_attention(model, "uniform"):
        changed = model(TOKENS).logits
    assert not torch.allclose(plain, changed)


def test_permuted_attention_keeps_each_rows_weights_and_is_seeded(model):
    plain = model(TOKENS).attentions
    with replace_attention(model, "permute", layers=[1], seed=3):
        a = model(TOKENS).attentions
    with replace_attention(model, "permute", layers=[1], seed=3):
        b = model(TOKENS).attentions
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a[0], plain[0])  # layer 0 untouched
    torch.testing.assert_close(a[1].sort(-1).values, plain[1].sort(-1).values)  # same weights per row
    assert not torch.allclose(a[1], plain[1])
    assert a[1, 1, :, :, 3:].abs().max() == 0  # never moved onto padding


def test_given_attention_on_one_head_only(model):
    given = torch.eye(6)
    with replace_attention(model, "given", layers=[0], heads=[1], attention=given):
        out = model(TOKENS)
    torch.testing.assert_close(out.attentions[0, :, 1], given.expand(2, 6, 6))
    assert not torch.allclose(out.attentions[0, :, 0], given.expand(2, 6, 6))


def test_replace_attention_rejects_bad_arguments(model):
    with pytest.raises(ValueError, match="layer 5 does not exist"):
        with replace_attention(model, "uniform", layers=[5]):
            pass
    with pytest.raises(ValueError, match="head 2 does not exist"):
        with replace_attention(model, "uniform", heads=[2]):
            pass
    with pytest.raises(ValueError, match="mode must be"):
        with replace_attention(model, "shuffle"):
            pass


def test_masking_every_head_removes_attention_from_the_computation(model):
    with mask_heads(model, {0: [0, 1], 1: [0, 1]}):
        a = model(TOKENS).logits
        b = model(torch.tensor([[1, 3, 4, 5, 6, 0], [1, 3, 4, 5, 6, 0]])).logits
    # Without attention, [CLS] sees nothing of the sentence: every sentence gets the same logits.
    torch.testing.assert_close(a[0], a[1])
    torch.testing.assert_close(a, b)


def test_block_keys_hides_positions_and_renormalises(model):
    hidden = torch.zeros(2, 6, dtype=torch.bool)
    hidden[:, 2] = True
    with block_keys(model, hidden):
        out = model(TOKENS)
    assert out.attentions[..., 2].abs().max() == 0
    torch.testing.assert_close(out.attentions.sum(-1), torch.ones(2, 2, 2, 6))


def test_erase_tokens_delete_pad_and_mask():
    tokens = torch.tensor([[1, 5, 6, 7, 0]])
    erase = torch.tensor([[False, True, False, False, False]])
    assert erase_tokens(tokens, erase, "delete").tolist() == [[1, 6, 7, 0, 0]]
    assert erase_tokens(tokens, erase, "pad").tolist() == [[1, 0, 6, 7, 0]]
    assert erase_tokens(tokens, erase, "mask").tolist() == [[1, 2, 6, 7, 0]]
    with pytest.raises(ValueError, match="does not match"):
        erase_tokens(tokens, erase[:, :3])
