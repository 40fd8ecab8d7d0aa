"""Training: the course's models reach their accuracy, deterministically, and the cache is robust."""

import torch

from attnlab.models import TinyTransformer, preset
from attnlab.tasks.rationale import make_rationale_task
from attnlab.train import TrainConfig, cached_model, classifier_accuracy, train_classifier


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


def test_cache_hit_gives_the_same_weights_and_corrupt_files_are_retrained(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNLAB_CACHE_DIR", str(tmp_path))
    cfg = preset("one-layer", vocab_size=10, max_len=4)
    calls = []

    def fit(model):
        calls.append(1)
        with torch.no_grad():
            model.head.bias.fill_(len(calls))
        return {"accuracy": 1.0}

    first, metrics, hit = cached_model("demo", {"seed": 0}, cfg, fit)
    assert not hit and metrics == {"accuracy": 1.0}
    second, _, hit = cached_model("demo", {"seed": 0}, cfg, fit)
    assert hit and len(calls) == 1
    assert torch.equal(first.head.bias, second.head.bias)

    (file,) = tmp_path.glob("demo-*.pt")
    file.write_bytes(b"not a checkpoint")
    third, _, hit = cached_model("demo", {"seed": 0}, cfg, fit)
    assert not hit and len(calls) == 2 and third.head.bias[0] == 2

    file.unlink()
    _, _, hit = cached_model("demo", {"seed": 0}, cfg, fit)
    assert not hit and len(calls) == 3

    _, _, hit = cached_model("demo", {"seed": 1}, cfg, fit)  # another key, another file
    assert not hit and len(calls) == 4
