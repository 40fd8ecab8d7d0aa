"""
Perturbation baselines, which need no access to the model's insides:

- LeaveOneOut: delete each word in turn and measure how much the target class's probability drops
  (the "blank-out" importance of Abnar & Zuidema, 2020; Jain & Wallace, 2019 use |Δŷ|).
- RandomBaseline: seeded uniform random scores, the floor every method must beat.
"""

from __future__ import annotations

import torch

from attnlab.attribution.base import Attribution, explained_logits
from attnlab.interventions import check_erase_mode, erase_tokens
from attnlab.models import TinyTransformer


class LeaveOneOut(Attribution):
    """score_t = p(target | x) - p(target | x without word t); [CLS] and padding score 0.

    mode: how a word is removed ("delete", "pad" or "mask"; see attnlab.interventions.erase_tokens).
    measure: "prob" (softmax probability of the target) or "logit" (the target logit).
    All B·T variants run in one forward pass.
    """

    name = "leave-one-out"

    def __init__(self, model: TinyTransformer, mode: str = "delete", measure: str = "prob") -> None:
        super().__init__(model)
        check_erase_mode(mode)
        if measure not in ("prob", "logit"):
            raise ValueError(f"measure must be 'prob' or 'logit', got {measure!r}")
        self.mode, self.measure = mode, measure

    def _value(self, tokens: torch.Tensor, target: torch.Tensor, position: int) -> torch.Tensor:
        logits = explained_logits(self.model, self.model(tokens), position)  # (N, C)
        values = logits.softmax(-1) if self.measure == "prob" else logits
        return values.gather(1, target[:, None])[:, 0]  # (N,)

    @torch.no_grad()
    def _attribute(self, tokens, target, mask, position):
        B, T = tokens.shape
        tokens = tokens.masked_fill(~mask, self.model.cfg.pad_id)  # what the mask leaves out is not there
        erase = (
            torch.eye(T, dtype=torch.bool, device=tokens.device).expand(B, T, T) & mask[:, None, :]
        )  # (B, T variants, T)
        variants = erase_tokens(tokens[:, None].expand(B, T, T).reshape(B * T, T), erase.reshape(B * T, T), self.mode)
        full = self._value(tokens, target, position)  # (B,)
        erased = self._value(variants, target.repeat_interleave(T), position).view(B, T)  # (B, T)
        scores = full[:, None] - erased  # (B, T)
        scores[:, 0] = 0.0  # [CLS] is never removed
        return scores


class RandomBaseline(Attribution):
    """Uniform random scores in [0, 1), seeded per example from its token ids.

    The same seed and sentence always get the same scores, whatever batch the sentence is in.
    """

    name = "random"

    def __init__(self, model: TinyTransformer, seed: int = 0) -> None:
        super().__init__(model)
        self.seed = seed

    def _attribute(self, tokens, target, mask, position):
        scores = torch.zeros(tokens.shape)
        for i, (row, real) in enumerate(zip(tokens.tolist(), mask.tolist())):
            words = [t for t, keep in zip(row, real) if keep]  # padding does not change the scores
            generator = torch.Generator().manual_seed(hash((self.seed, *words)) % 2**63)  # int hashing is not salted
            scores[i, torch.tensor(real)] = torch.rand(len(words), generator=generator)
        return scores  # (B, T)
