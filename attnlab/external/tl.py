"""
A TransformerLens-style model as an attnlab model: the same hook point names, shapes and TransformerOutput
as TinyTransformer (attnlab/models.py), so every method runs on it unchanged.

Duck-typed, never on a class: TransformerLens 3 had HookedTransformer, TransformerLens 4 removed it for
TransformerBridge, and both have what is used here: `hook_dict` (TL's hook names), `hooks(fwd_hooks=...)`,
`cfg` (d_model, n_heads, n_layers, d_vocab, n_ctx, ...) and a forward pass `model(tokens, attention_mask=...)`
returning (B, T, V) logits.

How the tensors reach attnlab's hook points: for one adapter call, one TL hook per TL point that attnlab
needs (tl_name maps the names), which converts TL's layout to attnlab's, runs the attnlab points mapped
there in order and hands the result back to TL. TL differs from attnlab in four places: q, k, v and z are
(B, T, H, Dh) in TL, (B, H, T, Dh) here; `attn.hook_attn_scores` is attnlab's `attn.hook_scores`;
`hook_embed` is TL's `blocks.0.hook_resid_pre` (TL's own hook_embed is the token embedding alone); and
`ln_f` is TL's `ln_final`.

What a backend does not let through, found by probing the model once when it is wrapped:
- padding: attnlab masks padded keys with -inf. Where TL's scores hook is live (TL 3) the adapter masks
  there, as attnlab does; where it is dead (TL 4's bridges) TL is given `attention_mask` instead.
- a dead scores hook (TL 4's bridges fire it after the attention was computed, with other values):
  attnlab's hook_scores then carries log(pattern), the scores less each row's log-sum-exp, which the
  softmax turns into the same pattern; an edit of it becomes the pattern softmax(edited) when the
  pattern hook is live, and is refused when it is not.
- a dead pattern hook (TL 4's BERT bridge, TL 3.9's native bridge): reading the pattern and its
  gradient still work; editing it is refused (pattern_writable False: replace_attention and AttnLRP say
  so before they run).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from attnlab.external.liveness import mark_pattern_liveness, probe_tokens
from attnlab.external.points import Adapter, BlockPoints, Pass, Scale, check_readout
from attnlab.hooks import HookPoint
from attnlab.models import TinyTransformerConfig, TransformerOutput

REQUIRED = ("hook_dict", "hooks", "cfg")
CONFIG = ("d_model", "n_heads", "n_layers", "d_vocab", "n_ctx")
HEAD_LAYOUT = ("hook_q", "hook_k", "hook_v", "hook_z")  # (B, T, H, Dh) in TL, (B, H, T, Dh) in attnlab


def tl_name(name: str) -> str:
    """The TL hook point that attnlab's point `name` reads (the map in the module docstring)."""
    if name == "hook_embed":
        return "blocks.0.hook_resid_pre"
    if name == "ln_f.hook_scale":
        return "ln_final.hook_scale"
    if name.endswith("attn.hook_scores"):
        return name.replace("attn.hook_scores", "attn.hook_attn_scores")
    return name


class _Stop(Exception):
    """Raised by a hook to end a forward pass early, carrying what it read."""

    def __init__(self, value: torch.Tensor) -> None:
        super().__init__()
        self.value = value


def _is_tl_bias(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return last == "b" or last.startswith("b_")  # TL 3: ln1.b, attn.b_Q, mlp.b_in, unembed.b_U


def _tl_hooks_edit_output(model, names: list[str], tokens: torch.Tensor) -> bool:
    """True when replacing what TL's hook points `names` hold changes the model's logits."""

    def edit(x: torch.Tensor, hook) -> torch.Tensor:
        return torch.zeros_like(x)

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TL 4 warns that an edit of a dead hook is discarded: what is probed here
        plain = model(tokens)
        with model.hooks(fwd_hooks=[(name, edit) for name in names]):
            edited = model(tokens)
    return not torch.equal(plain, edited)


class TLTransformer(Adapter):
    """A TransformerLens-style model behind attnlab's model interface (attnlab.models.HookedTransformerModel).

    model: a TransformerLens 3 HookedTransformer, a TransformerLens 4 TransformerBridge (boot_native,
        boot_transformers), or anything with the same hook names, `hooks(fwd_hooks=...)` and `cfg`; put
        in eval mode.
    head: "token" (default; the (B, T, V) logits of a language model) or "cls": the logits read at
        `readout`, whose d_vocab_out outputs are the classes (a classifier trained with TL's unembed).
    readout: for head="cls", the position read: an int, or "last" (each row's last real token).
        Default: 0 ([CLS]) for a bidirectional model, "last" for a causal one.
    pad_id: the padding token (default -1, no padding: TL's GPT-2 tokenizer pads with the same token it
        prepends as BOS, so the pad id cannot be guessed from it).
    baseline_id: the token integrated gradients puts in place of the words (default: the pad token;
        None when there is none, and then integrated gradients refuses to run).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        head: str = "token",
        readout: int | str | None = None,
        pad_id: int = -1,
        baseline_id: int | None = None,
    ) -> None:
        super().__init__()
        tl_cfg = getattr(model, "cfg", None)
        missing = [name for name in REQUIRED if not hasattr(model, name)]
        missing += [f"cfg.{name}" for name in CONFIG if tl_cfg is not None and not hasattr(tl_cfg, name)]
        if missing:
            raise TypeError(
                f"from_tl wraps TransformerLens-style models (hook_dict, hooks(fwd_hooks=...), cfg with "
                f"{', '.join(CONFIG)}); a {type(model).__name__} has no {', '.join(missing)}. A Hugging Face "
                "model: use from_hf; attnlab's own TinyTransformer needs no wrapping"
            )
        tl_cfg = model.cfg
        causal = getattr(tl_cfg, "attention_dir", "causal") == "causal"
        vocab = tl_cfg.d_vocab
        out = getattr(tl_cfg, "d_vocab_out", -1)
        out = vocab if out is None or out < 1 else out
        if head not in ("token", "cls"):
            raise ValueError(f"head must be 'token' or 'cls', got {head!r}")
        if not -1 <= pad_id < vocab:
            raise ValueError(f"pad_id={pad_id} is not a token of the {vocab}-token vocabulary (or -1: no padding)")
        if baseline_id is not None and not 0 <= baseline_id < vocab:
            # TL embeds with W_E[tokens]: an id of -1 would silently read the last row of the vocabulary
            raise ValueError(f"baseline_id={baseline_id} is not a token of the {vocab}-token vocabulary")
        self.baseline_id = baseline_id if baseline_id is not None else (None if pad_id < 0 else pad_id)
        self.readout = check_readout(("last" if causal else 0) if readout is None else readout)
        self.tl = model.eval()
        d_mlp = getattr(tl_cfg, "d_mlp", None)
        self.cfg = TinyTransformerConfig(
            vocab_size=vocab,
            max_len=tl_cfg.n_ctx,
            d_model=tl_cfg.d_model,
            n_heads=tl_cfg.n_heads,
            n_layers=tl_cfg.n_layers,
            d_mlp=d_mlp if d_mlp and d_mlp > 0 else tl_cfg.d_model,  # an attention-only model has none
            head=head,
            n_classes=out if head == "cls" else 2,
            causal=causal,
            pad_id=pad_id,
        )
        self.logits_at_every_position = True  # TL unembeds every position, a classifier too (fitting_batch)
        self.hook_embed = HookPoint()  # (B, T, D) what block 0 reads
        self.blocks = nn.ModuleList([BlockPoints() for _ in range(self.cfg.n_layers)])
        self.ln_f = Scale()
        self.setup_hooks()
        unmapped = [name for name in self.hook_dict if tl_name(name) not in model.hook_dict]
        if unmapped:
            raise TypeError(f"this model has no TransformerLens hook point for {', '.join(unmapped)}")
        self._pass: Pass | None = None
        # Until probed, edits are passed on as if every hook were live (the probes find out whether they are).
        self.pattern_writable = True
        tokens = probe_tokens(self)
        scores = [tl_name(f"blocks.{l}.attn.hook_scores") for l in range(self.cfg.n_layers)]
        self.scores_live = _tl_hooks_edit_output(model, scores, tokens)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TL 4 warns that an edit of a dead hook is discarded: what is probed
            mark_pattern_liveness(self)

    # --- one adapter call: TL hooks that run attnlab's points --------------------------------------

    def _tl_hooks(self) -> list[tuple[str, Callable]]:
        """(TL name, hook) for every TL point this call needs: the ones attnlab's hooked points map to,
        plus the residual stream and the patterns every call collects."""
        needed: dict[str, list[str]] = {"blocks.0.hook_resid_pre": ["hook_embed", "blocks.0.hook_resid_pre"]}
        for l in range(self.cfg.n_layers):
            needed[f"blocks.{l}.hook_resid_post"] = [f"blocks.{l}.hook_resid_post"]
            pattern = f"blocks.{l}.attn.hook_pattern"
            needed[tl_name(pattern)] = [pattern] if self.scores_live else [f"blocks.{l}.attn.hook_scores", pattern]
            if self.scores_live:
                needed[tl_name(f"blocks.{l}.attn.hook_scores")] = [f"blocks.{l}.attn.hook_scores"]
        for name, point in self.hook_dict.items():
            if point.has_hooks() and not name.endswith("attn.hook_scores"):  # placed above, live or not
                needed.setdefault(tl_name(name), [name])
        return [(tl, self._tl_hook(names)) for tl, names in needed.items()]

    def _tl_hook(self, names: list[str]) -> Callable:
        state = self._pass
        points = [self.hook_dict[name] for name in names]
        last = names[-1]

        def hook(x: torch.Tensor, hook) -> torch.Tensor:
            for name, point in zip(names, points):
                if name.endswith(HEAD_LAYOUT):
                    mine = x.transpose(1, 2)  # (B, T, H, Dh) -> (B, H, T, Dh)
                    edited = point(mine)
                    x = x if edited is mine else edited.transpose(1, 2)
                elif name.endswith("attn.hook_scores") and last.endswith("attn.hook_pattern"):
                    x = self._scores_from_pattern(x, point, state)  # x: TL's pattern, (B, H, T, T)
                elif name.endswith("attn.hook_scores"):
                    x = point(x.masked_fill(~state.key_mask, float("-inf")))  # (B, H, T, T)
                elif name.endswith("attn.hook_pattern"):
                    edited = point(x)
                    if edited is not x and not self.pattern_writable:
                        raise ValueError(
                            "this model's backend ignores edits of its attention pattern (hook_pattern is "
                            "read-only there), so this edit would silently be lost; reading works"
                        )
                    x = edited
                    state.patterns.append(x)
                else:
                    x = point(x)
                if name == "hook_embed":
                    state.hidden.append(x)
            if last.endswith("hook_resid_post"):
                state.hidden.append(x)
            return x

        return hook

    def _scores_from_pattern(self, pattern: torch.Tensor, point: HookPoint, state: Pass) -> torch.Tensor:
        """attnlab's hook_scores on a backend whose scores hook is dead: log(pattern), -inf at masked keys,
        and the pattern becomes softmax of what the hook returns, so that the scores a hook holds are in the
        graph (softmax(log(pattern)) is the pattern to a few ulps). pattern: (B, H, T, T); returns the pattern."""
        if not point.has_hooks():
            return pattern
        tiny = torch.finfo(pattern.dtype).tiny  # an underflowed weight: log of 0 would give NaN gradients
        scores = pattern.clamp_min(tiny).log().masked_fill(~state.key_mask, float("-inf"))  # (B, H, T, T)
        edited = point(scores)
        if self.pattern_writable:
            return F.softmax(edited, dim=-1)
        if edited is not scores:
            raise ValueError(
                "this model's backend ignores edits of its attention scores and pattern (both hooks are "
                "read-only there), so this edit would silently be lost; reading works"
            )
        return pattern

    # --- attnlab's model interface --------------------------------------------------------------------

    def named_parameters(self, *args, **kwargs):
        # relevance_budget finds biases by the suffix "bias": TL 3 calls them b_Q, b_O, ln1.b...
        for name, parameter in super().named_parameters(*args, **kwargs):
            yield (f"{name}.bias" if _is_tl_bias(name) else name), parameter

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, T, D): what block 0 reads (hook_embed) when the model runs on `tokens`."""
        self.validate_tokens(tokens)

        def stop(x: torch.Tensor, hook) -> None:
            raise _Stop(x)

        try:
            with self.tl.hooks(fwd_hooks=[("blocks.0.hook_resid_pre", stop)]):
                self.tl(tokens)  # no attention_mask: TL 3 would move padded tokens' positions (see forward)
        except _Stop as stopped:
            return stopped.value
        raise RuntimeError("the model never reached blocks.0.hook_resid_pre")

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> TransformerOutput:
        """tokens: (B, T) ids; mask: (B, T) bool, True on real tokens (default: tokens != pad_id)."""
        mask, state = self.begin(tokens, mask)
        try:
            # Padding: masked in the scores hook where it is live. TL's attention_mask only where it is not
            # (TL 4's bridges, whose positions it leaves alone): TL 3 counts positions over the real tokens,
            # so a padded token's position, and all a padded row computes there, would differ from attnlab's.
            kwargs = {} if self.scores_live else {"attention_mask": mask.long()}
            with self.tl.hooks(fwd_hooks=self._tl_hooks()):
                logits = self.tl(tokens, **kwargs)  # (B, T, V)
        finally:
            self._pass = None
        if self.cfg.head == "cls":
            logits = logits[torch.arange(len(logits)), self.readout_positions(mask)]  # (B, C)
        return state.output(logits, mask)

    def __repr__(self) -> str:
        kind = type(self.tl).__name__
        return f"TLTransformer({kind}, {self.cfg.n_layers} layers, causal={self.cfg.causal}, head={self.cfg.head!r})"
