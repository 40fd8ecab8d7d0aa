"""TinyTransformer: the output contract other code relies on, padding, autograd, and clear errors."""

import re

import pytest
import torch

from attnlab.models import TinyTransformer, TinyTransformerConfig, preset


def tiny(**changes) -> TinyTransformer:
    torch.manual_seed(0)
    return TinyTransformer(preset("nano", vocab_size=12, max_len=8, **changes)).eval()


def test_output_shapes_follow_the_contract():
    model = tiny()
    out = model(torch.tensor([[1, 3, 4, 5, 0], [1, 6, 7, 0, 0]]))
    assert out.logits.shape == (2, 2)
    assert out.attentions.shape == (2, 2, 2, 5, 5)  # (L, B, H, T, T)
    assert out.hidden_states.shape == (3, 2, 5, 32)  # (L+1, B, T, D)
    assert len(out.attention_list) == 2


def test_token_head_predicts_every_position():
    model = tiny(head="token")
    assert model(torch.tensor([[1, 3, 4]])).logits.shape == (1, 3, 12)


def test_attention_rows_sum_to_one_over_real_keys_and_ignore_padding():
    model = tiny()
    out = model(torch.tensor([[1, 3, 4, 0, 0]]))
    torch.testing.assert_close(out.attentions.sum(-1), torch.ones(2, 1, 2, 5))
    assert out.attentions[..., 3:].abs().max() == 0  # no weight on [PAD] keys


def test_padding_does_not_change_the_real_tokens_outputs():
    model = tiny()
    short = model(torch.tensor([[1, 3, 4]]))
    padded = model(torch.tensor([[1, 3, 4, 0, 0]]))
    torch.testing.assert_close(short.logits, padded.logits)
    torch.testing.assert_close(short.attentions, padded.attentions[..., :3, :3])


def test_explicit_mask_overrides_the_pad_default():
    model = tiny()
    tokens = torch.tensor([[1, 3, 4, 5]])
    out = model(tokens, mask=torch.tensor([[True, True, False, True]]))
    assert out.attentions[..., 2].abs().max() == 0


def test_causal_model_never_looks_ahead():
    model = tiny(head="token", causal=True)
    out = model(torch.tensor([[1, 3, 4, 5]]))
    assert torch.triu(out.attentions, diagonal=1).abs().max() == 0


def test_gradients_flow_to_the_attention_weights():
    model = tiny()
    out = model(torch.tensor([[1, 3, 4, 5]]))
    grads = torch.autograd.grad(out.logits[0, 1], out.attention_list)
    assert all(g.shape == (1, 2, 4, 4) for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_same_seed_same_weights():
    a, b = tiny(), tiny()
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


@pytest.mark.parametrize(
    "tokens, message",
    [
        (torch.tensor([[1, 3, 99]]), "out of the vocabulary"),
        (torch.tensor([[1, -1]]), "out of the vocabulary"),
        (torch.tensor([1, 3, 4]), "shape (batch, tokens)"),
        (torch.zeros(0, 4, dtype=torch.long), "empty batch"),
        (torch.ones(1, 9, dtype=torch.long), "longer than max_len"),
        (torch.tensor([[1.0, 3.0]]), "integer ids"),
        (torch.tensor([[0, 0]]), "at least one non-padding token"),
    ],
)
def test_bad_input_gets_a_clear_error(tokens, message):
    with pytest.raises((ValueError, TypeError), match=re.escape(message)):
        tiny()(tokens)


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(d_model=30, n_heads=4), "divisible"),
        (dict(head="lm"), "head must be"),
        (dict(n_layers=0), "n_layers must be positive"),
    ],
)
def test_bad_config_gets_a_clear_error(fields, message):
    with pytest.raises(ValueError, match=message):
        TinyTransformerConfig(vocab_size=10, max_len=8, **fields)


def test_unknown_preset_names_the_choices():
    with pytest.raises(KeyError, match="nano"):
        preset("huge", vocab_size=10, max_len=8)
