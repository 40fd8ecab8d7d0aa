"""A word-level vocabulary with the special tokens every task shares: [PAD]=0, [CLS]=1, [MASK]=2."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch

SPECIALS = ("[PAD]", "[CLS]", "[MASK]")


@dataclass(frozen=True)
class Vocab:
    words: tuple[str, ...]  # specials first, then the task's words
    index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if tuple(self.words[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a vocabulary starts with {SPECIALS}")
        if len(set(self.words)) != len(self.words):
            raise ValueError("a vocabulary lists each word once")
        object.__setattr__(self, "index", {w: i for i, w in enumerate(self.words)})

    @classmethod
    def from_words(cls, words: Sequence[str]) -> "Vocab":
        return cls(SPECIALS + tuple(dict.fromkeys(words)))

    pad_id = 0
    cls_id = 1
    mask_id = 2

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, sentence: str | Sequence[str], max_len: int | None = None) -> torch.Tensor:
        """Words -> (1, T) ids with [CLS] first. Unknown words raise a ValueError naming them."""
        words = sentence.split() if isinstance(sentence, str) else list(sentence)
        if words[:1] != ["[CLS]"]:
            words = ["[CLS]"] + words
        unknown = [w for w in words if w not in self.index]
        if unknown:
            raise ValueError(f"not in the vocabulary: {', '.join(map(repr, unknown))}")
        if max_len is not None and len(words) > max_len:
            raise ValueError(f"{len(words)} tokens with [CLS], but the model takes at most {max_len}")
        return torch.tensor([[self.index[w] for w in words]])

    def decode(self, ids: torch.Tensor | Sequence[int], keep_pad: bool = False) -> list[str]:
        """(T,) ids -> words, dropping [PAD] unless keep_pad."""
        return [self.words[i] for i in map(int, ids) if keep_pad or i != self.pad_id]
