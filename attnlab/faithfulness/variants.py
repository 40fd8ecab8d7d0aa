"""
Two re-trained versions of the course's rationale classifier, shipped and cached like the standard
model (`attnlab.train.cached_model`: same arguments, same weights, trained once):

- uniform_attention_model: the same architecture trained *and evaluated* with the attention of
  chosen layers frozen to uniform over the real tokens (Wiegreffe & Pinter 2019's baseline). If it
  does as well as the learned model, the learned attention weights were not needed for the task.
- deceptive_model: trained with Pruthi et al. (2020)'s penalty on the attention mass that the last
  layer's [CLS] row puts on the gold rationale tokens,

      loss = CE - lambda * mean_{batch, heads} log(1 - m_h),   m_h = sum_{j in rationale} A^(L)_h[0, j]

  ("mean" variant of their BERT code). The model can still use the rationale (earlier layers can
  move it elsewhere); only the attention we would read as the explanation is pushed away from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass

import torch

from attnlab.interventions import replace_attention
from attnlab.models import TinyTransformer, TransformerOutput
from attnlab.tasks.rationale import RationaleData
from attnlab.train import (
    TrainConfig,
    TrainedModel,
    cached_model,
    classifier_accuracy,
    rationale_setup,
    train_classifier,
)


def rationale_attention_mass(
    attentions: torch.Tensor, rationale: torch.Tensor, layer: int = -1, position: int = 0
) -> torch.Tensor:
    """(B, H): weight that each head's `position` row in `layer` puts on rationale tokens.

    attentions: (L, B, H, T, T) or a tuple of L (B, H, T, T) tensors; rationale: (B, T) bool.
    """
    pattern = attentions[layer]  # (B, H, T, T)
    if rationale.shape != (pattern.shape[0], pattern.shape[-1]):
        raise ValueError(
            f"rationale has shape {tuple(rationale.shape)}, expected {(pattern.shape[0], pattern.shape[-1])}"
        )
    return (pattern[:, :, position] * rationale[:, None, :].float()).sum(-1)


@torch.no_grad()
def attention_mass_report(model: TinyTransformer, data: RationaleData, layer: int = -1) -> dict[str, float]:
    """Held-out accuracy and the last layer's [CLS] attention mass on the rationale (mean and max head)."""
    out = model(data.tokens)
    mass = rationale_attention_mass(out.attentions, data.rationale, layer)  # (N, H)
    return {
        "accuracy": (out.logits.argmax(-1) == data.labels).float().mean().item(),
        "mean_head_mass": mass.mean().item(),
        "max_head_mass": mass.max(1).values.mean().item(),
    }


# -----------------------------------------------------------------------------
# uniform attention (Wiegreffe & Pinter 2019)


@dataclass
class UniformAttentionModel:
    """A model that only makes sense with some layers' attention frozen to uniform: use `frozen()`."""

    trained: TrainedModel
    layers: tuple[int, ...]

    @property
    def model(self) -> TinyTransformer:
        return self.trained.model

    def frozen(self) -> AbstractContextManager:
        """with uniform.frozen(): out = uniform.model(tokens)  # the attention it was trained with."""
        return replace_attention(self.trained.model, "uniform", layers=self.layers)

    def __call__(self, tokens: torch.Tensor) -> TransformerOutput:
        with self.frozen():
            return self.trained.model(tokens)


def uniform_attention_model(
    seed: int = 0,
    layers: Sequence[int] | None = None,
    size: str = "nano",
    n_train: int = 4000,
    n_test: int = 1000,
    train_cfg: TrainConfig | None = None,
) -> UniformAttentionModel:
    """The rationale classifier trained and evaluated with uniform attention in `layers` (default: all)."""
    train_cfg = train_cfg or TrainConfig(seed=seed)
    train, test, cfg = rationale_setup(seed, size, n_train, n_test)
    chosen = tuple(cfg.layer_indices(layers))
    if not chosen:
        raise ValueError(f"layers must name at least one of the {cfg.n_layers} layers, got {layers}")

    def uniform_forward(model: TinyTransformer, tokens: torch.Tensor) -> TransformerOutput:
        with replace_attention(model, "uniform", layers=chosen):
            return model(tokens)

    def build(model: TinyTransformer) -> dict:
        train_classifier(model, train, train_cfg, forward=uniform_forward)
        return {"accuracy": classifier_accuracy(model, test, uniform_forward)}

    key = {"task": "rationale", "variant": "uniform_attention", "layers": list(chosen),
           "n": n_train + n_test, "seed": seed, "train": asdict(train_cfg)}  # fmt: skip
    return UniformAttentionModel(cached_model("rationale-uniform", key, cfg, train, test, build), chosen)


# -----------------------------------------------------------------------------
# deceptive attention (Pruthi et al. 2020)


def deception_penalty(out: TransformerOutput, rationale: torch.Tensor, lam: float, layer: int = -1) -> torch.Tensor:
    """-lam * mean over batch and heads of log(1 - mass on the rationale) of the [CLS] row in `layer`."""
    mass = rationale_attention_mass(out.attention_list, rationale, layer)  # (B, H)
    return -lam * (1.0 - mass).clamp(min=1e-6).log().mean()


def deceptive_model(
    seed: int = 0,
    lam: float = 1.0,
    size: str = "nano",
    n_train: int = 4000,
    n_test: int = 1000,
    train_cfg: TrainConfig | None = None,
) -> TrainedModel:
    """The rationale classifier trained from scratch with the deception penalty on its last layer.

    metrics: held-out accuracy, mean_head_mass and max_head_mass (see attention_mass_report).
    """
    if lam < 0:
        raise ValueError(f"lam must be >= 0, got {lam}")
    train_cfg = train_cfg or TrainConfig(seed=seed)
    train, test, cfg = rationale_setup(seed, size, n_train, n_test)

    def build(model: TinyTransformer) -> dict:
        train_classifier(
            model, train, train_cfg, extra_loss=lambda out, batch: deception_penalty(out, batch.rationale, lam)
        )
        return attention_mass_report(model.eval(), test)

    key = {"task": "rationale", "variant": "deceptive", "lambda": lam, "layer": -1,
           "n": n_train + n_test, "seed": seed, "train": asdict(train_cfg)}  # fmt: skip
    return cached_model("rationale-deceptive", key, cfg, train, test, build)
