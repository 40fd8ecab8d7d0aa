"""
Metrics for patching: a function of the model's logits (N, C) that returns one number per pair (N,).

The logit difference is the usual choice (Wang et al., 2023; Zhang & Nanda, 2024): it is linear in
the last residual stream up to the final LayerNorm, and it does not saturate the way a probability
does, so a site that recovers half of the logit difference reads as 0.5 however confident the
model is. `probability` is there to show what the choice of metric changes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Metric = Callable[[torch.Tensor], torch.Tensor]  # logits (N, C) -> (N,)


def _rows(labels: torch.Tensor) -> torch.Tensor:
    return torch.arange(len(labels))


def logit_difference(correct: torch.Tensor, incorrect: torch.Tensor) -> Metric:
    """logit[correct] - logit[incorrect] per pair; correct, incorrect: (N,) class indices.

    For clean/corrupt pairs: correct = the clean input's label, incorrect = the corrupted input's.
    """
    if correct.shape != incorrect.shape or correct.dim() != 1:
        raise ValueError(
            f"correct and incorrect must be (N,) label tensors, got {tuple(correct.shape)} and {tuple(incorrect.shape)}"
        )

    def metric(logits: torch.Tensor) -> torch.Tensor:
        rows = _rows(correct)
        return logits[rows, correct] - logits[rows, incorrect]

    return metric


def probability(label: torch.Tensor) -> Metric:
    """p(label) per pair, from the softmax of the logits; label: (N,) class indices."""

    def metric(logits: torch.Tensor) -> torch.Tensor:
        return logits.softmax(-1)[_rows(label), label]

    return metric


def evaluate(metric: Metric, logits: torch.Tensor) -> torch.Tensor:
    """metric(logits), checked: one finite number per pair."""
    value = metric(logits)
    if not isinstance(value, torch.Tensor) or tuple(value.shape) != (logits.shape[0],):
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise ValueError(f"the metric must return one value per pair, shape ({logits.shape[0]},), got {shape}")
    return value
