"""
A course model's weights in a Hugging Face GPT-2 of the same architecture: the bridge from the mini-models,
where the ground truth is known, to the library students use. The copy is built from a config (nothing is
downloaded) and, wrapped with causal=False and readout=0, computes what the course's model computes.

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
