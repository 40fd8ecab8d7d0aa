"""
Ablation: replace one site at a time in a normal run and measure what the model loses. What the site
is replaced *with* is a choice, and it changes the answer (Heimersheim & Nanda, 2024; Zhang & Nanda, 2024):

- "zero":     the activation is set to 0. Simple, but 0 may be a value the model never produces there,
              so the effect mixes "this information is missing" with "this input is off-distribution";
- "mean":     its mean over reference inputs, position by position (Wang et al., 2023): removes what
              varies between inputs and keeps what every input has;
- "resample": the activation of another, randomly drawn reference input (Chan et al., 2022, causal
              scrubbing): a value the model really produces, but one that carries that input's content.

    drop = ablation(model, tokens, logit_difference(labels, 1 - labels), "head_out", method="mean")
    drop.mean()      # (L, H): the mean change of the metric per head (negative: the head was needed)
"""

from __future__ import annotations

import torch

from attnlab.patching.activation import MAX_BATCH, as_sites, cache_layers, metric_on, run_patched
from attnlab.patching.metrics import Metric
from attnlab.patching.results import AblationResult
from attnlab.patching.sites import Sites

METHODS = ("zero", "mean", "resample")


def ablation_sources(
    model, tokens: torch.Tensor, sites: Sites, method: str, reference: torch.Tensor | None = None, seed: int = 0
) -> dict[int, torch.Tensor]:
    """{layer: what each site is replaced with}: (1, ...) for zero and mean, (N, ...) for resample."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    reference = tokens if reference is None else reference
    if reference.shape[1] != tokens.shape[1]:
        raise ValueError(
            f"reference inputs have {reference.shape[1]} positions, the inputs {tokens.shape[1]}: "
            "ablation replaces position t by position t"
        )
    activations = cache_layers(model, reference, sites)  # {layer: (R, ...)}
    if method == "zero":
        return {l: torch.zeros_like(a[:1]) for l, a in activations.items()}
    if method == "mean":
        return {l: a.mean(0, keepdim=True) for l, a in activations.items()}
    generator = torch.Generator().manual_seed(seed)
    drawn = torch.randint(len(reference), (len(tokens),), generator=generator)  # (N,) a reference input each
    return {l: a[drawn] for l, a in activations.items()}


def ablation(
    model,
    tokens: torch.Tensor,
    metric: Metric,
    sites: Sites | str = "head_out",
    method: str = "zero",
    reference: torch.Tensor | None = None,
    seed: int = 0,
    max_batch: int = MAX_BATCH,
) -> AblationResult:
    """Ablate each site in turn; per_pair (*grid, N) is the metric with the site ablated minus without.

    reference: (R, T) inputs whose activations define "mean" and "resample" (default: `tokens` itself).
    seed: which reference input each example draws for "resample".
    """
    model.validate_tokens(tokens)
    sites = as_sites(model, sites, tokens.shape[1])
    sources = ablation_sources(model, tokens, sites, method, reference, seed)
    ablated = run_patched(model, tokens, sites, sources, metric, max_batch)
    original = metric_on(model, tokens, metric)
    return AblationResult(
        sites=sites,
        per_pair=ablated - original,
        name=f"change of the metric ({method} ablation)",
        ablated=ablated,
        original=original,
        method=method,
    )
