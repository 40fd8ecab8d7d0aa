"""Training: the course's models reach their accuracy, deterministically, and the cache is robust."""

from dataclasses import replace

import pytest
import torch

from attnlab.models import TinyTransformer, preset
from attnlab.tasks.rationale import make_rationale_task
from attnlab.tasks.vocab import Vocab
from attnlab.train import TrainConfig, classifier_accuracy, train_classifier
from attnlab.zoo import cached_model


def test_rationale_classifier_reaches_98_percent_held_out(rationale):
    assert classifier_accuracy(rationale.model, rationale.test) >= 0.98
    assert rationale.metrics["accuracy"] >= 0.98


def test_toy_language_model_learns_agreement(toy_language):
    # Agreement is decided by the grammar, so a model that learned the language gets it right.
    assert toy_language.metrics["verb_agreement_accuracy"] >= 0.95
    assert toy_language.metrics["pronoun_agreement_accuracy"] >= 0.85


def _small_run(seed: int) -> TinyTransformer:
    data = make_rationale_task(200, seed=0)
    torch.manual_seed(seed)
    model = TinyTransformer(preset("nano", vocab_size=len(data.vocab), max_len=16))
    return train_classifier(model, data, TrainConfig(steps=20, seed=seed))


def test_same_seed_same_weights():
    a, b = _small_run(1), _small_run(1)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    c = _small_run(2)
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


def _tiny_data(seed: int = 0):
    return make_rationale_task(12, seed=seed).split(8)


def test_cache_hit_gives_the_same_weights_and_corrupt_files_are_retrained(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNLAB_CACHE_DIR", str(tmp_path))
    cfg = preset("one-layer", vocab_size=50, max_len=16)
    train, test = _tiny_data()
    calls = []

    def build(model):
        calls.append(1)
        with torch.no_grad():
            model.head.bias.fill_(len(calls))
        return {"accuracy": 1.0}

    first = cached_model("demo", {"seed": 0}, cfg, train, test, build)
    assert first.source == "trained" and first.metrics == {"accuracy": 1.0}
    assert first.summary().startswith("trained in ") and first.summary().endswith("held-out accuracy 100.0%")
    second = cached_model("demo", {"seed": 0}, cfg, train, test, build)
    assert second.source == "cache" and len(calls) == 1
    assert second.summary() == "from your cache; held-out accuracy 100.0%"
    assert torch.equal(first.model.head.bias, second.model.head.bias)

    (file,) = tmp_path.glob("demo-*.pt")
    file.write_bytes(b"not a checkpoint")
    third = cached_model("demo", {"seed": 0}, cfg, train, test, build)
    assert third.source == "trained" and len(calls) == 2 and third.model.head.bias[0] == 2

    file.unlink()
    assert cached_model("demo", {"seed": 0}, cfg, train, test, build).source == "trained" and len(calls) == 3
    assert cached_model("demo", {"seed": 1}, cfg, train, test, build).source == "trained"  # another key, another file
    assert len(calls) == 4


def test_the_key_hashes_the_data_and_the_vocabulary(tmp_path, monkeypatch):
    # A changed generator or vocabulary must never be served weights trained on the old data.
    monkeypatch.setenv("ATTNLAB_CACHE_DIR", str(tmp_path))
    cfg = preset("one-layer", vocab_size=50, max_len=16)
    train, test = _tiny_data()
    build = lambda model: {"accuracy": 1.0}  # noqa: E731
    assert cached_model("demo", {"seed": 0}, cfg, train, test, build).source == "trained"
    assert cached_model("demo", {"seed": 0}, cfg, train, test, build).source == "cache"
    other_train, other_test = _tiny_data(seed=1)  # same sizes and settings, other sentences
    assert cached_model("demo", {"seed": 0}, cfg, other_train, other_test, build).source == "trained"
    relabelled = replace(train, labels=1 - train.labels)
    assert cached_model("demo", {"seed": 0}, cfg, relabelled, test, build).source == "trained"
    renamed = Vocab(train.vocab.words[:-1] + ("brilliant",))  # same ids, one word changed
    assert cached_model("demo", {"seed": 0}, cfg, replace(train, vocab=renamed), test, build).source == "trained"
    assert len(list(tmp_path.glob("demo-*.pt"))) == 4


def test_shipped_checkpoints_come_first_unless_the_student_trains_their_own(tmp_path, monkeypatch):
    shipped, own = tmp_path / "shipped", tmp_path / "own"
    monkeypatch.setattr("attnlab.zoo.cache.SHIPPED_DIR", shipped)
    monkeypatch.setenv("ATTNLAB_CACHE_DIR", str(own))
    cfg = preset("one-layer", vocab_size=50, max_len=16)
    train, test = _tiny_data()
    build = lambda model: {"accuracy": 0.5}  # noqa: E731
    cached_model("demo", {"seed": 0}, cfg, train, test, build)
    shipped.mkdir()
    for file in own.glob("demo-*.pt"):
        file.rename(shipped / file.name)
    assert cached_model("demo", {"seed": 0}, cfg, train, test, build).source == "shipped"
    monkeypatch.setenv("ATTNLAB_CHECKPOINTS", "own")
    assert cached_model("demo", {"seed": 0}, cfg, train, test, build).source == "trained"
    assert cached_model("demo", {"seed": 0}, cfg, train, test, build).source == "cache"
    monkeypatch.setenv("ATTNLAB_CHECKPOINTS", "mine")
    with pytest.raises(ValueError, match="ATTNLAB_CHECKPOINTS must be 'shipped' or 'own'"):
        cached_model("demo", {"seed": 0}, cfg, train, test, build)


def test_a_cache_that_cannot_be_written_still_gives_a_trained_model(tmp_path, monkeypatch, capsys):
    # as in the grader's sandbox, where the model cache is read-only: train, say so, go on
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("ATTNLAB_CACHE_DIR", str(blocker / "cache"))  # cannot be created, even by root
    monkeypatch.setenv("ATTNLAB_CHECKPOINTS", "own")
    train, test = _tiny_data()
    trained = cached_model(
        "demo",
        {"seed": 0},
        preset("one-layer", vocab_size=50, max_len=16),
        train,
        test,
        lambda model: {"accuracy": 1.0},
    )
    assert trained.source == "trained" and trained.metrics == {"accuracy": 1.0}
    assert "could not store" in capsys.readouterr().out
