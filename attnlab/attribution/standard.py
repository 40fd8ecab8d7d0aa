"""
The course's list of attribution methods, in one place so that lesson 02 (faithfulness) and lesson 03
(plausibility) compare the same list, and running them all on one batch.

- standard_methods(model): name -> Attribution, every method with its default options, cheapest first.
- attribute_all(methods, tokens, target): name -> (B, T) scores, with seconds and convergence deltas.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from attnlab.attribution.base import Attribution, resolve_target
from attnlab.attribution.flow import AttentionFlow
from attnlab.attribution.grad_attention import AttentionGradCAM, GradWeightedRollout
from attnlab.attribution.gradients import GradientXInput, IntegratedGradients
from attnlab.attribution.lrp import LRP
from attnlab.attribution.perturbation import LeaveOneOut, RandomBaseline
from attnlab.attribution.raw import RawAttention
from attnlab.attribution.rollout import Rollout
from attnlab.models import TinyTransformer


def standard_methods(model: TinyTransformer, seed: int = 0, ig_steps: int = 32) -> dict[str, Attribution]:
    """Every method of the course with its default options, cheapest first."""
    return {
        "random": RandomBaseline(model, seed=seed),
        "raw attention (last layer)": RawAttention(model, layer=-1),
        "raw attention (mean of layers)": RawAttention(model, layer="mean"),
        "rollout": Rollout(model),
        "attention flow": AttentionFlow(model),
        "attention Grad-CAM": AttentionGradCAM(model),
        "grad-weighted rollout": GradWeightedRollout(model),
        "AttnLRP": LRP(model, rule="attnlrp"),
        "CP-LRP": LRP(model, rule="cp"),
        "gradient x input": GradientXInput(model),
        "gradient x input, LN detached": GradientXInput(model, ln_scale="detached"),
        "integrated gradients": IntegratedGradients(model, n_steps=ig_steps),
        "leave-one-out": LeaveOneOut(model),
    }


@dataclass
class Attributions:
    scores: torch.Tensor  # (B, T)
    seconds: float
    delta: torch.Tensor | None  # (B,) for methods with a convergence delta


def attribute_all(
    methods: dict[str, Attribution], tokens: torch.Tensor, target: int | torch.Tensor | None = None, position: int = 0
) -> dict[str, Attributions]:
    """Run every method on the same batch and target. name -> Attributions."""
    results = {}
    predicted = {}  # id(model) -> (B,) its predicted class: one forward pass per model, not one per method
    for name, method in methods.items():
        model = method.model
        if target is None and id(model) not in predicted:
            predicted[id(model)] = resolve_target(model, tokens, tokens != model.cfg.pad_id, None, position)
        explained = predicted[id(model)] if target is None else target
        start = time.perf_counter()
        if method.has_convergence_delta:
            scores, delta = method.attribute(tokens, target=explained, position=position, return_convergence_delta=True)
        else:
            scores, delta = method.attribute(tokens, target=explained, position=position), None
        results[name] = Attributions(scores.detach(), time.perf_counter() - start, delta)
    return results
