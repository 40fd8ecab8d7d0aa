"""
Deterministic training of the course's mini-models, and their evaluation.

- `train_classifier`: [CLS] classification (the rationale task), optionally with an extra loss term
  or a custom forward pass (the zoo's deceptive and uniform-attention recipes use both).
- `train_masked_lm`: masked language modelling (the toy language for the probing lesson).
  Both run the one training loop, `fit`, on one thread (`one_thread`) when the zoo trains a model.
- `classifier_accuracy`: held-out accuracy of a classifier (masked_lm_accuracy lives with the toy
  language, attnlab.tasks.toy_language).

The course's models themselves, their recipes and the checkpoint cache are the model zoo (attnlab.zoo).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from attnlab.models import TinyTransformer, TransformerOutput
from attnlab.tasks.multihop import MultihopData
from attnlab.tasks.rationale import RationaleData
from attnlab.tasks.toy_language import ToyLanguageData
from attnlab.tasks.vocab import MASK_ID, SPECIALS

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


# -----------------------------------------------------------------------------
# threads


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


# -----------------------------------------------------------------------------
# the recipes' old address

# A lesson a student copied into work/ before the model zoo existed imports the recipes from here, and
# `make lab` never replaces such a copy (it holds the student's answers): these names still resolve.
# Lazily: this module never imports the zoo, which imports it.
_MOVED_TO_THE_ZOO = {"rationale_model", "toy_language_model", "multihop_model", "TrainedModel", "cached_model"}


def __getattr__(name: str):
    if name in _MOVED_TO_THE_ZOO:
        import attnlab.zoo

        return getattr(attnlab.zoo, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
