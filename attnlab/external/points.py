"""
What every adapter (attnlab.external.hf, attnlab.external.tl) shares: attnlab's hook points under
attnlab's names, laid out as TinyTransformer lays them out (attnlab/models.py), what one call collects
into the TransformerOutput, and the readout of a classifier that reads one position. The adapters
differ only in how the backend's tensors reach them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from attnlab.hooks import HookedModule, HookPoint
from attnlab.models import TinyTransformer, TinyTransformerConfig, TransformerOutput, masks


class Scale(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hook_scale = HookPoint()  # (B, T, 1)


class AttentionPoints(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        for name in ("hook_q", "hook_k", "hook_v", "hook_scores", "hook_pattern", "hook_z"):
            setattr(self, name, HookPoint())


class MLPPoints(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hook_pre, self.hook_post = HookPoint(), HookPoint()  # (B, T, d_mlp)


class BlockPoints(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.ln1, self.attn, self.ln2, self.mlp = Scale(), AttentionPoints(), Scale(), MLPPoints()
        for name in ("hook_resid_pre", "hook_attn_out", "hook_mlp_out", "hook_resid_post"):
            setattr(self, name, HookPoint())  # (B, T, D)


@dataclass
class Pass:
    """What one adapter call collects: the key mask it attends with, the patterns and the residual stream."""

    key_mask: torch.Tensor  # (B, 1, 1|T, T) bool, True where a key may be attended to
    patterns: list[torch.Tensor] = field(default_factory=list)  # L x (B, H, T, T)
    hidden: list[torch.Tensor] = field(default_factory=list)  # L+1 x (B, T, D)

    def output(self, logits: torch.Tensor, mask: torch.Tensor) -> TransformerOutput:
        return TransformerOutput(
            logits=logits,
            attentions=torch.stack(self.patterns),  # (L, B, H, T, T)
            hidden_states=torch.stack(self.hidden),  # (L+1, B, T, D)
            attention_list=tuple(self.patterns),
            mask=mask,
        )


class Adapter(HookedModule):
    """What every adapter shares of attnlab's model interface (attnlab.models.HookedTransformerModel)."""

    cfg: TinyTransformerConfig
    readout: int | str
    _pass: Pass | None  # the running call's, None between calls

    def validate_tokens(self, tokens: torch.Tensor) -> None:
        TinyTransformer.validate_tokens(self, tokens)

    def readout_positions(self, mask: torch.Tensor) -> torch.Tensor:
        """(B,) the position each row is classified from (attention methods must read that row)."""
        return readout_positions(self.readout, mask)

    def begin(self, tokens: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, Pass]:
        """Start a call: the (B, T) mask of real tokens (default: tokens != pad_id) and the call's Pass,
        which the caller ends by setting `_pass` back to None."""
        self.validate_tokens(tokens)
        mask, key_mask = masks(tokens, mask, self.cfg.pad_id, self.cfg.causal)
        if self._pass is not None:
            raise RuntimeError("this wrapped model is already running (a hook called it again)")
        self._pass = Pass(key_mask)
        return mask, self._pass


def check_readout(readout: int | str) -> int | str:
    if not (readout == "last" or isinstance(readout, int)):
        raise ValueError(f"readout must be a position (int) or 'last', got {readout!r}")
    return readout


def readout_positions(readout: int | str, mask: torch.Tensor) -> torch.Tensor:
    """(B,) the position each row is classified from: `readout`, or each row's last real token ("last")."""
    if readout == "last":
        return mask.long().sum(1) - 1  # right padding: the last real token
    if not 0 <= readout < mask.shape[1]:
        raise ValueError(f"readout position {readout} is outside the {mask.shape[1]} tokens")
    return torch.full((mask.shape[0],), readout, dtype=torch.long)
