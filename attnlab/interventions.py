"""
Interventions: change what the model attends to, or what it sees, and watch the output.

Each model intervention is a context manager built on the model's hook points, so the model is
restored when the `with` block ends:

    with replace_attention(model, "uniform", layers=[1]):
        out = model(tokens)            # layer 1 attends uniformly to every real token

- replace_attention: uniform, permuted or given attention weights for chosen layers and heads.
- mask_heads: silence chosen heads (their output z is set to 0).
- block_keys: hide chosen key positions from attention and renormalise the rows (Serrano & Smith 2019).
- erase_tokens: a pure function on token ids: delete tokens, or replace them by [PAD] or [MASK].
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch

from attnlab.hooks import HookPoint
from attnlab.models import TinyTransformer, require_writable_pattern
from attnlab.tasks.vocab import MASK_ID, PAD_ID


def _permute_rows(pattern: torch.Tensor, allowed: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Shuffle each row's weights among its allowed keys. pattern, allowed: (B, H, T, T)."""
    # Random keys; disallowed keys sort last, so argsort of the keys gives a permutation of allowed slots.
    noise = torch.rand(pattern.shape, generator=generator).masked_fill(~allowed, 2.0)  # (B, H, T, T)
    order = noise.argsort(dim=-1)  # a random order of the allowed keys first, then the rest
    slots = allowed.float().argsort(dim=-1, descending=True, stable=True)  # allowed keys in order, then the rest
    permuted = torch.zeros_like(pattern)
    permuted.scatter_(-1, slots, pattern.gather(-1, order))
    return permuted


@contextmanager
def replace_attention(
    model: TinyTransformer,
    mode: str,
    layers: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
    attention: torch.Tensor | None = None,
    seed: int = 0,
) -> Iterator[None]:
    """Replace the attention weights of the chosen layers and heads (default: all).

    mode:
      "uniform": every real key gets the same weight (Wiegreffe & Pinter 2019's baseline);
      "permute": each row's weights are shuffled among the real keys (Jain & Wallace 2019), seeded;
      "given":   `attention` is used, broadcastable to (B, H, T, T), e.g. (T, T) for every head.
    """
    if mode not in ("uniform", "permute", "given"):
        raise ValueError(f"mode must be 'uniform', 'permute' or 'given', got {mode!r}")
    if (mode == "given") != (attention is not None):
        raise ValueError("pass attention=... exactly when mode='given'")
    require_writable_pattern(model, "replace_attention")
    chosen_heads = model.cfg.head_indices(heads)
    generator = torch.Generator().manual_seed(seed)
    allowed_by_layer: dict[str, torch.Tensor] = {}

    def remember_allowed(scores: torch.Tensor, hook: HookPoint) -> None:
        allowed_by_layer[hook.name.rsplit(".", 1)[0]] = torch.isfinite(scores)  # (B, H, T, T)

    def replace(pattern: torch.Tensor, hook: HookPoint) -> torch.Tensor:
        allowed = allowed_by_layer[hook.name.rsplit(".", 1)[0]]
        if mode == "uniform":
            new = allowed.float() / allowed.float().sum(-1, keepdim=True)
        elif mode == "permute":
            new = _permute_rows(pattern, allowed, generator)
        else:
            new = attention.to(pattern.dtype).expand_as(pattern)
        out = pattern.clone()
        out[:, chosen_heads] = new[:, chosen_heads]
        return out

    hooks = []
    for l in model.cfg.layer_indices(layers):
        hooks.append((f"blocks.{l}.attn.hook_scores", remember_allowed))
        hooks.append((f"blocks.{l}.attn.hook_pattern", replace))
    with model.hooks(hooks):
        yield


@contextmanager
def mask_heads(model: TinyTransformer, heads: dict[int, Sequence[int]]) -> Iterator[None]:
    """Silence heads: {layer: [head, ...]}. A silenced head contributes nothing to the residual stream."""
    hooks = []
    for layer, layer_heads in heads.items():
        (l,) = model.cfg.layer_indices([layer])
        chosen = model.cfg.head_indices(layer_heads)

        def zero(z: torch.Tensor, hook: HookPoint, chosen=chosen) -> torch.Tensor:
            z = z.clone()  # (B, H, T, Dh)
            z[:, chosen] = 0.0
            return z

        hooks.append((f"blocks.{l}.attn.hook_z", zero))
    with model.hooks(hooks):
        yield


@contextmanager
def block_keys(model: TinyTransformer, keys: torch.Tensor, layers: Sequence[int] | None = None) -> Iterator[None]:
    """Hide key positions from attention in the chosen layers; the remaining weights are renormalised.

    keys: (B, T) bool, True where the key is hidden. A row never loses all its keys: if every key of a
    row would be hidden, that row is left unchanged.
    """

    def hide(scores: torch.Tensor, hook: HookPoint) -> torch.Tensor:
        hidden = keys[:, None, None, :].expand_as(scores)  # (B, H, T, T)
        new = scores.masked_fill(hidden, float("-inf"))
        emptied = ~torch.isfinite(new).any(-1, keepdim=True)  # rows with nothing left
        return torch.where(emptied, scores, new)

    with model.hooks([(f"blocks.{l}.attn.hook_scores", hide) for l in model.cfg.layer_indices(layers)]):
        yield


ERASE_MODES = ("delete", "pad", "mask")


def check_erase_mode(mode: str) -> None:
    if mode not in ERASE_MODES:
        raise ValueError(f"mode must be 'delete', 'pad' or 'mask', got {mode!r}")


def erase_tokens(
    tokens: torch.Tensor, erase: torch.Tensor, mode: str = "delete", pad_id: int = PAD_ID, mask_id: int = MASK_ID
) -> torch.Tensor:
    """Remove tokens from a batch. tokens, erase: (B, T); erase is True where a token goes.

    mode:
      "delete": the tokens are removed and the rest move left (the sentence gets shorter), as in ERASER;
      "pad":    the tokens become [PAD]: they keep their place but no attention can reach them;
      "mask":   the tokens become [MASK]: the model still sees that something was there.
    Returns new token ids (B, T); positions freed by "delete" are [PAD].
    """
    if erase.shape != tokens.shape:
        raise ValueError(f"erase mask shape {tuple(erase.shape)} does not match tokens {tuple(tokens.shape)}")
    check_erase_mode(mode)
    erase = erase.bool()
    if mode == "pad":
        return tokens.masked_fill(erase, pad_id)
    if mode == "mask":
        return tokens.masked_fill(erase, mask_id)
    keep = ~erase & (tokens != pad_id)  # (B, T)
    # Stable sort puts kept tokens first, in their original order.
    order = (~keep).float().argsort(dim=1, stable=True)  # (B, T)
    packed = tokens.gather(1, order)
    return packed.masked_fill(~keep.gather(1, order), pad_id)
