"""
The multi-hop task: a classification whose information route through the model is known.

Each example is a short review of filler words with two to four polarity words that may disagree.
One word is a marker, "#"; the polarity word right after it decides the label, the others are
distractors:

    [CLS] the plot was great and # awful music really bad      -> negative (the word after "#")

The gold rationale is that one decisive word. `attnlab.zoo.multihop_model` trains a 3-layer model
on it with a routing constraint (an attention penalty, see there): `[CLS]` may look only at itself in
layers 0 and 1, and only at the marker in layer 2. So the decisive word can reach `[CLS]` only by
being copied into the marker's position first. The last layer's raw attention then points at the
marker, an intermediate token, not at the source word: the situation attention rollout was made for.

    >>> data = make_multihop_task(n=4, seed=0)
    >>> data.tokens.shape, data.rationale.shape, data.marker.shape
    (torch.Size([4, 16]), torch.Size([4, 16]), torch.Size([4, 16]))
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from attnlab.tasks.base import TokenDataset, check_sizes, pad_batch, pad_labels
from attnlab.tasks.rationale import FILLER, LABELS, NEGATIVE, POSITIVE
from attnlab.tasks.vocab import Vocab

MARKER = "#"
MAX_LEN = 16  # [CLS] + at most 15 words
MULTIHOP_VOCAB = Vocab.from_words(POSITIVE + NEGATIVE + FILLER + (MARKER,))

__all__ = ["LABELS", "MARKER", "MAX_LEN", "MULTIHOP_VOCAB", "MultihopData", "make_multihop_task"]


@dataclass(frozen=True)
class MultihopData(TokenDataset):
    labels: torch.Tensor  # (N,) 0 negative, 1 positive: the polarity of the word after the marker
    rationale: torch.Tensor  # (N, T) bool: the decisive word (the true source of the label)
    marker: torch.Tensor  # (N, T) bool: the marker "#" (the intermediate token)


def _example(rng: random.Random, min_words: int, max_words: int) -> tuple[list[str], int, int]:
    """(words, label, position of the marker among the words)."""
    n = rng.randint(min_words, max_words)
    words = [rng.choice(FILLER) for _ in range(n)]
    label = rng.randint(0, 1)
    marker = rng.randrange(n - 1)
    words[marker] = MARKER
    words[marker + 1] = rng.choice(POSITIVE if label else NEGATIVE)
    free = [i for i in range(n) if i not in (marker, marker + 1)]
    for i in rng.sample(free, rng.randint(1, 3)):  # distractors of either polarity
        words[i] = rng.choice(POSITIVE + NEGATIVE)
    return words, label, marker


def make_multihop_task(n: int = 2000, seed: int = 0, min_words: int = 8, max_words: int = MAX_LEN - 1) -> MultihopData:
    """n seeded examples; the same seed always gives the same tensors."""
    check_sizes(n, min_words, max_words, shortest=5, longest=MAX_LEN - 1)
    rng = random.Random(seed)
    rows, labels, rationales, markers = [], [], [], []
    for _ in range(n):
        words, label, m = _example(rng, min_words, max_words)
        rows.append([MULTIHOP_VOCAB.cls_id] + [MULTIHOP_VOCAB.index[w] for w in words])
        labels.append(label)
        positions = range(1, len(words) + 1)  # position 0 is [CLS]
        rationales.append([0] + [int(p == m + 2) for p in positions])
        markers.append([0] + [int(p == m + 1) for p in positions])
    return MultihopData(
        tokens=pad_batch(rows, MULTIHOP_VOCAB.pad_id, MAX_LEN),
        vocab=MULTIHOP_VOCAB,
        labels=torch.tensor(labels),
        rationale=pad_labels(rationales, MAX_LEN, 0).bool(),
        marker=pad_labels(markers, MAX_LEN, 0).bool(),
    )
