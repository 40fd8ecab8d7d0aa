"""
A Hugging Face `transformers` model as an attnlab model: the same hook point names, shapes and
TransformerOutput as TinyTransformer (attnlab/models.py), so every method runs on it unchanged.

How the tensors reach attnlab's hook points:
- attention: a registered attention function ("attnlab", transformers' AttentionInterface) writes out
  softmax(QK^T / sqrt(Dh)) with hook_q / hook_k / hook_v / hook_scores / hook_pattern / hook_z inside,
  in attnlab's (B, H, T, Dh) layout, with attnlab's key mask (padding, and the causal mask of a causal
  model) as -inf. The mask is the adapter's own, never the library's: a custom attention function
  without its mask function silently loses the causal mask. Outside an adapter call the function is
  the library's eager formula with the library's mask, so the wrapped model keeps working as before.
- everything else: torch forward hooks on the library's modules (block input and output, attention and
  MLP outputs, the MLP's activation, each LayerNorm), idle outside an adapter call. A LayerNorm's scale
  is written out through its hook_scale only when that point is hooked, as TinyTransformer does.

Families and what "the same" means:
- GPT-2 (pre-LN like the course's model): GPT2LMHeadModel (head="token"), GPT2ForSequenceClassification
  and GPT2ForTokenClassification (head="cls", read at `readout`). With causal=False, GPT-2's blocks
  make a bidirectional encoder of exactly the course's architecture (activation_function="gelu",
  layer_norm_epsilon=1e-5): the course's checkpoints copy into it and give the same scores.
- BERT (post-LN): BertForSequenceClassification (head="cls": the pooler reads [CLS]) and
  BertForMaskedLM (head="token"). hook_embed is after the embeddings' LayerNorm; ln1 / ln2 are the
  LayerNorms after the attention and MLP residual additions; the tanh pooler has no LRP rule, so LRP's
  convergence delta is not near 0 there.
"""

from __future__ import annotations

import math
import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from attnlab.external.liveness import mark_pattern_liveness
from attnlab.external.points import Adapter, BlockPoints, Pass, Scale, check_readout
from attnlab.hooks import HookPoint
from attnlab.models import TinyTransformerConfig, TransformerOutput

ATTENTION_NAME = "attnlab"
SUPPORTED = (
    "GPT2LMHeadModel",
    "GPT2ForSequenceClassification",
    "GPT2ForTokenClassification",
    "BertForSequenceClassification",
    "BertForMaskedLM",
)


def _library_attention(module, query, key, value, attention_mask, scaling, dropout):
    """transformers' eager formula: what the wrapped model computes when no adapter call is running."""
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        weights = weights + attention_mask
    weights = F.dropout(F.softmax(weights, dim=-1), p=dropout, training=module.training)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


def _attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """The attention of every wrapped model. query, key, value: (B, H, T, Dh). Returns ((B, T, H, Dh), pattern)."""
    dh = query.shape[-1]
    scaling = dh**-0.5 if scaling is None else scaling
    # The adapter whose call is running (a model wrapped twice, say by a re-run cell, has two), and the layer.
    routes = [(owner(), l) for owner, l in getattr(module, "_attnlab_routes", ())]
    running = [(adapter, l) for adapter, l in routes if adapter is not None and adapter._pass is not None]
    if not running:
        return _library_attention(module, query, key, value, attention_mask, scaling, dropout)
    adapter, layer = running[0]
    points = adapter.blocks[layer].attn
    q, k, v = points.hook_q(query), points.hook_k(key), points.hook_v(value)  # each (B, H, T, Dh)
    scores = q @ k.transpose(-2, -1)  # (B, H, T, T)
    # The course divides by sqrt(Dh); multiplying by its inverse rounds differently, so divide when that is the scale.
    scores = scores / math.sqrt(dh) if math.isclose(scaling, dh**-0.5, rel_tol=1e-12) else scores * scaling
    scores = points.hook_scores(scores.masked_fill(~adapter._pass.key_mask, float("-inf")))
    pattern = points.hook_pattern(F.softmax(scores, dim=-1))  # (B, H, T, T)
    adapter._pass.patterns.append(pattern)
    z = points.hook_z(F.dropout(pattern, p=dropout, training=module.training) @ v)  # (B, H, T, Dh)
    return z.transpose(1, 2).contiguous(), pattern


def _register_attention() -> None:
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import eager_mask

    AttentionInterface.register(ATTENTION_NAME, _attention)
    # Outside adapter calls the function falls back to the eager formula, which needs the eager mask.
    AttentionMaskInterface.register(ATTENTION_NAME, eager_mask)


@dataclass(frozen=True)
class _Layout:
    """Where one family keeps the modules the hook points are attached to (paths from the backbone)."""

    blocks: str
    ln1: str
    attn: str  # the module the attention function is called with
    attn_out: str  # its output: the attention's contribution to the residual stream
    ln2: str
    mlp_in: str  # the MLP's first linear layer
    act: str
    mlp_out: str
    ln_f: str | None


LAYOUTS = {
    "gpt2": _Layout("h", "ln_1", "attn", "attn", "ln_2", "mlp.c_fc", "mlp.act", "mlp", "ln_f"),
    "bert": _Layout(
        "encoder.layer",
        "attention.output.LayerNorm",
        "attention.self",
        "attention.output.dense",
        "output.LayerNorm",
        "intermediate.dense",
        "intermediate.intermediate_act_fn",
        "output.dense",
        None,
    ),
}


def _family(model: nn.Module) -> tuple[str, str]:
    kind = type(model).__name__
    if kind not in SUPPORTED:
        raise TypeError(
            f"from_hf supports {', '.join(SUPPORTED)}; got {kind}. Load the model with one of these classes "
            "(a bare GPT2Model or BertModel has no head to explain)"
        )
    return ("gpt2" if kind.startswith("GPT2") else "bert"), kind


def _tuple_first(output, point: HookPoint):
    """Apply a hook point to a module's output, or to the first element of the tuple it returns."""
    if isinstance(output, tuple):
        return (point(output[0]), *output[1:])
    return point(output)


class HFTransformer(Adapter):
    """A transformers model behind attnlab's model interface (attnlab.models.HookedTransformerModel).

    model: a supported transformers model (SUPPORTED); it is put in eval mode and its attention
        implementation becomes "attnlab" (the library's eager formula when called directly).
    readout: for head="cls" GPT-2 models, the position whose hidden state is classified: an int, or
        "last" (each row's last real token). Default: 0 ([CLS]) for a bidirectional model, "last" for a
        causal one. BERT's classifier always reads [CLS] through its pooler.
    causal: GPT-2 only; False makes its attention bidirectional (a GPT-2-style encoder). Default True.
    pad_id: the padding token (default: the config's pad_token_id; -1, no padding, if it has none).
    baseline_id: the token integrated gradients puts in place of the words (default: the pad token;
        None when there is none, and then integrated gradients refuses to run).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        readout: int | str | None = None,
        causal: bool | None = None,
        pad_id: int | None = None,
        baseline_id: int | None = None,
    ) -> None:
        super().__init__()
        family, kind = _family(model)
        config = model.config
        if family == "bert" and (causal or config.is_decoder):
            raise ValueError("from_hf takes BERT as the bidirectional encoder it is (causal=True is for GPT-2)")
        self.family, self.kind = family, kind
        self.hf = model.eval()
        self.layout = LAYOUTS[family]
        is_causal = (True if causal is None else causal) if family == "gpt2" else False
        head = "token" if kind in ("GPT2LMHeadModel", "BertForMaskedLM") else "cls"
        if pad_id is None:
            pad_id = -1 if config.pad_token_id is None else config.pad_token_id
        self.baseline_id = baseline_id if baseline_id is not None else (None if pad_id < 0 else pad_id)
        if family == "bert" and readout not in (None, 0):
            raise ValueError("BERT's classifier reads [CLS] through its pooler: readout must be 0")
        if readout is None:
            readout = "last" if is_causal else 0
        self.readout = check_readout(readout)
        if family == "gpt2":
            d_mlp = config.n_inner if config.n_inner is not None else 4 * config.hidden_size
            max_len = config.n_positions
        else:
            d_mlp, max_len = config.intermediate_size, config.max_position_embeddings
        self.cfg = TinyTransformerConfig(
            vocab_size=config.vocab_size,
            max_len=max_len,
            d_model=config.hidden_size,
            n_heads=config.num_attention_heads,
            n_layers=config.num_hidden_layers,
            d_mlp=d_mlp,
            head=head,
            n_classes=config.num_labels if head == "cls" else 2,
            causal=is_causal,
            pad_id=pad_id,
        )
        self.hook_embed = HookPoint()  # (B, T, D) what block 0 reads
        self.blocks = nn.ModuleList([BlockPoints() for _ in range(self.cfg.n_layers)])
        if self.layout.ln_f is not None:
            self.ln_f = Scale()  # the LayerNorm after the last block (GPT-2; BERT has none)
        if family == "bert":
            self.embed_ln = Scale()  # the embeddings' LayerNorm, before hook_embed
        self._pass: Pass | None = None
        _register_attention()
        model.set_attn_implementation(ATTENTION_NAME)
        self._attach()
        self.setup_hooks()
        mark_pattern_liveness(self)

    @property
    def backbone(self) -> nn.Module:
        """The model without its head: what holds the embeddings, the blocks and (GPT-2) the last LayerNorm."""
        return self.hf.transformer if self.family == "gpt2" else self.hf.bert

    # --- wiring ---------------------------------------------------------------------------------------

    def _attach(self) -> None:
        layout, me = self.layout, weakref.ref(self)

        def active() -> Pass | None:
            owner = me()
            return None if owner is None else owner._pass

        def on_output(point: HookPoint):
            def hook(module, inputs, output):
                return None if active() is None else _tuple_first(output, point)

            return hook

        def layer_norm(point: HookPoint):
            def hook(module, inputs, output):
                if active() is None or not point.has_hooks():
                    return None
                x = inputs[0]
                centred = x - x.mean(-1, keepdim=True)  # (B, T, D)
                scale = point((centred.pow(2).mean(-1, keepdim=True) + module.eps).sqrt())  # (B, T, 1)
                return centred / scale * module.weight + module.bias

            return hook

        blocks = self.backbone.get_submodule(layout.blocks)
        for l, (block, points) in enumerate(zip(blocks, self.blocks)):

            def block_input(module, args, kwargs, l=l, points=points):
                state = active()
                if state is None:
                    return None
                if args:
                    x, rest = args[0], args[1:]
                else:
                    x, rest = kwargs.pop("hidden_states"), ()
                if l == 0:
                    x = self.hook_embed(x)
                    state.hidden.append(x)
                return (points.hook_resid_pre(x), *rest), kwargs

            def block_output(module, inputs, output, points=points):
                state = active()
                if state is None:
                    return None
                output = _tuple_first(output, points.hook_resid_post)
                state.hidden.append(output[0] if isinstance(output, tuple) else output)
                return output

            block.register_forward_pre_hook(block_input, with_kwargs=True)
            block.register_forward_hook(block_output)
            block.get_submodule(layout.ln1).register_forward_hook(layer_norm(points.ln1.hook_scale))
            block.get_submodule(layout.ln2).register_forward_hook(layer_norm(points.ln2.hook_scale))
            block.get_submodule(layout.attn_out).register_forward_hook(on_output(points.hook_attn_out))
            block.get_submodule(layout.mlp_in).register_forward_hook(on_output(points.mlp.hook_pre))
            act = block.get_submodule(layout.act)
            if not isinstance(act, nn.Module):
                raise TypeError("the MLP's activation must be a module (config.hidden_act a name such as 'gelu')")
            act.register_forward_hook(on_output(points.mlp.hook_post))
            block.get_submodule(layout.mlp_out).register_forward_hook(on_output(points.hook_mlp_out))
            # The attention function finds its hook points (and this adapter) through the module it is called
            # with; a plain attribute, not a submodule, so the wrapped model's modules and state dict stay its own.
            attention = block.get_submodule(layout.attn)
            routes = [r for r in getattr(attention, "_attnlab_routes", ()) if r[0]() is not None]
            object.__setattr__(attention, "_attnlab_routes", [*routes, (me, l)])
        if layout.ln_f is not None:
            self.backbone.get_submodule(layout.ln_f).register_forward_hook(layer_norm(self.ln_f.hook_scale))
        if self.family == "bert":
            self.backbone.embeddings.LayerNorm.register_forward_hook(layer_norm(self.embed_ln.hook_scale))

    # --- attnlab's model interface --------------------------------------------------------------------

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, T, D): what block 0 reads (hook_embed) when the model runs on `tokens`."""
        if self.family == "gpt2":
            positions = torch.arange(tokens.shape[1], device=tokens.device)
            return self.backbone.wte(tokens) + self.backbone.wpe(positions)
        return self.backbone.embeddings(input_ids=tokens)

    def _logits(self, output, mask: torch.Tensor) -> torch.Tensor:
        hidden = output.last_hidden_state  # (B, T, D)
        kind, hf = self.kind, self.hf
        if kind == "GPT2LMHeadModel":
            return hf.lm_head(hidden)  # (B, T, V)
        if kind == "BertForMaskedLM":
            return hf.cls(hidden)  # (B, T, V)
        if kind == "BertForSequenceClassification":
            return hf.classifier(hf.dropout(output.pooler_output))  # (B, C): the pooler reads [CLS]
        read = hidden[torch.arange(len(hidden)), self.readout_positions(mask)]  # (B, D)
        if kind == "GPT2ForSequenceClassification":
            return hf.score(read)
        return hf.classifier(hf.dropout(read))  # GPT2ForTokenClassification, read at one position

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> TransformerOutput:
        """tokens: (B, T) ids; mask: (B, T) bool, True on real tokens (default: tokens != pad_id)."""
        mask, state = self.begin(tokens, mask)
        try:
            kwargs = {"use_cache": False} if self.family == "gpt2" else {}
            output = self.backbone(input_ids=tokens, attention_mask=mask.long(), **kwargs)
            logits = self._logits(output, mask)
        finally:
            self._pass = None
        return state.output(logits, mask)

    def __repr__(self) -> str:
        return f"HFTransformer({self.kind}, {self.cfg.n_layers} layers, causal={self.cfg.causal})"


def load(folder: str | os.PathLike, **options) -> HFTransformer:
    """A model saved with `save_pretrained(folder)`, loaded without any network, then wrapped (from_hf options).

    Only local folders: the course never downloads at run time, and a hub name would wait on the network
    before failing. To use a hub model, save it to a folder once on a machine with internet.
    """
    path = Path(folder)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"{str(folder)!r} is not a folder saved with save_pretrained (no config.json there); attnlab loads "
            "models offline from local folders only: on a machine with internet, run "
            "Model.from_pretrained(name).save_pretrained(folder), then load_hf(folder)"
        )
    with _offline():
        import transformers

        config = transformers.AutoConfig.from_pretrained(path, local_files_only=True)
        kinds = [k for k in (config.architectures or []) if k in SUPPORTED]
        if not kinds:
            raise TypeError(f"{path} holds a {config.architectures} model; from_hf supports {', '.join(SUPPORTED)}")
        model = getattr(transformers, kinds[0]).from_pretrained(path, local_files_only=True)
    return HFTransformer(model, **options)


@contextmanager
def _offline() -> Iterator[None]:
    """No network for the duration: local_files_only on every call, and HF_HUB_OFFLINE for the hub library
    (which reads it when first imported) so that nothing it does on the side waits on the network either."""
    before = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ["HF_HUB_OFFLINE"]
        else:
            os.environ["HF_HUB_OFFLINE"] = before
