"""
The rationale task: is a short review positive or negative? The answer is decided by one or two
polarity words ("great", "awful"), each flipped by a "not" directly in front of it. Everything else is
filler, including distractors: a "not" in front of a filler word (it changes nothing) and neutral
adjectives ("long", "loud") that look like opinions but are not.

Because the rule is known, so is the gold rationale of every example: the polarity words and the
"not"s that flip them. A faithful explanation of a model that learned the rule must point there.

    >>> data = make_rationale_task(n=4, seed=0)
    >>> data.tokens.shape, data.labels.shape, data.rationale.shape
    (torch.Size([4, 16]), torch.Size([4]), torch.Size([4, 16]))
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from attnlab.tasks.base import TokenDataset, check_sizes, pad_batch, pad_labels
from attnlab.tasks.vocab import Vocab

POSITIVE = ("good", "great", "excellent", "wonderful", "superb")
NEGATIVE = ("bad", "awful", "terrible", "boring", "dull")
NEGATION = "not"
FILLER = (
    "the", "movie", "film", "plot", "actors", "was", "is", "and", "it", "story", "music", "scenes",
    "ending", "with", "this", "acting", "really", "very", "quite", "seemed", "overall", "long", "loud",
    "new", "old", "short", "slow",
)  # fmt: skip
LABELS = ("negative", "positive")
MAX_LEN = 16  # [CLS] + at most 15 words

RATIONALE_VOCAB = Vocab.from_words(POSITIVE + NEGATIVE + (NEGATION,) + FILLER)


@dataclass(frozen=True)
class RationaleData(TokenDataset):
    labels: torch.Tensor  # (N,) 0 negative, 1 positive
    rationale: torch.Tensor  # (N, T) bool: polarity words and the "not"s that flip them
    distractor: torch.Tensor  # (N, T) bool: "not"s in front of filler words (they flip nothing)


def label_of(words: list[str]) -> int:
    """The task's rule, applied to a list of words: the ground truth the model must learn."""
    votes = []
    for i, w in enumerate(words):
        if w in POSITIVE or w in NEGATIVE:
            positive = w in POSITIVE
            if i > 0 and words[i - 1] == NEGATION:
                positive = not positive
            votes.append(positive)
    if not votes or len(set(votes)) != 1:
        raise ValueError(f"not a valid example (polarity words must agree): {' '.join(words)}")
    return int(votes[0])


def _example(rng: random.Random, min_words: int, max_words: int) -> tuple[list[str], int, list[bool], list[bool]]:
    n = rng.randint(min_words, max_words)
    words = [rng.choice(FILLER) for _ in range(n)]
    rationale = [False] * n
    label = rng.randint(0, 1)
    n_keys = rng.choice((1, 1, 2))
    # Key words sit at positions >= 1 so that a negation can always go in front; keep them 3 apart.
    slots = list(range(1, n))
    rng.shuffle(slots)
    keys: list[int] = []
    for s in slots:
        if all(abs(s - k) >= 3 for k in keys):
            keys.append(s)
        if len(keys) == n_keys:
            break
    for k in keys:
        negated = rng.random() < 0.4
        positive_word = bool(label) != negated
        words[k] = rng.choice(POSITIVE if positive_word else NEGATIVE)
        rationale[k] = True
        if negated:
            words[k - 1] = NEGATION
            rationale[k - 1] = True
    distractor = [False] * n
    if rng.random() < 0.5:  # a "not" that flips nothing: in front of a filler word, away from keys
        free = [
            i for i in range(n - 1) if not rationale[i] and not rationale[i + 1] and (i == 0 or not rationale[i - 1])
        ]
        if free:
            i = rng.choice(free)
            words[i] = NEGATION
            distractor[i] = True
    assert label_of(words) == label
    return words, label, rationale, distractor


def make_rationale_task(
    n: int = 2000, seed: int = 0, min_words: int = 6, max_words: int = MAX_LEN - 1
) -> RationaleData:
    """n seeded examples; the same seed always gives the same tensors."""
    check_sizes(n, min_words, max_words, shortest=4, longest=MAX_LEN - 1)
    rng = random.Random(seed)
    rows, labels, rationales, distractors = [], [], [], []
    for _ in range(n):
        words, label, rationale, distractor = _example(rng, min_words, max_words)
        rows.append([RATIONALE_VOCAB.cls_id] + [RATIONALE_VOCAB.index[w] for w in words])
        labels.append(label)
        rationales.append([0] + rationale)
        distractors.append([0] + distractor)
    width = MAX_LEN
    tokens = pad_batch(rows, RATIONALE_VOCAB.pad_id, width)
    return RationaleData(
        tokens=tokens,
        vocab=RATIONALE_VOCAB,
        labels=torch.tensor(labels),
        rationale=pad_labels(rationales, width, 0).bool(),
        distractor=pad_labels(distractors, width, 0).bool(),
    )
