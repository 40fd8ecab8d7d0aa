"""
Clean/corrupted pairs with a known answer, built from the course's tasks (their words and rules).

Each pair differs in one token and its label flips. Every pair follows one template, so a position
means the same thing in every pair and a (layer, position) sweep can be averaged over pairs:

- `negation_pairs` (the rationale task): "... not good ..." against "... very good ...": the "not" is
  replaced by an intensifier, one of the task's filler words. The difference enters the model at the
  "not" and nowhere else; the decision is read at [CLS]. Whatever the model does in between, the
  information has to travel from the "not" position to position 0.
- `multihop_pairs` (the multi-hop task): the decisive word after the marker "#" is swapped for a word
  of the other polarity. The multi-hop model was trained so that [CLS] looks only at itself in layers
  0 and 1 and only at the marker in layer 2 (attnlab.zoo.multihop_model): the route is decisive word
  -> marker (layer 0 or 1) -> [CLS] (layer 2), known by construction.

    pairs = negation_pairs(200, seed=0).where_model_is_right(model)
    result = activation_patching(model, pairs.clean, pairs.corrupt, pairs.metric(), "resid_pre")
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields, replace

import torch

from attnlab.patching.metrics import Metric, logit_difference
from attnlab.tasks.multihop import MARKER, MULTIHOP_VOCAB
from attnlab.tasks.rationale import FILLER, NEGATION, NEGATIVE, POSITIVE, RATIONALE_VOCAB, label_of
from attnlab.tasks.vocab import Vocab

INTENSIFIERS = ("very", "really", "quite")  # filler words of the rationale task that fit where "not" stood


@dataclass(frozen=True)
class PatchingPairs:
    clean: torch.Tensor  # (N, T) token ids, [CLS] first, no padding
    corrupt: torch.Tensor  # (N, T) the same with one token changed
    clean_labels: torch.Tensor  # (N,)
    corrupt_labels: torch.Tensor  # (N,) = 1 - clean_labels: the change flips the label
    vocab: Vocab
    roles: dict[str, int]  # named positions, the same in every pair, e.g. {"[CLS]": 0, "not": 5, ...}

    def __len__(self) -> int:
        return self.clean.shape[0]

    def metric(self) -> Metric:
        """The logit difference clean label minus corrupted label, one value per pair."""
        return logit_difference(self.clean_labels, self.corrupt_labels)

    def words(self, i: int, corrupt: bool = False) -> list[str]:
        return self.vocab.decode((self.corrupt if corrupt else self.clean)[i])

    def position_names(self) -> list[str]:
        """One label per position for figures: the role's name where a role sits, the position elsewhere."""
        names = [str(t) for t in range(self.clean.shape[1])]
        for role, t in self.roles.items():
            names[t] = role
        return names

    def subset(self, index: torch.Tensor | slice | list[int]) -> PatchingPairs:
        return replace(
            self,
            **{
                f.name: getattr(self, f.name)[index]
                for f in fields(self)
                if isinstance(getattr(self, f.name), torch.Tensor)
            },
        )

    @torch.no_grad()
    def where_model_is_right(self, model) -> PatchingPairs:
        """The pairs whose clean and corrupted inputs the model both classifies right."""
        right = (model(self.clean).logits.argmax(-1) == self.clean_labels) & (
            model(self.corrupt).logits.argmax(-1) == self.corrupt_labels
        )
        return self.subset(right.nonzero()[:, 0])


def _encode(vocab: Vocab, rows: list[list[str]]) -> torch.Tensor:
    return torch.tensor([[vocab.cls_id] + [vocab.index[w] for w in row] for row in rows])


def _pairs(
    vocab: Vocab, clean: list[list[str]], corrupt: list[list[str]], labels: list[int], roles: dict[str, int]
) -> PatchingPairs:
    """Pairs from word lists; the corrupted sentence of each pair has the other label."""
    return PatchingPairs(
        clean=_encode(vocab, clean),
        corrupt=_encode(vocab, corrupt),
        clean_labels=torch.tensor(labels),
        corrupt_labels=1 - torch.tensor(labels),
        vocab=vocab,
        roles=roles,
    )


def _check_template(n: int, n_words: int, position: int, lowest: int, longest: int) -> None:
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if not lowest <= position <= n_words <= longest:
        raise ValueError(
            f"need {lowest} <= position <= n_words <= {longest}, got position {position}, n_words {n_words}"
        )


def negation_pairs(n: int = 200, seed: int = 0, n_words: int = 8, position: int = 6) -> PatchingPairs:
    """n seeded pairs of n_words-word reviews: clean has "not" right before a polarity word at token
    position `position` ([CLS] is 0), corrupt an intensifier there. Every other word is filler."""
    _check_template(n, n_words, position, lowest=2, longest=15)
    rng = random.Random(seed)
    neutral = [w for w in FILLER if w not in INTENSIFIERS]
    clean, corrupt = [], []
    for _ in range(n):
        words = [rng.choice(neutral) for _ in range(n_words)]
        words[position - 1] = rng.choice(POSITIVE + NEGATIVE)  # word index = token position - 1
        words[position - 2] = NEGATION
        clean.append(words)
        corrupt.append(words[: position - 2] + [rng.choice(INTENSIFIERS)] + words[position - 1 :])
    labels = [label_of(words) for words in clean]
    assert all(label_of(c) == 1 - y for c, y in zip(corrupt, labels))  # the rule: "not" flips the word
    return _pairs(RATIONALE_VOCAB, clean, corrupt, labels, {"[CLS]": 0, "not": position - 1, "polarity word": position})


def multihop_pairs(n: int = 200, seed: int = 0, n_words: int = 10, position: int = 4) -> PatchingPairs:
    """n seeded pairs of multi-hop reviews with the marker "#" at token position `position` and the
    decisive word right after it; corrupt swaps the decisive word for one of the other polarity.
    One to three distractor polarity words of either polarity sit elsewhere, as in the task."""
    _check_template(n, n_words, position, lowest=1, longest=15)
    if position >= n_words:
        raise ValueError(f"the decisive word follows the marker: position must be below n_words ({n_words})")
    rng = random.Random(seed)
    clean, corrupt, labels = [], [], []
    for _ in range(n):
        label = rng.randint(0, 1)
        words = [rng.choice(FILLER) for _ in range(n_words)]
        words[position - 1] = MARKER
        free = [i for i in range(n_words) if i not in (position - 1, position)]
        for i in rng.sample(free, rng.randint(1, 3)):
            words[i] = rng.choice(POSITIVE + NEGATIVE)
        words[position] = rng.choice(POSITIVE if label else NEGATIVE)
        clean.append(words)
        corrupt.append(words[:position] + [rng.choice(NEGATIVE if label else POSITIVE)] + words[position + 1 :])
        labels.append(label)
    return _pairs(MULTIHOP_VOCAB, clean, corrupt, labels, {"[CLS]": 0, "#": position, "decisive": position + 1})
