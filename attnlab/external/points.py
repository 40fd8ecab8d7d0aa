"""
What every adapter (attnlab.external.hf, attnlab.external.tl) shares: attnlab's hook points under
attnlab's names, laid out as TinyTransformer lays them out (attnlab/models.py), and the readout of a
classifier that reads one position. The adapters differ only in how the backend's tensors reach them.
"""

from __future__ import annotations

import torch
from torch import nn

from attnlab.hooks import HookPoint


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
