"""
Deterministic training of the course's mini-models, with an on-disk cache.

- `train_classifier`: [CLS] classification (the rationale task), optionally with an extra loss term
  or a custom forward pass (the faithfulness lesson trains deceptive and uniform-attention variants).
- `train_masked_lm`: masked language modelling (the toy language for the probing lesson).
- `rationale_model()` / `toy_language_model()`: the course's standard models, trained once and then
  loaded from the cache. Same seed, same weights; a missing or corrupt cache file is retrained.
- `multihop_model()`: a 3-layer classifier whose information route is known (lesson 03, rollout).

The cache lives in $ATTNLAB_CACHE_DIR, or ~/.cache/attnlab. A file's name is a hash of everything
that determines the weights (task, data size and seed, model config, training config, variant).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from attnlab.models import TinyTransformer, TinyTransformerConfig, TransformerOutput, preset
from attnlab.tasks.base import mask_one_word
from attnlab.tasks.multihop import MAX_LEN as MULTIHOP_MAX_LEN
from attnlab.tasks.multihop import MultihopData, make_multihop_task
from attnlab.tasks.rationale import MAX_LEN as RATIONALE_MAX_LEN
from attnlab.tasks.rationale import RationaleData, make_rationale_task
from attnlab.tasks.toy_language import MAX_LEN as TOY_MAX_LEN
from attnlab.tasks.toy_language import PRONOUNS, VERB_NUMBER, ToyLanguageData, make_toy_language, pronoun_agrees
from attnlab.tasks.vocab import MASK_ID, SPECIALS

CACHE_FORMAT = 2  # bump when training code changes what a config produces (2: trained on one thread)

ForwardFn = Callable[[TinyTransformer, torch.Tensor], TransformerOutput]
ExtraLossFn = Callable[[TransformerOutput, RationaleData], torch.Tensor]
ClassifierData = RationaleData | MultihopData  # anything with .tokens, .labels and .subset()


@dataclass(frozen=True)
class TrainConfig:
    # Defaults train the rationale classifier to 99.6-100% held-out accuracy for seeds 0-3 in ~7 s.
    steps: int = 2000
    batch_size: int = 64
    lr: float = 6e-3
    weight_decay: float = 0.01
    seed: int = 0
    mask_prob: float = 0.15  # masked LM only: share of words replaced by [MASK]


@dataclass
class TrainedModel:
    model: TinyTransformer
    train: RationaleData | ToyLanguageData | MultihopData
    test: RationaleData | ToyLanguageData | MultihopData
    metrics: dict  # held-out accuracy and training seconds, as measured when it was trained
    from_cache: bool

    def summary(self) -> str:
        acc = ", ".join(f"{k} {v:.1%}" for k, v in self.metrics.items() if k.endswith("accuracy"))
        how = "loaded from cache" if self.from_cache else f"trained in {self.metrics['train_seconds']:.1f} s"
        return f"{how}; held-out {acc}"


# -----------------------------------------------------------------------------
# training loops


def _default_forward(model: TinyTransformer, tokens: torch.Tensor) -> TransformerOutput:
    return model(tokens)


def _optimizer(model: TinyTransformer, cfg: TrainConfig) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    # Linear decay to 0 makes the last steps settle instead of bouncing around the optimum.
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 - step / cfg.steps)
    return opt, schedule


def train_classifier(
    model: TinyTransformer,
    data: ClassifierData,
    cfg: TrainConfig = TrainConfig(),
    forward: ForwardFn = _default_forward,
    extra_loss: ExtraLossFn | None = None,
) -> TinyTransformer:
    """Train `model` in place to predict data.labels from the [CLS] token; returns it in eval mode.

    forward(model, tokens) -> output replaces the plain forward pass (e.g. under an intervention);
    extra_loss(output, batch) is added to the cross-entropy (e.g. an attention penalty).
    """
    generator = torch.Generator().manual_seed(cfg.seed)
    opt, schedule = _optimizer(model, cfg)
    model.train()
    for _ in range(cfg.steps):
        batch = data.subset(torch.randint(len(data), (cfg.batch_size,), generator=generator))
        out = forward(model, batch.tokens)
        loss = F.cross_entropy(out.logits, batch.labels)
        if extra_loss is not None:
            loss = loss + extra_loss(out, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
    return model.eval()


def mask_words(tokens: torch.Tensor, prob: float, generator: torch.Generator, mask_id: int = MASK_ID) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace a random share of words (never [CLS] or [PAD]) by [MASK].

    Returns (masked tokens (B, T), targets (B, T)) with targets -100 where nothing was masked.
    """
    words = tokens >= len(SPECIALS)  # the task's words come after the special tokens
    chosen = (torch.rand(tokens.shape, generator=generator) < prob) & words  # (B, T)
    targets = tokens.masked_fill(~chosen, -100)
    return tokens.masked_fill(chosen, mask_id), targets


def train_masked_lm(model: TinyTransformer, data: ToyLanguageData, cfg: TrainConfig = TrainConfig()) -> TinyTransformer:
    """Train a head="token" model in place to fill in masked words; returns it in eval mode."""
    if model.cfg.head != "token":
        raise ValueError("a masked language model needs head='token'")
    generator = torch.Generator().manual_seed(cfg.seed)
    opt, schedule = _optimizer(model, cfg)
    model.train()
    for _ in range(cfg.steps):
        tokens = data.tokens[torch.randint(len(data), (cfg.batch_size,), generator=generator)]
        masked, targets = mask_words(tokens, cfg.mask_prob, generator)
        logits = model(masked).logits  # (B, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
    return model.eval()


# -----------------------------------------------------------------------------
# evaluation


@torch.no_grad()
def classifier_accuracy(model: TinyTransformer, data: ClassifierData, forward: ForwardFn = _default_forward) -> float:
    return (forward(model, data.tokens).logits.argmax(-1) == data.labels).float().mean().item()


@torch.no_grad()
def masked_lm_accuracy(model: TinyTransformer, data: ToyLanguageData, seed: int = 0) -> dict[str, float]:
    """Fill in one masked word per sentence and score the parts the grammar decides:

    masked_word_accuracy: the exact word (often undecidable: any noun may follow "the");
    verb_agreement_accuracy: at a masked verb, a verb form of the subject's number is predicted;
    pronoun_agreement_accuracy: at a masked pronoun, a pronoun that agrees with the antecedent is predicted.
    """
    masked, hidden = mask_one_word(data, seed)
    rows, position = hidden.nonzero(as_tuple=True)  # (N,) each: one word per sentence, in order
    predicted = model(masked).logits[rows, position].argmax(-1)  # (N,)
    gold = data.tokens[rows, position]
    verbs, pronouns = [], []
    for i in range(len(data)):
        word, guess = data.vocab.words[gold[i]], data.vocab.words[predicted[i]]
        if word in VERB_NUMBER:
            verbs.append(VERB_NUMBER.get(guess) == VERB_NUMBER[word])
        elif word in PRONOUNS:
            noun = data.vocab.words[data.tokens[i, data.antecedent[i, position[i]]]]
            pronouns.append(guess in PRONOUNS and pronoun_agrees(guess, noun))
    return {
        "masked_word_accuracy": (predicted == gold).float().mean().item(),
        "verb_agreement_accuracy": sum(verbs) / max(len(verbs), 1),
        "pronoun_agreement_accuracy": sum(pronouns) / max(len(pronouns), 1),
    }


# -----------------------------------------------------------------------------
# cache


def cache_dir() -> Path:
    return Path(os.environ.get("ATTNLAB_CACHE_DIR", Path.home() / ".cache" / "attnlab"))


def _cache_path(name: str, key: dict) -> Path:
    digest = hashlib.sha256(json.dumps({**key, "format": CACHE_FORMAT}, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir() / f"{name}-{digest}.pt"


@contextmanager
def one_thread():
    """Train on one thread: float sums then run in one order, so the same seed gives the same weights
    on every machine and under any OMP_NUM_THREADS (and tiny tensors gain nothing from more threads)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cached_model(
    name: str, key: dict, cfg: TinyTransformerConfig, train: Callable[[TinyTransformer], dict]
) -> tuple[TinyTransformer, dict, bool]:
    """Load a trained model from the cache, or build it with `train(model) -> metrics` and store it.

    key: everything that determines the weights (JSON-serialisable). A file that is missing, corrupt
    or from another config is retrained, never a crash. Returns (model, metrics, from_cache).
    """
    path = _cache_path(name, {**key, "model": cfg.to_dict()})
    model = TinyTransformer(cfg)
    try:
        saved = torch.load(path, weights_only=True)
        model.load_state_dict(saved["state_dict"])
        return model.eval(), json.loads(saved["metrics"]), True
    except FileNotFoundError:
        pass
    except Exception as error:  # corrupt or stale file: say so, then retrain
        print(f"cache file {path.name} unreadable ({type(error).__name__}); retraining")
    torch.manual_seed(key.get("seed", 0))
    model = TinyTransformer(cfg)
    with one_thread():
        metrics = train(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save({"state_dict": model.state_dict(), "metrics": json.dumps(metrics)}, tmp)
    os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the new one, never half
    return model.eval(), metrics, False


# -----------------------------------------------------------------------------
# the course's standard models


def rationale_setup(
    seed: int, size: str, n_train: int, n_test: int
) -> tuple[RationaleData, RationaleData, TinyTransformerConfig]:
    """(train split, test split, model config) of the rationale classifier and of its variants."""
    data = make_rationale_task(n_train + n_test, seed=seed)
    train, test = data.split(n_train)
    cfg = preset(size, vocab_size=len(data.vocab), max_len=RATIONALE_MAX_LEN, head="cls", n_classes=2)
    return train, test, cfg


def rationale_model(
    seed: int = 0, size: str = "nano", n_train: int = 4000, n_test: int = 1000, train_cfg: TrainConfig | None = None
) -> TrainedModel:
    """The rationale-task classifier every attribution lesson explains."""
    train_cfg = train_cfg or TrainConfig(seed=seed)
    train, test, cfg = rationale_setup(seed, size, n_train, n_test)

    def fit(model: TinyTransformer) -> dict:
        start = time.perf_counter()
        train_classifier(model, train, train_cfg)
        return {"accuracy": classifier_accuracy(model, test), "train_seconds": time.perf_counter() - start}

    key = {"task": "rationale", "n": n_train + n_test, "seed": seed, "train": asdict(train_cfg)}
    model, metrics, hit = cached_model("rationale", key, cfg, fit)
    return TrainedModel(model, train, test, metrics, hit)


def toy_language_model(
    seed: int = 0, size: str = "micro", n_train: int = 4000, n_test: int = 1000, train_cfg: TrainConfig | None = None
) -> TrainedModel:
    """The masked language model of the toy language, for the probing lesson."""
    train_cfg = train_cfg or TrainConfig(seed=seed, steps=800, lr=3e-3)
    data = make_toy_language(n_train + n_test, seed=seed)
    train, test = data.split(n_train)
    cfg = preset(size, vocab_size=len(data.vocab), max_len=TOY_MAX_LEN, head="token")

    def fit(model: TinyTransformer) -> dict:
        start = time.perf_counter()
        train_masked_lm(model, train, train_cfg)
        return {**masked_lm_accuracy(model, test), "train_seconds": time.perf_counter() - start}

    key = {"task": "toy_language", "n": n_train + n_test, "seed": seed, "train": asdict(train_cfg)}
    model, metrics, hit = cached_model("toy_language", key, cfg, fit)
    return TrainedModel(model, train, test, metrics, hit)


def routing_penalty(out: TransformerOutput, marker: torch.Tensor) -> torch.Tensor:
    """The multi-hop model's routing constraint, averaged over batch and heads:

        - sum_{l < L-1} log(1 - m_l)  -  log(r),   m_l = [CLS]'s attention to anything but itself in
                                                  layer l, r = its attention to the marker in the last layer

    (Pruthi et al. 2020's log-mass penalty, applied to push mass away in early layers and onto the
    marker in the last.) marker: (B, T) bool.
    """
    pattern = out.attention_list  # L x (B, H, T, T)
    loss = torch.zeros(())
    for layer in pattern[:-1]:
        elsewhere = layer[:, :, 0, 1:].sum(-1)  # (B, H)
        loss = loss - (1.0 - elsewhere).clamp(min=1e-6).log().mean()
    on_marker = (pattern[-1][:, :, 0] * marker[:, None, :].float()).sum(-1)  # (B, H)
    return loss - on_marker.clamp(min=1e-6).log().mean()


def multihop_model(seed: int = 0, n_train: int = 4000, n_test: int = 1000, train_cfg: TrainConfig | None = None) -> TrainedModel:
    """A 3-layer, 2-head classifier of the multi-hop task (attnlab.tasks.multihop) with a known route.

    Trained with `routing_penalty`: [CLS] attends only to itself in layers 0 and 1 and only to the
    marker in layer 2, so the decisive word must first be copied into the marker's position (layer 0
    or 1) and reaches [CLS] from there. The penalty fixes where [CLS] looks, not how the marker
    gathers the word; the model learns that. metrics: held-out accuracy, the last layer's [CLS]
    attention on the marker, and the earlier layers' [CLS] attention to anything but itself.
    """
    train_cfg = train_cfg or TrainConfig(seed=seed, steps=1000)
    data = make_multihop_task(n_train + n_test, seed=seed)
    train, test = data.split(n_train)
    cfg = preset("nano", n_layers=3, vocab_size=len(data.vocab), max_len=MULTIHOP_MAX_LEN, head="cls", n_classes=2)

    def fit(model: TinyTransformer) -> dict:
        start = time.perf_counter()
        train_classifier(model, train, train_cfg, extra_loss=lambda out, batch: routing_penalty(out, batch.marker))
        seconds = time.perf_counter() - start
        with torch.no_grad():
            out = model.eval()(test.tokens)
        cls_rows = out.attentions[:, :, :, 0]  # (L, N, H, T)
        return {
            "accuracy": (out.logits.argmax(-1) == test.labels).float().mean().item(),
            "last_layer_marker_mass": (cls_rows[-1] * test.marker[:, None].float()).sum(-1).mean().item(),
            "early_layers_other_mass": cls_rows[:-1, :, :, 1:].sum(-1).mean().item(),
            "train_seconds": seconds,
        }

    key = {"task": "multihop", "n": n_train + n_test, "seed": seed, "train": asdict(train_cfg), "penalty": "routing-v1"}
    model, metrics, hit = cached_model("multihop", key, cfg, fit)
    return TrainedModel(model, train, test, metrics, hit)
