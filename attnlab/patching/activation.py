"""
Activation patching: run the corrupted input with one site at a time taken from the clean run, and
measure how much of the clean behaviour comes back (Vig et al., 2020; Meng et al., 2022, "causal
tracing"; Wang et al., 2023). Heimersheim & Nanda (2024) call this direction *denoising*: a site that
recovers the clean behaviour on its own is sufficient to carry the information that differs.

    result = activation_patching(model, clean, corrupt, logit_difference(y_clean, y_corrupt), "resid_pre")
    result.mean()        # (L, T) mean recovery per (layer, position)
    patch_together(model, clean, corrupt, metric, layer=1, positions=[0, 5])  # (N,) two positions at once

Every site is patched in its own copy of the batch, and the copies run together, `max_batch`
sequences per forward pass. On a model this small the arithmetic dominates, so batching saves the
per-pass overhead only when there are few pairs (benchmarks/bench_patching.py measures both). The
engine, `run_patched`, takes any source of activations, so ablation and path patching use it too.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from attnlab.models import n_outputs
from attnlab.patching.metrics import Metric, evaluate
from attnlab.patching.results import PatchingResult, recovery, recovery_result
from attnlab.patching.sites import Sites

MAX_BATCH = 2048  # sequences per forward pass: sites x pairs are split into chunks of this size
# Logits per forward pass, in floats (256 MB). A course model's are a few per sequence, far below it; a token
# head over GPT-2's 50k vocabulary gives 800k for 16 tokens, and 2048 such sequences would need 6.6 GB.
LOGITS_BUDGET = 2**26


def check_pair(model, clean: torch.Tensor, corrupt: torch.Tensor) -> None:
    """Clean and corrupted inputs must be token batches of the same shape, with padding in the same places."""
    model.validate_tokens(clean)
    model.validate_tokens(corrupt)
    if clean.shape != corrupt.shape:
        raise ValueError(
            f"clean {tuple(clean.shape)} and corrupt {tuple(corrupt.shape)} must have the same shape: "
            "patching copies position t of one run into position t of the other"
        )
    pad = model.cfg.pad_id
    if not torch.equal(clean == pad, corrupt == pad):
        raise ValueError(
            "clean and corrupt must have padding in the same places (pairs of the same length), "
            "or a patched position would hold a word in one run and padding in the other"
        )


def as_sites(model, sites: Sites | str, width: int) -> Sites:
    """A kind name ("resid_pre") means every site of that kind."""
    return Sites.of(model, sites, width) if isinstance(sites, str) else sites


@torch.no_grad()
def cache_layers(model, tokens: torch.Tensor, sites: Sites) -> dict[int, torch.Tensor]:
    """{layer: activation (N, ...)} at the sites' hook point of every layer of the grid."""
    _, cache = model.run_with_cache(tokens, names=[sites.hook_name(l) for l in sites.layers])
    return {l: cache[sites.hook_name(l)] for l in sites.layers}


@torch.no_grad()
def metric_on(model, tokens: torch.Tensor, metric: Metric) -> torch.Tensor:
    """(N,) the metric of an unpatched run."""
    return evaluate(metric, model(tokens).logits)


def fitting_batch(model, width: int, max_batch: int = MAX_BATCH) -> int:
    """max_batch, lowered so that one forward pass's logits stay within LOGITS_BUDGET for `width` tokens.
    A wrapped model whose backend computes logits at every position before reading one (from_tl with
    head="cls": TransformerLens always unembeds every position) says so with `logits_at_every_position`."""
    every_position = model.cfg.head == "token" or getattr(model, "logits_at_every_position", False)
    per_sequence = width * n_outputs(model) if every_position else model.cfg.n_classes
    return max(1, min(max_batch, LOGITS_BUDGET // per_sequence))


def chunks(sites: Sites, n_pairs: int, max_batch: int = MAX_BATCH) -> list[list[tuple[int, ...]]]:
    """The grid's sites in groups small enough that a group's copies of the batch fit one forward pass."""
    chosen = list(sites)
    per_chunk = max(1, max_batch // n_pairs)
    return [chosen[start : start + per_chunk] for start in range(0, len(chosen), per_chunk)]


def patched_logits(
    model,
    tokens: torch.Tensor,
    sites: Sites,
    chunk: list[tuple[int, ...]],
    sources: dict[int, torch.Tensor],
    extra_hooks: list = (),
) -> torch.Tensor:
    """One forward pass of len(chunk) copies of `tokens` (N, T), copy s with site chunk[s] taken from
    sources; returns the logits (S * N, C). extra_hooks run before the patch at the same hook points."""
    N = tokens.shape[0]
    masks = sites.masks(sources[chunk[0][0]].shape, chunk)  # {layer: (S, 1, ..., 1)}

    def patch(x: torch.Tensor, layer: int) -> torch.Tensor:
        x = x.view(len(chunk), N, *x.shape[1:])  # (S, N, ...): copy s patches site s
        return torch.where(masks[layer], sources[layer], x).flatten(0, 1)

    patches = [(sites.hook_name(l), lambda x, hook, l=l: patch(x, l)) for l in masks]
    with model.hooks(list(extra_hooks) + patches):
        return model(tokens.repeat(len(chunk), 1)).logits


@torch.no_grad()
def run_patched(
    model,
    tokens: torch.Tensor,
    sites: Sites,
    sources: dict[int, torch.Tensor],
    metric: Metric,
    max_batch: int = MAX_BATCH,
) -> torch.Tensor:
    """Run `tokens` (N, T) once per site with that site replaced from sources[layer]; returns (*grid, N).

    sources[layer]: (N, ...) one activation per example, or (1, ...) the same for every example
    (a mean, zeros), shaped like the hook point's activation.
    """
    N = tokens.shape[0]
    values = []
    for chunk in chunks(sites, N, fitting_batch(model, tokens.shape[1], max_batch)):
        logits = patched_logits(model, tokens, sites, chunk, sources)  # (S * N, C)
        values += [evaluate(metric, part) for part in logits.view(len(chunk), N, -1)]
    return torch.stack(values).view(*sites.shape, N)


def activation_patching(
    model,
    clean: torch.Tensor,
    corrupt: torch.Tensor,
    metric: Metric,
    sites: Sites | str = "resid_pre",
    max_batch: int = MAX_BATCH,
) -> PatchingResult:
    """Patch each site from the clean run into the corrupted run; the recovery of the metric per site and pair.

    Args:
        model: a TinyTransformer (anything with its hook point names).
        clean, corrupt: (N, T) token ids of the pairs, same shape, padding in the same places.
        metric: logits (N, C) -> (N,), e.g. `logit_difference(y_clean, y_corrupt)`.
        sites: a `Sites` grid or a kind name ("resid_pre", "attn_out", "mlp_out", "head_out", "q", "k",
            "v") for every site of that kind.

    Returns:
        PatchingResult: per_pair (*grid, N) recovery, 0 = as corrupted, 1 = as clean; .mean() the grid.
    """
    check_pair(model, clean, corrupt)
    sites = as_sites(model, sites, clean.shape[1])
    patched = run_patched(model, corrupt, sites, cache_layers(model, clean, sites), metric, max_batch)
    return recovery_result(sites, patched, metric_on(model, clean, metric), metric_on(model, corrupt, metric))


@torch.no_grad()
def patch_together(
    model, clean: torch.Tensor, corrupt: torch.Tensor, metric: Metric, layer: int, positions: Sequence[int]
) -> torch.Tensor:
    """Recovery per pair (N,) when the residual stream entering `layer` is taken from the clean run at
    every one of `positions` at once. activation_patching patches one site at a time: where the clean
    behaviour needs several positions together, each alone restores nothing and only this shows the
    route (with clean and corrupt swapped, the same holds for copies that are each enough alone)."""
    check_pair(model, clean, corrupt)
    sites = Sites.of(model, "resid_pre", clean.shape[1], layers=[layer], positions=positions)  # checks both
    index = torch.tensor(sites.positions)
    source = cache_layers(model, clean, sites)[sites.layers[0]]  # (N, T, D)

    def patch(resid: torch.Tensor, hook) -> torch.Tensor:
        return resid.index_copy(1, index, source.index_select(1, index))  # (N, T, D), a patched copy

    with model.hooks([(sites.hook_name(sites.layers[0]), patch)]):
        patched = metric_on(model, corrupt, metric)
    return recovery(patched, metric_on(model, clean, metric), metric_on(model, corrupt, metric))
