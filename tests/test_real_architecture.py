"""Lesson 06's library parts: the BERT recipe of the model zoo (trained through the adapter, cached and
reloaded like every course model) and LRP's identity rule, which gives BERT's tanh pooler the rule it
lacks. Every model is built from a config: nothing is downloaded."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from attnlab.attribution import LRP, relevance_budget  # noqa: E402
from attnlab.attribution.lrp import identity_rule  # noqa: E402
from attnlab.external import from_hf  # noqa: E402
from attnlab.train import TrainConfig  # noqa: E402
from attnlab.zoo import bert_rationale_model  # noqa: E402

EPS = torch.finfo(torch.float32).eps


def test_the_bert_recipe_trains_through_the_adapter_and_is_cached_like_every_course_model(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNLAB_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("ATTNLAB_CHECKPOINTS", "own")
    brief = TrainConfig(steps=30, lr=1e-3, seed=0)
    first = bert_rationale_model(n_train=300, n_test=100, train_cfg=brief)
    assert first.source == "trained" and 0.0 <= first.metrics["accuracy"] <= 1.0
    assert type(first.model.hf).__name__ == "BertForSequenceClassification"
    assert [p.name for p in tmp_path.iterdir()] == [p.name for p in tmp_path.glob("rationale-bert-*.pt")] != []
    again = bert_rationale_model(n_train=300, n_test=100, train_cfg=brief)
    assert again.source == "cache" and again.metrics == first.metrics
    for (name, mine), (_, theirs) in zip(first.model.state_dict().items(), again.model.state_dict().items()):
        assert torch.equal(mine, theirs), name
    other = bert_rationale_model(n_train=300, n_test=100, train_cfg=TrainConfig(steps=30, lr=1e-3, seed=1))
    assert other.source == "trained"  # another seed, another file


def test_the_identity_rule_keeps_the_value_and_passes_f_of_x_over_x_back():
    x = torch.tensor([-3.0, -0.5, 0.0, 0.5, 2.0], requires_grad=True)
    out = identity_rule(x, torch.tanh(x))
    assert torch.equal(out, torch.tanh(x))
    upstream = torch.tensor([1.0, -2.0, 3.0, 0.5, 1.5])
    (gradient,) = torch.autograd.grad((out * upstream).sum(), x)
    real = x != 0
    assert torch.allclose(gradient[real], (upstream * torch.tanh(x) / x)[real], rtol=4 * EPS)
    assert gradient[~real].item() == 0.0  # tanh(0) / 1e-10: a finite 0, not NaN


def small_bert(seed: int = 0):
    torch.manual_seed(seed)
    config = transformers.BertConfig(
        vocab_size=30, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=12, num_labels=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )  # fmt: skip
    model = transformers.BertForSequenceClassification(config)
    with torch.no_grad():  # BERT starts with weights of 0.02: larger ones put its pooler's tanh off its linear part
        model.bert.pooler.dense.weight.mul_(100.0)
    return from_hf(model)


def test_the_pooler_rule_makes_lrp_on_bert_account_for_the_whole_logit():
    bert = small_bert()
    tokens = torch.randint(1, 30, (6, 10))
    tokens[3, 7:] = 0  # padding
    before = relevance_budget(bert, tokens)
    lost = before.logit - before.inputs - before.biases - before.softmax  # the tanh's share, without a rule
    tanh = bert.hf.bert.pooler.activation
    handle = tanh.register_forward_hook(lambda module, inputs, output: identity_rule(inputs[0], output))
    try:
        after = relevance_budget(bert, tokens)
        with_rule = LRP(bert, rule="cp").attribute(tokens, return_convergence_delta=True)
    finally:
        handle.remove()
    assert torch.equal(after.logit, before.logit)  # the forward pass is unchanged
    # float32 sums over the model's width and tokens: allow a few hundred ulps of the logit
    tolerance = 512 * EPS * before.logit.abs().max()
    assert torch.allclose(after.logit, after.inputs + after.biases + after.softmax, atol=float(tolerance))
    assert lost.abs().min() > 1000 * tolerance  # without the rule, every example loses a share
    without_rule = LRP(bert, rule="cp").attribute(tokens, return_convergence_delta=True)
    assert with_rule[1].abs().mean() < without_rule[1].abs().mean()
    assert tanh._forward_hooks == {}  # the model as it was
