"""
TinyTransformer: a small encoder whose every attention weight can be read, changed and differentiated.

Shapes used throughout: B batch, T tokens, D d_model, H heads, Dh = D // H, L layers, V vocabulary.

- Attention is written out (softmax(QK^T / sqrt(Dh)) with the padding mask), never a fused kernel,
  because interpretability needs the (B, H, T, T) probability tensor itself.
- Pre-LayerNorm blocks: x = x + attn(ln1(x)); x = x + mlp(ln2(x)).
- Two heads: "cls" classifies from the [CLS] token at position 0; "token" predicts a token at every
  position (masked language modelling, or next-token prediction with causal=True).
- Every tensor a lesson or an attribution method needs passes through a named HookPoint (hooks.py),
  the one way into the forward pass:
  hook_embed, blocks.{l}.hook_resid_pre, blocks.{l}.ln1.hook_scale, blocks.{l}.attn.hook_q / hook_k /
  hook_v, blocks.{l}.attn.hook_scores, blocks.{l}.attn.hook_pattern, blocks.{l}.attn.hook_z,
  blocks.{l}.hook_attn_out, blocks.{l}.ln2.hook_scale, blocks.{l}.mlp.hook_pre, blocks.{l}.mlp.hook_post,
  blocks.{l}.hook_mlp_out, blocks.{l}.hook_resid_post, ln_f.hook_scale.
Style after minGPT (Karpathy) and TransformerLens (Nanda et al.).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn

from attnlab.hooks import HookedModule, HookPoint
from attnlab.tasks.vocab import PAD_ID


@dataclass(frozen=True)
class TinyTransformerConfig:
    vocab_size: int
    max_len: int  # longest sequence, [CLS] included
    d_model: int = 32
    n_heads: int = 2
    n_layers: int = 2
    d_mlp: int = 64
    head: str = "cls"  # "cls": classify from position 0; "token": predict a token at every position
    n_classes: int = 2  # used by head="cls"
    causal: bool = False  # True: position i sees only positions <= i (next-token LM)
    pad_id: int = PAD_ID

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.head not in ("cls", "token"):
            raise ValueError(f"head must be 'cls' or 'token', got {self.head!r}")
        for field in ("vocab_size", "max_len", "d_model", "n_heads", "n_layers", "d_mlp", "n_classes"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be positive, got {getattr(self, field)}")

    def to_dict(self) -> dict:
        return asdict(self)

    def layer_indices(self, layers: Sequence[int] | None) -> list[int]:
        """Layer numbers as given (None: every layer; -1: the last), checked against the depth."""
        n = self.n_layers
        chosen = list(range(n)) if layers is None else [l + n if l < 0 else l for l in layers]  # -1: last layer
        for l in chosen:
            if not 0 <= l < n:
                raise ValueError(f"layer {l} does not exist; the model has layers 0..{n - 1}")
        return chosen

    def head_indices(self, heads: Sequence[int] | None) -> list[int]:
        """Head numbers as given (None: every head), checked against the heads of a layer."""
        chosen = list(range(self.n_heads)) if heads is None else list(heads)
        for h in chosen:
            if not 0 <= h < self.n_heads:
                raise ValueError(f"head {h} does not exist; each layer has heads 0..{self.n_heads - 1}")
        return chosen


# Named sizes. A preset fixes the architecture; the task fills in vocab_size, max_len and the head.
PRESETS: dict[str, dict] = {
    "one-layer": dict(n_layers=1, n_heads=2, d_model=32, d_mlp=64),
    "nano": dict(n_layers=2, n_heads=2, d_model=32, d_mlp=64),
    "micro": dict(n_layers=3, n_heads=4, d_model=48, d_mlp=96),
}


def preset(name: str, **task_fields) -> TinyTransformerConfig:
    """A config from a named size, e.g. preset("nano", vocab_size=40, max_len=16)."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return TinyTransformerConfig(**{**PRESETS[name], **task_fields})


@dataclass
class TransformerOutput:
    logits: torch.Tensor  # (B, n_classes) for head="cls", (B, T, V) for head="token"
    attentions: torch.Tensor  # (L, B, H, T, T), rows sum to 1 over non-padding keys
    hidden_states: torch.Tensor  # (L+1, B, T, D); index 0 is the embeddings
    attention_list: tuple[torch.Tensor, ...]  # the L (B, H, T, T) tensors the forward pass used
    mask: torch.Tensor  # (B, T) bool, True on real tokens

    # `attentions` is a stacked copy; the logits were computed from `attention_list`. To differentiate
    # with respect to the attention weights use: torch.autograd.grad(y, out.attention_list).


@runtime_checkable
class HookedTransformerModel(Protocol):
    """What attnlab's methods use of a model: TinyTransformer has it, and so do the adapters around other
    libraries' transformers (attnlab.external.from_hf). Methods reach the forward pass only through the
    hook points named in this module's docstring, so any model that routes its tensors through them works.

    A model may also have `pattern_writable = False` (its backend ignores edits of the attention
    pattern: methods that change the pattern refuse it) and `baseline_id` (the token integrated gradients
    integrates from, when it is not the pad token; None when the model has none).
    """

    cfg: TinyTransformerConfig
    hook_dict: dict[str, HookPoint]

    def validate_tokens(self, tokens: torch.Tensor) -> None: ...

    def embed(self, tokens: torch.Tensor) -> torch.Tensor: ...  # (B, T) -> (B, T, D), what hook_embed sees

    def hooks(self, fwd_hooks): ...

    def run_with_cache(self, *args, names=None, **kwargs): ...

    def __call__(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> TransformerOutput: ...


def masks(
    tokens: torch.Tensor, mask: torch.Tensor | None, pad_id: int, causal: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """The (B, T) bool mask of real tokens (default: tokens != pad_id) and the key mask every attention
    layer applies: (B, 1, 1, T), or (B, 1, T, T) when causal. Shared by every model attnlab runs."""
    if mask is None:
        mask = tokens != pad_id
    elif mask.shape != tokens.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} does not match tokens shape {tuple(tokens.shape)}")
    mask = mask.bool()
    if not mask.any(dim=1).all():
        raise ValueError("every sequence needs at least one non-padding token")
    key_mask = mask[:, None, None, :]  # (B, 1, 1, T): which keys may be attended to
    if causal:
        T = tokens.shape[1]
        key_mask = key_mask & torch.ones(T, T, dtype=torch.bool, device=tokens.device).tril()  # (B, 1, T, T)
    return mask, key_mask


def require_model(model: object) -> None:
    """A TypeError that names what is expected, for anything that is not an attnlab model."""
    if not isinstance(model, HookedTransformerModel):
        raise TypeError(
            f"expected a TinyTransformer or a wrapped model (attnlab.external.from_hf), got {type(model).__name__}"
        )


def n_outputs(model: HookedTransformerModel) -> int:
    """How many logits the model explains per example: its classes, or its vocabulary for a token head."""
    return model.cfg.n_classes if model.cfg.head == "cls" else model.cfg.vocab_size


def require_writable_pattern(model: HookedTransformerModel, what: str) -> None:
    """Refuse a method that changes attention patterns on a backend that ignores such edits."""
    if not getattr(model, "pattern_writable", True):
        raise ValueError(
            f"{what} changes the attention pattern, but this model's backend ignores edits of its "
            "attention pattern (hook_pattern is read-only there), so the result would silently be wrong; "
            "reading patterns and gradient-based methods still work"
        )


# -----------------------------------------------------------------------------


class LayerNorm(nn.LayerNorm):
    """nn.LayerNorm whose scale, the standard deviation each vector is divided by, is a hook point.

    With no hook on `hook_scale` this is nn.LayerNorm's own kernel, so the model's numbers are those of
    a plain LayerNorm to the last digit. With a hook, the same formula is written out so that the hook
    can read or replace the scale (LRP detaches it); the kernel and the written-out formula round
    differently, by about 1e-7.
    """

    def __init__(self, d_model: int) -> None:
        super().__init__(d_model)
        self.hook_scale = HookPoint()  # (B, T, 1) sqrt(variance + eps) of each vector

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.hook_scale.has_hooks():
            return super().forward(x)
        centred = x - x.mean(-1, keepdim=True)  # (B, T, D)
        scale = self.hook_scale((centred.pow(2).mean(-1, keepdim=True) + self.eps).sqrt())  # (B, T, 1)
        return centred / scale * self.weight + self.bias


class Attention(nn.Module):
    def __init__(self, cfg: TinyTransformerConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.d_head = cfg.d_model // cfg.n_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)
        self.hook_q = HookPoint()  # (B, H, T, Dh) queries
        self.hook_k = HookPoint()  # (B, H, T, Dh) keys
        self.hook_v = HookPoint()  # (B, H, T, Dh) values
        self.hook_scores = HookPoint()  # (B, H, T, T) before softmax
        self.hook_pattern = HookPoint()  # (B, H, T, T) attention probabilities
        self.hook_z = HookPoint()  # (B, H, T, Dh) each head's weighted sum of values

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, T, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=-1)  # each (B, T, D)
        q = self.hook_q(q.view(B, T, self.n_heads, self.d_head).transpose(1, 2))  # (B, H, T, Dh)
        k = self.hook_k(k.view(B, T, self.n_heads, self.d_head).transpose(1, 2))  # (B, H, T, Dh)
        v = self.hook_v(v.view(B, T, self.n_heads, self.d_head).transpose(1, 2))  # (B, H, T, Dh)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)  # (B, H, T, T)
        scores = scores.masked_fill(~key_mask, float("-inf"))  # key_mask (B, 1, T|1, T)
        scores = self.hook_scores(scores)
        pattern = self.hook_pattern(F.softmax(scores, dim=-1))  # (B, H, T, T)
        z = self.hook_z(pattern @ v)  # (B, H, T, T) x (B, H, T, Dh) -> (B, H, T, Dh)
        z = z.transpose(1, 2).reshape(B, T, D)  # heads side by side again
        return self.out(z), pattern


class MLP(nn.Module):
    def __init__(self, cfg: TinyTransformerConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, cfg.d_mlp)
        self.proj = nn.Linear(cfg.d_mlp, cfg.d_model)
        self.hook_pre = HookPoint()  # (B, T, d_mlp) before the GELU
        self.hook_post = HookPoint()  # (B, T, d_mlp) after the GELU

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.hook_post(F.gelu(self.hook_pre(self.fc(x)))))


class Block(nn.Module):
    def __init__(self, cfg: TinyTransformerConfig) -> None:
        super().__init__()
        self.ln1 = LayerNorm(cfg.d_model)
        self.attn = Attention(cfg)
        self.ln2 = LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg)
        self.hook_resid_pre = HookPoint()  # (B, T, D) the residual stream entering the block
        self.hook_attn_out = HookPoint()  # (B, T, D)
        self.hook_mlp_out = HookPoint()  # (B, T, D)
        self.hook_resid_post = HookPoint()  # (B, T, D)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.hook_resid_pre(x)
        attn_out, pattern = self.attn(self.ln1(x), key_mask)
        x = x + self.hook_attn_out(attn_out)
        x = x + self.hook_mlp_out(self.mlp(self.ln2(x)))
        return self.hook_resid_post(x), pattern


class TinyTransformer(HookedModule):
    """Encoder with learned positions, pre-LN blocks and a [CLS] or per-token head.

    >>> cfg = preset("nano", vocab_size=20, max_len=8)
    >>> model = TinyTransformer(cfg)
    >>> out = model(torch.tensor([[1, 5, 6, 7]]))
    >>> out.logits.shape, out.attentions.shape, out.hidden_states.shape
    (torch.Size([1, 2]), torch.Size([2, 1, 2, 4, 4]), torch.Size([3, 1, 4, 32]))
    """

    def __init__(self, cfg: TinyTransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.d_model)
        self.hook_embed = HookPoint()  # (B, T, D)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layers)])
        self.ln_f = LayerNorm(cfg.d_model)
        n_out = cfg.n_classes if cfg.head == "cls" else cfg.vocab_size
        self.head = nn.Linear(cfg.d_model, n_out)
        self.setup_hooks()

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def validate_tokens(self, tokens: torch.Tensor) -> None:
        """Raise a ValueError that says what is wrong with a batch of token ids."""
        if not isinstance(tokens, torch.Tensor):
            raise TypeError(f"tokens must be a torch.Tensor of token ids, got {type(tokens).__name__}")
        if tokens.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"tokens must hold integer ids (torch.long), got dtype {tokens.dtype}")
        if tokens.dim() != 2:
            raise ValueError(f"tokens must have shape (batch, tokens), got {tuple(tokens.shape)}")
        if tokens.shape[0] == 0 or tokens.shape[1] == 0:
            raise ValueError(f"empty batch: tokens has shape {tuple(tokens.shape)}")
        if tokens.shape[1] > self.cfg.max_len:
            raise ValueError(f"sequence of {tokens.shape[1]} tokens is longer than max_len={self.cfg.max_len}")
        lo, hi = int(tokens.min()), int(tokens.max())
        if lo < 0 or hi >= self.cfg.vocab_size:
            bad = lo if lo < 0 else hi
            raise ValueError(f"token id {bad} is out of the vocabulary (ids 0..{self.cfg.vocab_size - 1})")

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, T, D): token plus position embeddings, what hook_embed sees."""
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        return self.tok_emb(tokens) + self.pos_emb(positions)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> TransformerOutput:
        """tokens: (B, T) ids; mask: (B, T) bool, True on real tokens (default: tokens != pad_id)."""
        self.validate_tokens(tokens)
        mask, key_mask = masks(tokens, mask, self.cfg.pad_id, self.cfg.causal)

        x = self.hook_embed(self.embed(tokens))  # (B, T, D)
        hidden, patterns = [x], []
        for block in self.blocks:
            x, pattern = block(x, key_mask)
            hidden.append(x)
            patterns.append(pattern)
        x = self.ln_f(x)
        logits = self.head(x[:, 0] if self.cfg.head == "cls" else x)  # (B, C) or (B, T, V)
        return TransformerOutput(
            logits=logits,
            attentions=torch.stack(patterns),  # (L, B, H, T, T)
            hidden_states=torch.stack(hidden),  # (L+1, B, T, D)
            attention_list=tuple(patterns),
            mask=mask,
        )
