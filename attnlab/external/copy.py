"""
A course model's weights in another library's model of the same architecture: the bridge from the
mini-models, where the ground truth is known, to the libraries students use. Each copy is built from a
config (nothing is downloaded) and computes what the course's model computes: a Hugging Face GPT-2
(wrapped with from_hf(copy, causal=False, readout=0)) and a TransformerLens 4 bridge (from_tl).

Why GPT-2 and not BERT: the course's TinyTransformer is pre-LN (x + attn(ln(x))) with learned positions,
exact GELU and a final LayerNorm, which is GPT-2's block; BERT is post-LN (ln(x + attn(x))), normalises
its embeddings and reads [CLS] through a tanh pooler, so no copy of these weights computes the same function.
"""

from __future__ import annotations

import torch

from attnlab.models import TinyTransformer


def gpt2_copy(model: TinyTransformer):
    """A GPT2ForTokenClassification ([CLS] head) or GPT2LMHeadModel (token head) with `model`'s weights.

    Wrap it with from_hf(copy, causal=model.cfg.causal, readout=0). Conv1D keeps its weight as
    (in, out), the transpose of nn.Linear's (out, in).
    """
    import transformers

    cfg = model.cfg
    config = transformers.GPT2Config(
        vocab_size=cfg.vocab_size,
        n_positions=cfg.max_len,
        n_embd=cfg.d_model,
        n_layer=cfg.n_layers,
        n_head=cfg.n_heads,
        n_inner=cfg.d_mlp,
        activation_function="gelu",  # the exact (erf) GELU of F.gelu, not GPT-2's tanh approximation
        layer_norm_epsilon=1e-5,  # nn.LayerNorm's default, which the course uses
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        classifier_dropout=0.0,
        num_labels=cfg.n_classes,
        pad_token_id=cfg.pad_id,
        bos_token_id=None,
        eos_token_id=None,
        tie_word_embeddings=False,  # the course's token head has weights of its own
    )
    copy = (transformers.GPT2ForTokenClassification if cfg.head == "cls" else transformers.GPT2LMHeadModel)(config)
    weights = {"transformer.wte.weight": model.tok_emb.weight, "transformer.wpe.weight": model.pos_emb.weight}
    for l, block in enumerate(model.blocks):
        mine = {
            "ln_1": block.ln1,
            "ln_2": block.ln2,
            "attn.c_attn": block.attn.qkv,
            "attn.c_proj": block.attn.out,
            "mlp.c_fc": block.mlp.fc,
            "mlp.c_proj": block.mlp.proj,
        }
        for name, module in mine.items():
            is_conv1d = not name.startswith("ln")
            weights[f"transformer.h.{l}.{name}.weight"] = module.weight.T if is_conv1d else module.weight
            weights[f"transformer.h.{l}.{name}.bias"] = module.bias
    weights["transformer.ln_f.weight"], weights["transformer.ln_f.bias"] = model.ln_f.weight, model.ln_f.bias
    head = "classifier" if cfg.head == "cls" else "lm_head"
    weights[f"{head}.weight"] = model.head.weight
    if cfg.head == "cls":
        weights[f"{head}.bias"] = model.head.bias
    elif model.head.bias is not None and bool(model.head.bias.any()):
        raise ValueError("GPT-2's language-model head has no bias: this token-head model cannot be copied exactly")
    with torch.no_grad():
        copy.load_state_dict({k: v.detach().clone() for k, v in weights.items()}, strict=True)
    return copy.eval()


def tl_copy(model: TinyTransformer, backend: str = "bridge"):
    """A TransformerLens model with `model`'s weights, built from a config: backend "bridge", a
    TransformerBridge (boot_native; TL 3.9 and TL 4), or "hooked", TL 3's HookedTransformer.

    Wrap it with from_tl(copy, head=model.cfg.head, readout=0, pad_id=model.cfg.pad_id); with head="cls"
    TL's unembed is the course's classifier, its d_vocab_out outputs the classes.
    """
    from transformer_lens.config import TransformerBridgeConfig

    if backend not in ("bridge", "hooked"):
        raise ValueError(f"backend must be 'bridge' or 'hooked', got {backend!r}")
    cfg = model.cfg
    sizes = dict(
        d_model=cfg.d_model,
        d_head=cfg.d_model // cfg.n_heads,
        n_heads=cfg.n_heads,
        n_layers=cfg.n_layers,
        n_ctx=cfg.max_len,
        d_vocab=cfg.vocab_size,
        d_vocab_out=cfg.n_classes if cfg.head == "cls" else cfg.vocab_size,
        d_mlp=cfg.d_mlp,
        act_fn="gelu",  # the exact (erf) GELU of F.gelu
        normalization_type="LN",
        eps=1e-5,  # nn.LayerNorm's default, which the course uses
        attention_dir="causal" if cfg.causal else "bidirectional",
        positional_embedding_type="standard",
    )
    if backend == "hooked":
        return _hooked_transformer_copy(model, sizes)
    from transformer_lens.model_bridge import TransformerBridge

    copy = TransformerBridge.boot_native(TransformerBridgeConfig(**sizes))
    # The bridge's layers are nn.Linear's (out, in): each weight is the course's own, q, k and v cut out of qkv.
    weights = {"embed.weight": model.tok_emb.weight, "pos_embed.weight": model.pos_emb.weight}
    d = cfg.d_model
    for l, block in enumerate(model.blocks):
        mine = {"ln1": block.ln1, "ln2": block.ln2, "attn.o": block.attn.out, "mlp.in": block.mlp.fc}
        mine["mlp.out"] = block.mlp.proj
        for name, module in mine.items():
            weights[f"blocks.{l}.{name}.weight"], weights[f"blocks.{l}.{name}.bias"] = module.weight, module.bias
        for i, name in enumerate("qkv"):
            part = slice(i * d, (i + 1) * d)  # qkv's output rows: q, then k, then v
            weights[f"blocks.{l}.attn.{name}.weight"] = block.attn.qkv.weight[part]
            weights[f"blocks.{l}.attn.{name}.bias"] = block.attn.qkv.bias[part]
    weights["ln_final.weight"], weights["ln_final.bias"] = model.ln_f.weight, model.ln_f.bias
    weights["unembed.weight"], weights["unembed.bias"] = model.head.weight, model.head.bias
    with torch.no_grad():
        copy.load_state_dict({k: v.detach().clone() for k, v in weights.items()}, strict=True)
    return copy.eval()


def _hooked_transformer_copy(model: TinyTransformer, sizes: dict):
    """TL 3's HookedTransformer (removed in TL 4) with `model`'s weights, in its per-head layout:
    W_Q, W_K, W_V (H, D, Dh), W_O (H, Dh, D), W_in / W_out / W_U (in, out)."""
    try:
        from transformer_lens import HookedTransformer, HookedTransformerConfig
    except ImportError as error:
        raise ImportError("HookedTransformer is TransformerLens 3's (removed in 4): use backend='bridge'") from error

    copy = HookedTransformer(HookedTransformerConfig(**sizes))
    d, h = model.cfg.d_model, model.cfg.n_heads
    dh = d // h
    weights = {"embed.W_E": model.tok_emb.weight, "pos_embed.W_pos": model.pos_emb.weight}
    for l, block in enumerate(model.blocks):
        p = f"blocks.{l}."
        for name, ln in (("ln1", block.ln1), ("ln2", block.ln2)):
            weights[p + f"{name}.w"], weights[p + f"{name}.b"] = ln.weight, ln.bias
        for i, name in enumerate("QKV"):
            part = slice(i * d, (i + 1) * d)
            weights[p + f"attn.W_{name}"] = block.attn.qkv.weight[part].view(h, dh, d).transpose(1, 2)
            weights[p + f"attn.b_{name}"] = block.attn.qkv.bias[part].view(h, dh)
        weights[p + "attn.W_O"], weights[p + "attn.b_O"] = (
            block.attn.out.weight.T.reshape(h, dh, d),
            block.attn.out.bias,
        )
        weights[p + "mlp.W_in"], weights[p + "mlp.b_in"] = block.mlp.fc.weight.T, block.mlp.fc.bias
        weights[p + "mlp.W_out"], weights[p + "mlp.b_out"] = block.mlp.proj.weight.T, block.mlp.proj.bias
    weights["ln_final.w"], weights["ln_final.b"] = model.ln_f.weight, model.ln_f.bias
    weights["unembed.W_U"], weights["unembed.b_U"] = model.head.weight.T, model.head.bias
    state = copy.state_dict()  # its buffers (the causal mask) kept
    state.update({k: v.detach().clone().contiguous() for k, v in weights.items()})
    with torch.no_grad():
        copy.load_state_dict(state, strict=True)
    return copy.eval()
