"""
Path patching (Wang et al., 2023; Goldowsky-Dill et al., 2023): how much of what a sender head writes
reaches the output *through some receiver heads'* queries, keys or values, and by no other path.

In the denoising direction, like `activation_patching`, for each sender head on the corrupted input:

1. the sender's output is taken from the clean run and every other head earlier than the receiver is
   frozen at its corrupted output, so the change travels only through the residual stream and the MLPs,
   which recompute (implementations differ here: some freeze the MLPs too, or patch only the direct
   path); what the receiver heads (all in one layer) read as their q, k or v is recorded;
2. the corrupted input runs again with only the receivers' q, k or v replaced by that record (every
   position), everything downstream free;
3. the metric's recovery, normalised as in activation patching.

    via_values = path_patching(model, clean, corrupt, metric, receivers=[(2, 0), (2, 1)], receiver_input="v")
    via_values.mean()      # (layers before 2, H): each earlier head's effect through layer 2's values
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from attnlab.patching.activation import (
    MAX_BATCH,
    cache_layers,
    check_pair,
    chunks,
    fitting_batch,
    metric_on,
    patched_logits,
)
from attnlab.patching.metrics import Metric, evaluate
from attnlab.patching.results import PatchingResult, recovery_result
from attnlab.patching.sites import Sites

RECEIVER_INPUTS = ("q", "k", "v")


def _check_receivers(model, receivers: Sequence, receiver_input: str) -> tuple[int, list[int]]:
    """(the receivers' layer, their heads); receivers is one head (layer, head) or a list of them."""
    heads = [tuple(receivers)] if receivers and isinstance(receivers[0], int) else [tuple(r) for r in receivers]
    if not heads or any(len(r) != 2 for r in heads):
        raise ValueError(f"receivers are heads, (layer, head) or a list of them, got {receivers!r}")
    layers = {int(layer) for layer, _ in heads}
    if len(layers) != 1:
        raise ValueError(f"the receivers must be heads of one layer, got layers {sorted(layers)}")
    (layer,) = layers
    if not 0 < layer < model.cfg.n_layers:
        raise ValueError(
            f"receiver layer {layer}: a receiver needs earlier heads, so its layer must be 1..{model.cfg.n_layers - 1}"
        )
    for _, head in heads:
        if not 0 <= head < model.cfg.n_heads:
            raise ValueError(f"head {head} does not exist; each layer has heads 0..{model.cfg.n_heads - 1}")
    if receiver_input not in RECEIVER_INPUTS:
        raise ValueError(f"receiver_input must be 'q', 'k' or 'v', got {receiver_input!r}")
    return layer, sorted({int(head) for _, head in heads})


@torch.no_grad()
def path_patching(
    model,
    clean: torch.Tensor,
    corrupt: torch.Tensor,
    metric: Metric,
    receivers: Sequence,
    receiver_input: str = "v",
    senders: Sites | None = None,
    max_batch: int = MAX_BATCH,
) -> PatchingResult:
    """Recovery per sender head (grid (layers, heads) of `senders`, default every head before the
    receivers' layer) through the receivers' `receiver_input` ("q", "k" or "v").

    receivers: one head, (layer, head), or a list of heads of one layer, e.g. [(2, 0), (2, 1)].
    """
    check_pair(model, clean, corrupt)
    r_layer, r_heads = _check_receivers(model, receivers, receiver_input)
    width = clean.shape[1]
    earlier = Sites.of(model, "head_out", width, layers=range(r_layer))  # every head that gets frozen
    senders = earlier if senders is None else senders
    if senders.kind != "head_out" or max(senders.layers) >= r_layer:
        raise ValueError(f"senders must be head_out sites in layers before the receivers' layer {r_layer}")
    clean_z = cache_layers(model, clean, senders)  # {layer: (N, H, T, Dh)}
    corrupt_z = cache_layers(model, corrupt, earlier)
    receiver_hook = f"blocks.{r_layer}.attn.hook_{receiver_input}"
    N = clean.shape[0]
    values = []
    for chunk in chunks(senders, N, fitting_batch(model, clean.shape[1], max_batch)):
        S = len(chunk)
        received = {}

        def freeze(x: torch.Tensor, hook, layer: int) -> torch.Tensor:
            return corrupt_z[layer].repeat(S, 1, 1, 1)  # (S * N, H, T, Dh): no head reacts to the sender

        def record(x: torch.Tensor, hook) -> None:
            received["x"] = x.view(S, N, *x.shape[1:])[:, :, r_heads]  # (S, N, receivers, T, Dh)

        frozen = [(earlier.hook_name(l), lambda x, hook, l=l: freeze(x, hook, l)) for l in earlier.layers]
        patched_logits(model, corrupt, senders, chunk, clean_z, frozen + [(receiver_hook, record)])

        def replace(x: torch.Tensor, hook) -> torch.Tensor:
            x = x.view(S, N, *x.shape[1:]).clone()  # (S, N, H, T, Dh)
            x[:, :, r_heads] = received["x"]
            return x.flatten(0, 1)

        with model.hooks([(receiver_hook, replace)]):
            logits = model(corrupt.repeat(S, 1)).logits  # (S * N, C)
        values += [evaluate(metric, part) for part in logits.view(S, N, -1)]
    patched = torch.stack(values).view(*senders.shape, N)
    names = ", ".join(f"{r_layer}.{h}" for h in r_heads)
    return recovery_result(
        senders,
        patched,
        metric_on(model, clean, metric),
        metric_on(model, corrupt, metric),
        name=f"recovery through {receiver_input} of head{'s' if len(r_heads) > 1 else ''} {names}",
    )
