"""
Attribution patching (Nanda, 2023; Syed et al., 2023): activation patching's first-order estimate,
for every site at once from one forward and one backward pass of the corrupted run.

Patching site s from the clean run changes its activation by a_clean - a_corrupt. If the metric were
linear in that activation, the change of the metric would be

    m_patched - m_corrupt  ~  sum over the site's entries of (a_clean - a_corrupt) * dm/da |corrupt

with the gradient taken on the corrupted run. The estimate is exact for a linear model; on a real one
it fails where the patch moves the activation far through something curved (a softmax that saturates,
a LayerNorm; Kramar et al., 2024). The result has the same shape and the same normalisation as
`activation_patching`, so the two can be compared site by site.
"""

from __future__ import annotations

import torch

from attnlab.patching.activation import as_sites, cache_layers, check_pair, metric_on
from attnlab.patching.metrics import Metric, evaluate
from attnlab.patching.results import PatchingResult, recovery_result
from attnlab.patching.sites import Sites


def _per_site(product: torch.Tensor, sites: Sites) -> torch.Tensor:
    """Sum delta * grad (N, ...) over everything one site covers -> (N, [H,] [T,]) on the grid's axes."""
    if sites.kind == "head_out":
        return product.sum((-2, -1))  # (N, H, T, Dh) -> (N, H): a head covers every position
    return product.sum(-1)  # (N, T, D) -> (N, T); (N, H, T, Dh) -> (N, H, T)


def attribution_patching(
    model, clean: torch.Tensor, corrupt: torch.Tensor, metric: Metric, sites: Sites | str = "resid_pre"
) -> PatchingResult:
    """The linear estimate of `activation_patching(model, clean, corrupt, metric, sites)`, same shapes."""
    check_pair(model, clean, corrupt)
    sites = as_sites(model, sites, clean.shape[1])
    clean_acts = cache_layers(model, clean, sites)
    names = [sites.hook_name(l) for l in sites.layers]
    with torch.enable_grad():
        out, cache = model.run_with_cache(corrupt, names=names)
        corrupt_metric = evaluate(metric, out.logits)  # (N,)
        # Pairs are independent, so the gradient of the sum is each pair's own gradient.
        grads = torch.autograd.grad(corrupt_metric.sum(), [cache[n] for n in names])
    estimate = []
    for layer, name, grad in zip(sites.layers, names, grads):
        delta = clean_acts[layer] - cache[name].detach()  # (N, ...)
        per_site = _per_site(delta * grad, sites)  # (N, [H,] [T])
        if sites.heads:
            per_site = per_site[:, list(sites.heads)]
        if sites.positions:
            per_site = per_site[..., list(sites.positions)]
        estimate.append(per_site.movedim(0, -1))  # (*grid without the layer, N)
    patched = corrupt_metric.detach() + torch.stack(estimate)  # (*grid, N)
    return recovery_result(
        sites,
        patched,
        metric_on(model, clean, metric),
        corrupt_metric.detach(),
        name="recovery, attribution patching estimate",
    )
