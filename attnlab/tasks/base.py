"""What every synthetic data set shares: padded token ids, a vocabulary, per-example tensors, and
hiding one word per sentence behind [MASK] (how the masked LM is scored and probed)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch

from attnlab.tasks.vocab import Vocab


@dataclass(frozen=True)
class TokenDataset:
    tokens: torch.Tensor  # (N, T) ids, [CLS] at position 0, [PAD] after the sentence
    vocab: Vocab

    def __len__(self) -> int:
        return self.tokens.shape[0]

    @property
    def mask(self) -> torch.Tensor:
        """(N, T) bool, True on real tokens."""
        return self.tokens != self.vocab.pad_id

    def sentence(self, i: int) -> list[str]:
        """Example i as words, [CLS] included, padding dropped."""
        return self.vocab.decode(self.tokens[i])

    def subset(self, index: torch.Tensor | slice | list[int]):
        """The same data set restricted to some examples; every per-example tensor is indexed alike."""
        changes = {
            f.name: getattr(self, f.name)[index]
            for f in fields(self)
            if isinstance(getattr(self, f.name), torch.Tensor)
        }
        return replace(self, **changes)

    def split(self, n_train: int):
        """(first n_train examples, the rest): the held-out part never overlaps the training part."""
        if not 0 < n_train < len(self):
            raise ValueError(f"n_train must be between 1 and {len(self) - 1}, got {n_train}")
        return self.subset(slice(0, n_train)), self.subset(slice(n_train, None))


def pad_batch(rows: list[list[int]], pad_id: int, width: int) -> torch.Tensor:
    """Lists of ids -> (N, width) tensor padded on the right. A fixed width keeps every split alike."""
    if max(len(r) for r in rows) > width:
        raise ValueError(f"a row is longer than the width {width}")
    return torch.tensor([r + [pad_id] * (width - len(r)) for r in rows], dtype=torch.long)


def pad_labels(rows: list[list[int]], width: int, fill: int) -> torch.Tensor:
    """Per-token labels -> (N, width) tensor, `fill` where there is no token."""
    return torch.tensor([r + [fill] * (width - len(r)) for r in rows], dtype=torch.long)


def check_sizes(n: int, min_words: int, max_words: int, shortest: int, longest: int) -> None:
    """The arguments every sentence generator takes: how many sentences, and the range of their lengths."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if not shortest <= min_words <= max_words <= longest:
        raise ValueError(f"need {shortest} <= min_words <= max_words <= {longest}")


def mask_one_word(data: TokenDataset, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Hide one random word per sentence behind [MASK], as in masked-LM training.

    Returns (masked tokens (N, T), hidden (N, T) bool, True at the masked word). The representation at
    a masked word can only know about that word what the model inferred from the context, so the
    word's identity no longer gives its properties away.
    """
    generator = torch.Generator().manual_seed(seed)
    lengths = data.mask.sum(1)  # (N,) real tokens, [CLS] included
    position = 1 + (torch.rand(len(data), generator=generator) * (lengths - 1)).long()  # (N,) a word each
    hidden = torch.zeros_like(data.mask)
    hidden[torch.arange(len(data)), position] = True
    return data.tokens.masked_fill(hidden, data.vocab.mask_id), hidden
