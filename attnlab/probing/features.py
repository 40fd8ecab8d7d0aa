"""
What a probe reads: hidden states per token and attention weights per token pair.

- `extract_features` runs the model once (no gradients) and keeps every layer's hidden states and
  attention weights.
- `attention_pair_features` turns the attention maps into one feature vector per token pair (i, j):
  the weight i -> j and the weight j -> i of every chosen layer and head, the inputs of Clark et al.
  (2019)'s attention-only probe.
- `attention_token_features` gives one feature vector per *word*, for properties of single words
  (POS): how much the word attends to, and is attended by, its neighbours at fixed offsets and [CLS],
  in every chosen layer and head. Attention describes pairs of words; this is the natural way to ask
  a single word's property of it (how a word's attention looks is what a head "sees" of it).
- `random_model_like` builds the untrained baseline: the same architecture, seeded, never trained.

Shapes: N sentences, T tokens, D d_model, L layers, H heads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from attnlab.models import TinyTransformer


@dataclass(frozen=True)
class ModelFeatures:
    hidden: torch.Tensor  # (L+1, N, T, D); index 0 is the embeddings, index l the output of layer l-1
    attentions: torch.Tensor  # (L, N, H, T, T); rows are queries, columns keys
    mask: torch.Tensor  # (N, T) bool, True on real tokens

    @property
    def n_layers(self) -> int:
        return self.attentions.shape[0]


@torch.no_grad()
def extract_features(model: TinyTransformer, tokens: torch.Tensor, batch_size: int = 500) -> ModelFeatures:
    """Hidden states and attention weights of every layer for a batch of sentences (unmasked input)."""
    was_training = model.training
    model.eval()  # probes read the model as it is used, without dropout or other training noise
    hidden, attentions, masks = [], [], []
    for start in range(0, len(tokens), batch_size):
        out = model(tokens[start : start + batch_size])
        hidden.append(out.hidden_states)  # (L+1, b, T, D)
        attentions.append(out.attentions)  # (L, b, H, T, T)
        masks.append(out.mask)  # (b, T)
    model.train(was_training)
    return ModelFeatures(torch.cat(hidden, 1), torch.cat(attentions, 1), torch.cat(masks, 0))


def attention_pair_features(attentions: torch.Tensor, layers: Sequence[int] | None = None) -> torch.Tensor:
    """(L, N, H, T, T) attention -> (N, T, T, 2 * len(layers) * H) features for every pair (i, j).

    Feature k < len(layers) * H is A[l, h, i, j] ("i attends to j"), the rest A[l, h, j, i] ("j attends
    to i"): a dependent may look at its head, or the head at its dependent, and a probe may use both.
    """
    layers = list(range(attentions.shape[0])) if layers is None else list(layers)
    chosen = attentions[layers]  # (l, N, H, T, T)
    forward = chosen.permute(1, 3, 4, 0, 2).flatten(3)  # (N, T, T, l*H): [n, i, j] = A[., n, ., i, j]
    backward = forward.transpose(1, 2)  # (N, T, T, l*H): [n, i, j] = A[., n, ., j, i]
    return torch.cat([forward, backward], dim=-1)


def attention_token_features(
    attentions: torch.Tensor, layers: Sequence[int] | None = None, offsets: Sequence[int] = range(-3, 4)
) -> torch.Tensor:
    """(L, N, H, T, T) attention -> (N, T, 2 * (len(offsets) + 1) * len(layers) * H) features per token.

    For token i: A[i, i+o] (i attends to its neighbour at offset o, 0 outside the sentence) and
    A[i+o, i] (the neighbour attends to i) for every offset o, then A[i, 0] and A[0, i] ([CLS]).
    """
    layers = list(range(attentions.shape[0])) if layers is None else list(layers)
    chosen = attentions[layers].permute(1, 0, 2, 3, 4).flatten(1, 2)  # (N, l*H, T, T)
    N, K, T, _ = chosen.shape
    i = torch.arange(T)
    columns = []
    for o in list(offsets) + [None]:  # None: [CLS] (position 0)
        j = torch.zeros(T, dtype=torch.long) if o is None else i + o  # (T,) the partner of each token
        inside = (j >= 0) & (j < T)  # (T,)
        jc = j.clamp(0, T - 1)
        out_w = chosen[:, :, i, jc] * inside  # (N, K, T): A[i, j]
        in_w = chosen[:, :, jc, i] * inside  # (N, K, T): A[j, i]
        columns += [out_w, in_w]
    return torch.stack(columns, -1).permute(0, 2, 1, 3).flatten(2)  # (N, T, K * 2 * (len(offsets)+1))


def random_model_like(model: TinyTransformer, seed: int = 0) -> TinyTransformer:
    """The same architecture with seeded random weights: what a probe finds without any training."""
    if not isinstance(model, TinyTransformer):
        raise TypeError(
            f"random_model_like re-initialises a TinyTransformer, not a {type(model).__name__}: for a wrapped model, "
            "build the same architecture from its config with a seed and wrap that"
        )
    with torch.random.fork_rng():  # do not disturb the caller's random stream
        torch.manual_seed(seed)
        return TinyTransformer(model.cfg).eval()
