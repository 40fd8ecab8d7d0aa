"""
Where to patch: a kind of activation (one hook point per layer) and the grid of sites inside it.

    kind       hook point                          activation      one site                  grid
    resid_pre  blocks.{l}.hook_resid_pre           (B, T, D)       (layer, position)         (L, T)
    attn_out   blocks.{l}.hook_attn_out            (B, T, D)       (layer, position)         (L, T)
    mlp_out    blocks.{l}.hook_mlp_out             (B, T, D)       (layer, position)         (L, T)
    head_out   blocks.{l}.attn.hook_z              (B, H, T, Dh)   (layer, head), every pos. (L, H)
    q, k, v    blocks.{l}.attn.hook_q / _k / _v    (B, H, T, Dh)   (layer, head, position)   (L, H, T)

`head_out` is a head's output before the output projection (z = pattern @ v): patching it replaces
what that one head writes into the residual stream, at every position.

    grid = Sites.of(model, "resid_pre", width=16)              # every (layer, position)
    grid = Sites.of(model, "v", width=16, layers=[1], heads=[0])   # one head's values, each position
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "resid_pre": ("blocks.{layer}.hook_resid_pre", ("layer", "position")),
    "attn_out": ("blocks.{layer}.hook_attn_out", ("layer", "position")),
    "mlp_out": ("blocks.{layer}.hook_mlp_out", ("layer", "position")),
    "head_out": ("blocks.{layer}.attn.hook_z", ("layer", "head")),
    "q": ("blocks.{layer}.attn.hook_q", ("layer", "head", "position")),
    "k": ("blocks.{layer}.attn.hook_k", ("layer", "head", "position")),
    "v": ("blocks.{layer}.attn.hook_v", ("layer", "head", "position")),
}
PER_HEAD = ("head_out", "q", "k", "v")  # activations shaped (B, H, T, Dh)


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown kind of site {kind!r}; choose one of {', '.join(KINDS)}")


def _chosen(values: Sequence[int] | None, n: int, what: str) -> tuple[int, ...]:
    chosen = tuple(range(n)) if values is None else tuple(int(v) for v in values)
    for v in chosen:
        if not 0 <= v < n:
            raise ValueError(f"{what} {v} does not exist; there are {what}s 0..{n - 1}")
    if len(set(chosen)) != len(chosen) or not chosen:
        raise ValueError(f"give each {what} once, and at least one: got {list(chosen)}")
    return chosen


@dataclass(frozen=True)
class Sites:
    """A grid of sites of one kind: every combination of the chosen layers (and heads, and positions)."""

    kind: str
    layers: tuple[int, ...]
    heads: tuple[int, ...] = ()  # empty for the kinds without a head axis
    positions: tuple[int, ...] = ()  # empty for head_out (a head is patched at every position)

    @classmethod
    def of(
        cls,
        model,
        kind: str,
        width: int,
        layers: Sequence[int] | None = None,
        heads: Sequence[int] | None = None,
        positions: Sequence[int] | None = None,
    ) -> Sites:
        """The sites of `kind` in `model` for inputs `width` tokens long; None means all of an axis."""
        check_kind(kind)
        dims = KINDS[kind][1]
        if heads is not None and "head" not in dims:
            raise ValueError(f"sites of kind {kind!r} have no head axis; leave heads=None")
        if positions is not None and "position" not in dims:
            raise ValueError(f"sites of kind {kind!r} cover every position; leave positions=None")
        return cls(
            kind=kind,
            layers=tuple(model.cfg.layer_indices(layers)),
            heads=_chosen(heads, model.cfg.n_heads, "head") if "head" in dims else (),
            positions=_chosen(positions, width, "position") if "position" in dims else (),
        )

    @property
    def dims(self) -> tuple[str, ...]:
        """The grid's axes in order, e.g. ("layer", "position")."""
        return KINDS[self.kind][1]

    def axis(self, dim: str) -> tuple[int, ...]:
        return {"layer": self.layers, "head": self.heads, "position": self.positions}[dim]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(self.axis(d)) for d in self.dims)

    def __iter__(self):
        """Every site as a tuple in the order of `dims`, row-major (the grid's flattened order)."""
        return iter(itertools.product(*(self.axis(d) for d in self.dims)))

    def __len__(self) -> int:
        return math.prod(self.shape)

    def hook_name(self, layer: int) -> str:
        return KINDS[self.kind][0].format(layer=layer)

    def grid_index(self, site: Sequence[int]) -> tuple[int, ...]:
        """Where a site (layer, position...) sits in the grid, e.g. for layers (1, 2): layer 2 -> index 1."""
        if len(site) != len(self.dims):
            raise ValueError(f"a site of kind {self.kind!r} is ({', '.join(self.dims)}), got {tuple(site)}")
        index = []
        for d, value in zip(self.dims, site):
            if value not in self.axis(d):
                raise ValueError(f"{d} {value} is not among the patched {d}s {list(self.axis(d))}")
            index.append(self.axis(d).index(value))
        return tuple(index)

    def selector(self, site: Sequence[int]) -> tuple[int, ...]:
        """The index of a site into one example's activation (no batch axis), without the layer.

        resid kinds (T, D): (position,); head_out (H, T, Dh): (head,); q, k, v (H, T, Dh): (head, position).
        """
        return tuple(site[1:])

    def masks(self, activation_shape: torch.Size, chosen: Sequence[tuple[int, ...]]) -> dict[int, torch.Tensor]:
        """For each layer of `chosen` (sites of this grid): a bool mask (S, 1, *activation_shape[1:-1], 1),
        True where the s-th chosen site takes its source. A site touches only its own layer's hook point."""
        shape = (len(chosen), 1, *activation_shape[1:-1], 1)
        masks: dict[int, torch.Tensor] = {}
        for s, site in enumerate(chosen):
            mask = masks.setdefault(site[0], torch.zeros(shape, dtype=torch.bool))
            mask[(s, 0) + self.selector(site)] = True
        return masks
