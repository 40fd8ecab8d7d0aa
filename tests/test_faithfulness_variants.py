"""Re-trained variants: the deceptive penalty lowers the attention mass; uniform attention stays frozen; both cache."""

import math

import pytest
import torch

from attnlab.faithfulness import attention_mass_report, rationale_attention_mass
from attnlab.models import TinyTransformer, preset
from attnlab.tasks.rationale import MAX_LEN, make_rationale_task
from attnlab.train import TrainConfig, classifier_accuracy, train_classifier
from attnlab.zoo import deception_penalty, deceptive_model, uniform_attention_model

SMALL = TrainConfig(steps=150, batch_size=32, seed=0)


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNLAB_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_attention_mass_and_penalty_on_hand_made_attention():
    attn = torch.zeros(2, 1, 2, 4, 4)  # (L, B, H, T, T)
    attn[-1, 0, 0, 0] = torch.tensor([0.1, 0.5, 0.3, 0.1])
    attn[-1, 0, 1, 0] = torch.tensor([0.7, 0.1, 0.1, 0.1])
    rationale = torch.tensor([[False, True, True, False]])
    mass = rationale_attention_mass(attn, rationale)
    torch.testing.assert_close(mass, torch.tensor([[0.8, 0.2]]))

    class Out:  # the penalty reads only attention_list
        attention_list = tuple(attn)

    expected = -0.5 * (math.log(0.2) + math.log(0.8)) / 2
    assert deception_penalty(Out(), rationale, lam=0.5).item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="rationale"):
        rationale_attention_mass(attn, rationale[:, :3])


def test_the_deceptive_penalty_lowers_the_attention_mass_on_the_rationale():
    data = make_rationale_task(600, seed=1)
    train, test = data.split(400)
    cfg = preset("nano", vocab_size=len(data.vocab), max_len=MAX_LEN)
    torch.manual_seed(0)
    plain = train_classifier(TinyTransformer(cfg), train, SMALL)
    torch.manual_seed(0)
    deceptive = train_classifier(
        TinyTransformer(cfg), train, SMALL, extra_loss=lambda out, batch: deception_penalty(out, batch.rationale, 1.0)
    )
    before, after = attention_mass_report(plain, test), attention_mass_report(deceptive, test)
    assert after["mean_head_mass"] < 0.5 * before["mean_head_mass"]
    assert after["max_head_mass"] < before["max_head_mass"]


def test_deceptive_model_is_cached(tmp_cache):
    first = deceptive_model(lam=1.0, n_train=300, n_test=100, train_cfg=SMALL)
    second = deceptive_model(lam=1.0, n_train=300, n_test=100, train_cfg=SMALL)
    assert not first.from_cache and second.from_cache
    assert {"accuracy", "mean_head_mass", "max_head_mass"} <= set(second.metrics)
    for a, b in zip(first.model.parameters(), second.model.parameters()):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="lam"):
        deceptive_model(lam=-1.0)


def test_uniform_model_runs_with_frozen_uniform_attention_and_is_cached(tmp_cache):
    uniform = uniform_attention_model(layers=[-1], n_train=300, n_test=100, train_cfg=SMALL)
    assert uniform.layers == (1,) and not uniform.trained.from_cache
    tokens = uniform.trained.test.tokens[:5]
    out = uniform(tokens)
    real = (tokens != 0).float()
    expected = real / real.sum(1, keepdim=True)  # (B, T)
    torch.testing.assert_close(out.attentions[1, :, 0, 0], expected)
    assert not torch.allclose(out.attentions[0, :, 0, 0], expected)  # layer 0 keeps its learned attention
    again = uniform_attention_model(layers=[-1], n_train=300, n_test=100, train_cfg=SMALL)
    assert again.trained.from_cache
    with again.frozen():  # the loaded weights, evaluated now, give the accuracy measured when trained
        assert classifier_accuracy(again.model, again.trained.test) == pytest.approx(
            uniform.trained.metrics["accuracy"]
        )
    with pytest.raises(ValueError, match="layers"):
        uniform_attention_model(layers=[5], n_train=300, n_test=100, train_cfg=SMALL)
