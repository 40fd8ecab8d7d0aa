"""
Attention flow (Abnar & Zuidema, 2020): treat the layers as a flow network and ask how much "flow"
can get from an output position back to each input token.

Nodes are the T positions of every layer, inputs included: (L+1)·T nodes. The edge from position i
of layer l+1 to position j of layer l has capacity Â_l[i, j], the residual-augmented, head-fused,
row-normalised attention (as in rollout). Flow(i -> j) is the maximum flow from output node i to
input node j; each row is then normalised to sum to 1, as in the paper's code.

Unlike rollout, which multiplies the weights along every path, max-flow is limited by the narrowest
edge of each path. It costs one max-flow problem per (output position, input token); here they are
solved by scipy's Dinic algorithm on capacities scaled to integers (2^24 steps: error below 1e-6),
fast enough for the lessons' short sentences. With one or two layers the max-flow has a closed form,
used instead: every path from output i to input j is i -> k -> j, and no two paths share an edge, so
the flow is sum_k min(cap_1[i, k], cap_0[k, j]) (one layer: cap_0[i, j]), the same integer Dinic finds.
tests/ checks both against networkx's Edmonds-Karp, which the paper's code uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from attnlab.attribution.rollout import HEAD_FUSIONS, FusedHeadsAttribution, fuse_heads, normalise_rows
from attnlab.attribution.validate import check_attentions

if TYPE_CHECKING:
    from scipy.sparse import csr_array

CAPACITY_SCALE = 1 << 24  # integer capacity steps per unit of attention


def flow_capacities(attentions: torch.Tensor, head_fusion: str = "mean", residual: bool = True) -> torch.Tensor:
    """(L, B, H, T, T) -> (L, B, T, T) edge capacities: fused heads, + I, rows renormalised."""
    fused = fuse_heads(attentions, head_fusion)  # (L, B, T, T)
    if residual:
        fused = fused + torch.eye(fused.shape[-1], dtype=fused.dtype)
    return normalise_rows(fused) if residual or head_fusion != "mean" else fused


def _integer_capacities(capacities: np.ndarray) -> np.ndarray:
    """(L, T, T) capacities in [0, 1] -> int64 steps of 1 / CAPACITY_SCALE."""
    return np.round(capacities * CAPACITY_SCALE).astype(np.int64)


def _layered_graph(steps: np.ndarray) -> csr_array:
    """steps (L, T, T) integer capacities -> the (L+1)T x (L+1)T capacity matrix; node l*T + i is position i
    of layer l."""
    from scipy.sparse import csr_array  # here, not at the top: scipy.sparse takes a quarter of a second to import

    L, T, _ = steps.shape
    graph = np.zeros(((L + 1) * T, (L + 1) * T), dtype=np.int32)
    for l in range(L):
        graph[(l + 1) * T : (l + 2) * T, l * T : (l + 1) * T] = steps[l]
    return csr_array(graph)


def _dinic_flows(steps: np.ndarray, sources: list[int]) -> np.ndarray:
    """steps (L, n, n) integer capacities -> (len(sources), n) max-flow values from each source (a position
    of the last layer) to each input position, by scipy's Dinic: one problem per pair."""
    from scipy.sparse.csgraph import maximum_flow

    L, n, _ = steps.shape
    graph = _layered_graph(steps)
    return np.array(
        [[maximum_flow(graph, L * n + i, j, method="dinic").flow_value for j in range(n)] for i in sources],
        dtype=np.int64,
    )


def _shallow_flows(steps: np.ndarray, sources: list[int]) -> np.ndarray:
    """_dinic_flows for one or two layers, in closed form: the paths i -> k -> j share no edge."""
    if len(steps) == 1:
        return steps[0][sources]  # (P, n): the one edge i -> j
    return np.minimum(steps[1][sources][:, :, None], steps[0][None]).sum(1)  # (P, k, 1) vs (1, k, j) -> (P, n)


def attention_flow(
    attentions: torch.Tensor,
    head_fusion: str = "mean",
    residual: bool = True,
    positions: list[int] | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Max-flow relevance of every input token for the chosen output positions.

    attentions: (L, B, H, T, T), or (L, H, T, T) for one example; rows sum to 1.
    positions: the output positions (rows) to compute; default all. Rows not computed are 0.
    mask: (B, T) (or (T,)) bool, True on real tokens. Real tokens give padding exactly zero attention,
    so no flow from a real position ever reaches it: padding is left out of the network, which gives
    the same flows on fewer nodes (padding's own entries are 0).
    Returns (B, T, T) (or (T, T)): row i holds the flows from output position i, normalised to sum 1.
    """
    if head_fusion not in HEAD_FUSIONS:
        raise ValueError(f"head_fusion must be one of {HEAD_FUSIONS}, got {head_fusion!r}")
    single = attentions.dim() == 4
    attentions = check_attentions(attentions)  # (L, B, H, T, T)
    L, B, _, T, _ = attentions.shape
    positions = list(range(T)) if positions is None else list(positions)
    if any(not 0 <= p < T for p in positions):
        raise ValueError(f"positions must lie in 0..{T - 1}, got {positions}")
    mask = torch.ones(B, T, dtype=torch.bool) if mask is None else mask.reshape(B, T).bool()
    capacities = flow_capacities(attentions.detach().double(), head_fusion, residual).numpy()  # (L, B, T, T)
    flows = torch.zeros(B, T, T, dtype=attentions.dtype)
    for b in range(B):
        # the network's positions: the real tokens, or all when a row is asked of a padding position
        keep = mask[b].nonzero()[:, 0].tolist() if mask[b, positions].all() else list(range(T))
        steps = _integer_capacities(capacities[:, b][np.ix_(range(L), keep, keep)])  # (L, n, n)
        sources = [keep.index(i) for i in positions]  # the network's index of each output position
        solve = _shallow_flows if L <= 2 else _dinic_flows
        rows = torch.from_numpy(solve(steps, sources)).double()  # (P, n) to input keep[j]
        for i, row in zip(positions, rows):
            flows[b, i, keep] = (row / row.sum()).to(attentions.dtype)
    return flows[0] if single else flows


class AttentionFlow(FusedHeadsAttribution):
    """Attention flow from the output position `position` (default [CLS]) to every input token."""

    name = "attention flow"

    @torch.no_grad()
    def _attribute(self, tokens, target, mask, position):
        out = self.model(tokens, mask)
        flows = attention_flow(out.attentions, self.head_fusion, self.residual, positions=[position], mask=out.mask)
        return flows[:, position]  # (B, T)
