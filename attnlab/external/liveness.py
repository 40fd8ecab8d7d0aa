"""
Is an edit of the attention pattern really used by the model? Some backends call their hooks after the
fact (TransformerLens 4's BERT bridge, nnsight's attention outputs): a hook reads the pattern, but what
it returns is ignored. Reading stays right there; changing attention (replace_attention, AttnLRP's rule
at the pattern) would silently give another answer. So every wrapped model is probed once, at
construction, and `pattern_writable` tells the methods (attnlab.models.require_writable_pattern).
"""

from __future__ import annotations

import torch

from attnlab.models import HookedTransformerModel


def probe_tokens(model: HookedTransformerModel, length: int = 3) -> torch.Tensor:
    """(1, length) ids of real tokens (never the pad id): a batch every model accepts."""
    pad = model.cfg.pad_id
    ids = [t for t in range(min(model.cfg.vocab_size, length + 1)) if t != pad][:length]
    return torch.tensor([ids])


@torch.no_grad()
def pattern_edits_reach_output(model: HookedTransformerModel) -> bool:
    """True when zeroing every layer's attention pattern through hook_pattern changes the logits.

    With every pattern zero each head's output z is zero, so only the output projection's bias is left
    of attention: a model that still gives the same logits did not use what the hook returned.
    """
    tokens = probe_tokens(model)
    plain = model(tokens).logits
    zero = (lambda name: name.endswith("attn.hook_pattern"), lambda pattern, hook: torch.zeros_like(pattern))
    with model.hooks([zero]):
        edited = model(tokens).logits
    return not torch.equal(plain, edited)


def mark_pattern_liveness(model: HookedTransformerModel) -> HookedTransformerModel:
    """Probe the model and set `model.pattern_writable`; returns the model."""
    model.pattern_writable = pattern_edits_reach_output(model)
    return model
