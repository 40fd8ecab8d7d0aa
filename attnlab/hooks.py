"""
Hook points: named places in the model where a tensor can be read or replaced.

A `HookPoint` is an identity module. The model passes every tensor a lesson may want to look at or
change through one (the attention pattern, each head's output, the residual stream...). A hook is a
function `fn(tensor, hook) -> tensor | None`: returning a tensor replaces the activation, returning
None leaves it unchanged. One mechanism covers reading (caching), ablation and patching.

Hooks are global state on the module, so they are only ever added through the `hooks()` context
manager of `HookedModule`, which removes them even when the forward pass raises.
Idea after TransformerLens (Nanda et al.), written small.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

HookFn = Callable[[torch.Tensor, "HookPoint"], "torch.Tensor | None"]


class HookPoint(nn.Module):
    """Identity on its input, unless a hook replaces it."""

    def __init__(self) -> None:
        super().__init__()
        self.name = ""  # filled in by HookedModule.setup_hooks()
        self._hooks: list[HookFn] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for fn in self._hooks:
            out = fn(x, self)
            if out is not None:
                if out.shape != x.shape:
                    raise ValueError(
                        f"hook on {self.name!r} returned shape {tuple(out.shape)}, expected {tuple(x.shape)}"
                    )
                x = out
        return x

    def has_hooks(self) -> bool:
        return bool(self._hooks)

    def __repr__(self) -> str:
        return f"HookPoint({self.name!r})"


class HookedModule(nn.Module):
    """A module whose HookPoints are reachable by stable string names, e.g. 'blocks.0.attn.hook_pattern'."""

    def setup_hooks(self) -> None:
        self.hook_dict: dict[str, HookPoint] = {}
        for name, module in self.named_modules():
            if isinstance(module, HookPoint):
                module.name = name
                self.hook_dict[name] = module

    def hook_names(self) -> list[str]:
        return list(self.hook_dict)

    def _resolve(self, name: str | Callable[[str], bool]) -> list[HookPoint]:
        if callable(name):
            points = [hp for n, hp in self.hook_dict.items() if name(n)]
        elif name in self.hook_dict:
            points = [self.hook_dict[name]]
        else:
            raise KeyError(f"no hook point named {name!r}; available: {', '.join(self.hook_dict)}")
        return points

    @contextmanager
    def hooks(self, fwd_hooks: Sequence[tuple[str | Callable[[str], bool], HookFn]]) -> Iterator[HookedModule]:
        """Add hooks for the duration of a `with` block.

        fwd_hooks: list of (name or name-filter, fn). Example:

        >>> def zero(pattern, hook):
        ...     return torch.zeros_like(pattern)
        >>> with model.hooks([("blocks.0.attn.hook_pattern", zero)]):
        ...     out = model(tokens)
        """
        added: list[tuple[HookPoint, HookFn]] = []
        try:
            for name, fn in fwd_hooks:
                for point in self._resolve(name):
                    point._hooks.append(fn)
                    added.append((point, fn))
            yield self
        finally:
            for point, fn in added:
                point._hooks.remove(fn)

    def run_with_cache(
        self, *args, names: Callable[[str], bool] | Sequence[str] | None = None, **kwargs
    ) -> tuple[object, dict[str, torch.Tensor]]:
        """Run forward and return (output, cache) where cache maps hook names to the tensors seen there.

        The cached tensors stay in the autograd graph, so gradients with respect to them can be taken.
        `names` limits what is cached (a list of names or a filter function); default: everything.
        """
        if names is None:
            selected = list(self.hook_dict)
        elif callable(names):
            selected = [n for n in self.hook_dict if names(n)]
        else:
            selected = list(names)
        cache: dict[str, torch.Tensor] = {}

        def save(x: torch.Tensor, hook: HookPoint) -> None:
            cache[hook.name] = x

        with self.hooks([(n, save) for n in selected]):
            out = self(*args, **kwargs)
        return out, cache

    def active_hook_count(self) -> int:
        return sum(len(hp._hooks) for hp in self.hook_dict.values())
