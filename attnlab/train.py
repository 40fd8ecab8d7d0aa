"""
Deterministic training of the course's mini-models, with shipped checkpoints and an on-disk cache.

- `train_classifier`: [CLS] classification (the rationale task), optionally with an extra loss term
  or a custom forward pass (the faithfulness lesson trains deceptive and uniform-attention variants).
- `train_masked_lm`: masked language modelling (the toy language for the probing lesson).
  Both run the one training loop, `fit`.
- `rationale_model()` / `toy_language_model()`: the course's standard models. Same seed, same weights.
- `multihop_model()`: a 3-layer classifier whose information route is known (lesson 03, rollout).

Where a model comes from (`cached_model`), first match wins:
1. the course's checkpoints, shipped in attnlab/checkpoints/ (made by this code: `make checkpoints`);
2. your cache, $ATTNLAB_CACHE_DIR or ~/.cache/attnlab;
3. training it now (seconds to a minute), then storing it in your cache.
Set ATTNLAB_CHECKPOINTS=own to skip the shipped checkpoints and train every model yourself.

A file's name is a hash of everything that determines the weights: the model and training configs,
the variant's settings, and the data itself (every tensor of both splits and the vocabulary's
words), so a changed data generator or vocabulary never loads weights trained on the old data.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F

from attnlab import settings
from attnlab.models import TinyTransformer, TinyTransformerConfig, TransformerOutput, preset
from attnlab.tasks.base import TokenDataset, mask_one_word
from attnlab.tasks.multihop import MAX_LEN as MULTIHOP_MAX_LEN
from attnlab.tasks.multihop import MultihopData, make_multihop_task
from attnlab.tasks.rationale import MAX_LEN as RATIONALE_MAX_LEN
from attnlab.tasks.rationale import RationaleData, make_rationale_task
from attnlab.tasks.toy_language import MAX_LEN as TOY_MAX_LEN
from attnlab.tasks.toy_language import ToyLanguageData, agreement_table, make_toy_language, verb_numbers
from attnlab.tasks.vocab import MASK_ID, SPECIALS

CACHE_FORMAT = 3  # bump when training code changes what a config produces: old cache entries are then ignored
SHIPPED_DIR = Path(__file__).resolve().parent / "checkpoints"  # the course's trained models (package data)

ForwardFn = Callable[[TinyTransformer, torch.Tensor], TransformerOutput]
ExtraLossFn = Callable[[TransformerOutput, RationaleData], torch.Tensor]
ClassifierData = RationaleData | MultihopData  # anything with .tokens, .labels and .subset()


@dataclass(frozen=True)
class TrainConfig:
    # Defaults: the rationale classifier's recipe, near-perfect held-out accuracy on every seed tried.
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
    metrics: dict  # held-out figures, measured when it was trained (stored with the weights)
    source: str  # "shipped" (the course's checkpoint), "cache" (yours) or "trained" (just now)
    train_seconds: float | None = None  # when trained just now

    @property
    def from_cache(self) -> bool:
        """Loaded rather than trained in this call."""
        return self.source != "trained"

    def summary(self) -> str:
        acc = ", ".join(f"{k} {v:.1%}" for k, v in self.metrics.items() if k.endswith("accuracy"))
        how = {"shipped": "shipped with the course", "cache": "from your cache"}.get(self.source)
        if how is None:
            how = f"trained in {self.train_seconds:.1f} s"
        return f"{how}; held-out {acc}"


# -----------------------------------------------------------------------------
# training loops


def _default_forward(model: TinyTransformer, tokens: torch.Tensor) -> TransformerOutput:
    return model(tokens)


def fit(
    model: TinyTransformer,
    n_examples: int,
    cfg: TrainConfig,
    batch_loss: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
) -> TinyTransformer:
    """The training loop of every course model; trains `model` in place and returns it in eval mode.

    Each of cfg.steps steps draws cfg.batch_size example indices with replacement from a generator
    seeded with cfg.seed, and takes an AdamW step on batch_loss(rows (batch_size,), generator) -> loss.
    The loss gets the generator for any randomness of its own (which words to mask), so one seed
    fixes every draw.
    """
    generator = torch.Generator().manual_seed(cfg.seed)
    # foreach: one call per step for all parameters instead of a Python loop over them, with the same weights
    # to the last bit
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
    # Linear decay to 0 makes the last steps settle instead of bouncing around the optimum.
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 - step / cfg.steps)
    model.train()
    for _ in range(cfg.steps):
        rows = torch.randint(n_examples, (cfg.batch_size,), generator=generator)
        loss = batch_loss(rows, generator)
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
    return model.eval()


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

    def batch_loss(rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        batch = data.subset(rows)
        out = forward(model, batch.tokens)
        loss = F.cross_entropy(out.logits, batch.labels)
        return loss if extra_loss is None else loss + extra_loss(out, batch)

    return fit(model, len(data), cfg, batch_loss)


def mask_words(
    tokens: torch.Tensor, prob: float, generator: torch.Generator, mask_id: int = MASK_ID
) -> tuple[torch.Tensor, torch.Tensor]:
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

    def batch_loss(rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        masked, targets = mask_words(data.tokens[rows], cfg.mask_prob, generator)
        logits = model(masked).logits  # (B, T, V)
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)

    return fit(model, len(data), cfg, batch_loss)


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
    gold = data.tokens[rows, position]  # (N,)
    number = verb_numbers(data.vocab)  # (V,) 1 singular verb, 2 plural verb, 0 other
    is_verb = number[gold] > 0  # (N,)
    agrees = agreement_table(data.vocab)  # (V, V) [pronoun, noun]
    is_pronoun = agrees.any(1)[gold]  # (N,) every pronoun agrees with some noun
    antecedent = data.tokens[rows, data.antecedent[rows, position].clamp(min=0)]  # (N,) read only at pronouns
    verbs = (number[predicted] == number[gold])[is_verb]
    pronouns = agrees[predicted, antecedent][is_pronoun]
    return {
        "masked_word_accuracy": (predicted == gold).float().mean().item(),
        "verb_agreement_accuracy": int(verbs.sum()) / max(len(verbs), 1),
        "pronoun_agreement_accuracy": int(pronouns.sum()) / max(len(pronouns), 1),
    }


# -----------------------------------------------------------------------------
# cache


def data_fingerprint(*datasets: TokenDataset) -> str:
    """sha256 of the data sets as the model sees them: every tensor (name, dtype, shape, values) and
    the vocabulary's words. Any change to a generator or a vocabulary changes it."""
    digest = hashlib.sha256()
    for data in datasets:
        digest.update(json.dumps(data.vocab.words).encode())
        for f in fields(data):
            value = getattr(data, f.name)
            if isinstance(value, torch.Tensor):
                digest.update(f"{f.name} {value.dtype} {tuple(value.shape)}".encode())
                digest.update(value.contiguous().numpy().tobytes())
    return digest.hexdigest()


def checkpoint_name(name: str, key: dict) -> str:
    """The file name of a trained model: `name`, then a hash of its key and of the cache format."""
    digest = hashlib.sha256(json.dumps({**key, "format": CACHE_FORMAT}, sort_keys=True).encode()).hexdigest()[:16]
    return f"{name}-{digest}.pt"


@contextmanager
def one_thread():
    """Train on one thread: float sums then run in one order, so the same seed gives the same weights
    under any OMP_NUM_THREADS (and tiny tensors gain nothing from more threads)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _load(path: Path, model: TinyTransformer) -> dict | None:
    """The metrics stored with the weights, after loading them into `model`; None if there is no usable file."""
    try:
        saved = torch.load(path, weights_only=True)
        model.load_state_dict(saved["state_dict"])
        return json.loads(saved["metrics"])
    except FileNotFoundError:
        return None
    except Exception as error:  # a cut or corrupt file: say so, and look further
        print(f"checkpoint {path} unreadable ({type(error).__name__}); not used")
        return None


def cached_model(
    name: str,
    key: dict,
    cfg: TinyTransformerConfig,
    train: TokenDataset,
    test: TokenDataset,
    build: Callable[[TinyTransformer], dict],
) -> TrainedModel:
    """The trained model for `key`: a shipped checkpoint, else your cache, else `build(model) -> metrics`
    trains it now (on one thread, torch seeded with key["seed"]) and it is stored in your cache.
    The file holds the weights and the metrics only (no timings), so training the same model again
    writes the same bytes.

    key: the settings that determine the weights besides the data (JSON-serialisable: seeds, training
    config, variant); the model config and a fingerprint of train and test are added to it here. A
    missing or corrupt file is never a crash: the next source is tried.
    """
    file = checkpoint_name(name, {**key, "model": cfg.to_dict(), "data": data_fingerprint(train, test)})
    model = TinyTransformer(cfg)
    sources = [("shipped", SHIPPED_DIR / file)] if settings.use_shipped_checkpoints() else []
    sources += [("cache", settings.cache_dir() / file)]
    for source, path in sources:
        metrics = _load(path, model)
        if metrics is not None:
            return TrainedModel(model.eval(), train, test, metrics, source)
    torch.manual_seed(key.get("seed", 0))
    model = TinyTransformer(cfg)
    start = time.perf_counter()
    with one_thread():
        metrics = build(model)
    seconds = time.perf_counter() - start
    path = settings.cache_dir() / file
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state_dict": model.state_dict(), "metrics": json.dumps(metrics)}, tmp)
        os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the new one, never half
    except OSError as error:  # a read-only cache (the grader's sandbox): the model is trained all the same
        print(f"note: could not store {file} in {path.parent} ({error.strerror}); it will be trained again next time")
    return TrainedModel(model.eval(), train, test, metrics, "trained", seconds)


# -----------------------------------------------------------------------------
# the course's standard models


@lru_cache(maxsize=4)
def _rationale_splits(seed: int, n_train: int, n_test: int) -> tuple[RationaleData, RationaleData]:
    """Generated once per process: lesson 02 loads four models per seed trained on the same sentences
    (the tensors are shared, and nothing in the course modifies them)."""
    return make_rationale_task(n_train + n_test, seed=seed).split(n_train)


def rationale_setup(
    seed: int, size: str, n_train: int, n_test: int
) -> tuple[RationaleData, RationaleData, TinyTransformerConfig]:
    """(train split, test split, model config) of the rationale classifier and of its variants."""
    train, test = _rationale_splits(seed, n_train, n_test)
    cfg = preset(size, vocab_size=len(train.vocab), max_len=RATIONALE_MAX_LEN, head="cls", n_classes=2)
    return train, test, cfg


def rationale_model(
    seed: int = 0, size: str = "nano", n_train: int = 4000, n_test: int = 1000, train_cfg: TrainConfig | None = None
) -> TrainedModel:
    """The rationale-task classifier every attribution lesson explains."""
    train_cfg = train_cfg or TrainConfig(seed=seed)
    train, test, cfg = rationale_setup(seed, size, n_train, n_test)

    def build(model: TinyTransformer) -> dict:
        train_classifier(model, train, train_cfg)
        return {"accuracy": classifier_accuracy(model, test)}

    key = {"task": "rationale", "n": n_train + n_test, "seed": seed, "train": asdict(train_cfg)}
    return cached_model("rationale", key, cfg, train, test, build)


def toy_language_model(
    seed: int = 0, size: str = "micro", n_train: int = 4000, n_test: int = 1000, train_cfg: TrainConfig | None = None
) -> TrainedModel:
    """The masked language model of the toy language, for the probing lesson."""
    train_cfg = train_cfg or TrainConfig(seed=seed, steps=800, lr=3e-3)
    data = make_toy_language(n_train + n_test, seed=seed)
    train, test = data.split(n_train)
    cfg = preset(size, vocab_size=len(data.vocab), max_len=TOY_MAX_LEN, head="token")

    def build(model: TinyTransformer) -> dict:
        train_masked_lm(model, train, train_cfg)
        return masked_lm_accuracy(model, test)

    key = {"task": "toy_language", "n": n_train + n_test, "seed": seed, "train": asdict(train_cfg)}
    return cached_model("toy_language", key, cfg, train, test, build)


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


def multihop_model(
    seed: int = 0, n_train: int = 4000, n_test: int = 1000, train_cfg: TrainConfig | None = None
) -> TrainedModel:
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

    def build(model: TinyTransformer) -> dict:
        train_classifier(model, train, train_cfg, extra_loss=lambda out, batch: routing_penalty(out, batch.marker))
        with torch.no_grad():
            out = model.eval()(test.tokens)
        cls_rows = out.attentions[:, :, :, 0]  # (L, N, H, T)
        return {
            "accuracy": (out.logits.argmax(-1) == test.labels).float().mean().item(),
            "last_layer_marker_mass": (cls_rows[-1] * test.marker[:, None].float()).sum(-1).mean().item(),
            "early_layers_other_mass": cls_rows[:-1, :, :, 1:].sum(-1).mean().item(),
        }

    key = {"task": "multihop", "n": n_train + n_test, "seed": seed, "train": asdict(train_cfg), "penalty": "routing-v1"}
    return cached_model("multihop", key, cfg, train, test, build)
