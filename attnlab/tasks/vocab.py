"""
The token conventions every task, the model and every metric share, in one place:

- the special tokens and their ids: [PAD]=0, [CLS]=1, [MASK]=2, then the task's words;
- a batch of token ids is (B, T) with [CLS] at position 0 and [PAD] after the sentence, so the
  words of a sentence are its real tokens after position 0 (`word_mask`);
- Vocab: a word-level vocabulary that starts with the special tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

SPECIALS = ("[PAD]", "[CLS]", "[MASK]")
PAD_ID, CLS_ID, MASK_ID = range(len(SPECIALS))


def word_mask(tokens: torch.Tensor, pad_id: int = PAD_ID) -> torch.Tensor:
    """(B, T) bool: the words, i.e. the real tokens other than [CLS] at position 0."""
    words = tokens != pad_id
    words[:, 0] = False
    return words


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
    def from_words(cls, words: Sequence[str]) -> Vocab:
        return cls(SPECIALS + tuple(dict.fromkeys(words)))

    pad_id = PAD_ID
    cls_id = CLS_ID
    mask_id = MASK_ID

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
