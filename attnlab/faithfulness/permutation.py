"""
Permuted attention (Jain & Wallace 2019): shuffle the attention weights over the real tokens, keep
everything else, and measure how much the output moves.

For each example: the median, over permutations, of |p(y | permuted) - p(y | original)|, with y the
predicted class. With two classes this is the total variation distance of the two output
distributions, the quantity Jain & Wallace plot against the largest attention weight.

Which attention: every head of one layer (default: the last), every row shuffled among the words. In
the last layer only the [CLS] row reaches the classifier, so this is Jain & Wallace's single attention
vector. Which keys are shuffled: keys="words" (default) leaves the weight on [CLS] itself in place, as
Jain & Wallace permute over the words and leave out the SOS/EOS tokens; keys="all" shuffles among every
real token, [CLS] included (the same as `replace_attention(mode="permute")`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from attnlab.faithfulness.ablation import cls_attention
from attnlab.faithfulness.scores import require_classifier
from attnlab.interventions import replace_attention
from attnlab.models import TinyTransformer
from attnlab.tasks.vocab import word_mask

KEYS = ("words", "all")


@dataclass
class PermutationEffect:
    median_change: torch.Tensor  # (B,) median over permutations of |delta p(y)|
    flip_share: torch.Tensor  # (B,) share of permutations that change the predicted class
    max_attention: torch.Tensor  # (B,) largest head-mean [CLS] attention weight on a word in that layer
    n_permutations: int


def shuffle_rows(pattern: torch.Tensor, allowed: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each row's weights shuffled among its allowed keys; every other key keeps its weight.

    pattern: (B, H, T, T); allowed: broadcastable to it, True where a key takes part in the shuffle.
    """
    allowed = allowed.expand_as(pattern)
    # Disallowed keys sort last, in their own order (stable sorts), so they are written back in place.
    noise = torch.rand(pattern.shape, generator=generator).masked_fill(~allowed, 2.0)  # (B, H, T, T)
    order = noise.argsort(dim=-1, stable=True)  # allowed keys in a random order, then the rest in order
    slots = allowed.float().argsort(dim=-1, descending=True, stable=True)  # allowed keys in order, then the rest
    return torch.zeros_like(pattern).scatter_(-1, slots, pattern.gather(-1, order))


def permutation_effect(
    model: TinyTransformer,
    tokens: torch.Tensor,
    n_permutations: int = 100,
    layer: int = -1,
    seed: int = 0,
    keys: str = "words",
) -> PermutationEffect:
    """Run the model `n_permutations` times with the chosen layer's attention shuffled (seeds seed, seed+1, ...).

    keys: "words" shuffles among the words only ([CLS]'s own weight stays, as Jain & Wallace leave out
    SOS/EOS); "all" among every real token.
    """
    require_classifier(model)
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be at least 1, got {n_permutations}")
    if keys not in KEYS:
        raise ValueError(f"keys must be one of {KEYS}, got {keys!r}")
    real = tokens != model.cfg.pad_id  # (B, T)
    allowed = (word_mask(tokens, model.cfg.pad_id) if keys == "words" else real)[:, None, None, :]  # (B, 1, 1, T)
    with torch.no_grad():
        out = model(tokens)
        pattern = out.attentions[layer]  # (B, H, T, T): earlier layers are untouched, so this is what it sees
        probs = out.logits.softmax(-1)  # (B, C)
        y = probs.argmax(-1)  # (B,)
        p0 = probs.gather(1, y[:, None])[:, 0]  # (B,)
        changes, flips = [], []
        for s in range(n_permutations):
            shuffled = shuffle_rows(pattern, allowed, torch.Generator().manual_seed(seed + s))
            with replace_attention(model, "given", layers=[layer], attention=shuffled):
                permuted = model(tokens).logits.softmax(-1)  # (B, C)
            changes.append((permuted.gather(1, y[:, None])[:, 0] - p0).abs())
            flips.append(permuted.argmax(-1) != y)
    cls_row = cls_attention(out.attentions, layer).masked_fill(
        ~word_mask(tokens, model.cfg.pad_id), 0.0
    )  # (B, T), words only
    return PermutationEffect(
        median_change=torch.stack(changes).quantile(0.5, dim=0),  # (B,)
        flip_share=torch.stack(flips).float().mean(0),  # (B,)
        max_attention=cls_row.max(1).values,
        n_permutations=n_permutations,
    )


def p_with_cls_row(model: TinyTransformer, tokens: torch.Tensor, row: torch.Tensor) -> float:
    """p(predicted class) of one sentence (1, T) when the last layer's [CLS] row becomes row (H, T)."""
    with torch.no_grad():
        original = model(tokens)
        y = original.logits.argmax(-1)[0]
        pattern = original.attentions[-1].clone()  # (1, H, T, T)
        pattern[0, :, 0] = row
        with replace_attention(model, "given", layers=[-1], attention=pattern):
            return model(tokens).logits.softmax(-1)[0, y].item()


def keeps_prediction(
    model: TinyTransformer, tokens: torch.Tensor, perm: object, tolerance: float, keys: str = "words"
) -> bool:
    """
    Is `perm` a permutation of the n real tokens of one sentence (1, T), other than the identity, that
    moves p(y) by at most `tolerance` when applied to every head's last-layer [CLS] row? With
    keys="words" (default, as Jain & Wallace) it must leave position 0, [CLS], in place.
    """
    if keys not in KEYS:
        raise ValueError(f"keys must be one of {KEYS}, got {keys!r}")
    n = int((tokens != model.cfg.pad_id).sum())
    if type(perm) is not torch.Tensor or perm.dim() != 1 or perm.dtype not in (torch.int64, torch.int32):
        return False
    if sorted(perm.tolist()) != list(range(n)) or perm.tolist() == list(range(n)):
        return False
    if keys == "words" and perm[0].item() != 0:
        return False
    with torch.no_grad():
        row = model(tokens).attentions[-1, 0, :, 0]  # (H, T)
    new_row = row.clone()
    new_row[:, :n] = row[:, perm]
    return abs(p_with_cls_row(model, tokens, new_row) - p_with_cls_row(model, tokens, row)) <= tolerance + 1e-6
