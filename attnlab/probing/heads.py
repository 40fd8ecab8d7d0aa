"""
Every attention head as a classifier on its own (Clark et al., 2019).

Head (l, h) predicts that word i's dependency head (or a pronoun's antecedent) is the candidate it
attends to most: argmax_j A[l, h, i, j] over the task's candidates, the word itself excluded. With
transpose=True the roles swap: the answer is the candidate that attends most to i, argmax_j A[l, h, j, i]
(a head word may look at its dependents rather than the other way round). Accuracy per head gives a
layer x head map; no training is involved, so nothing can be memorised.

Clark et al. (2019) score every head in both directions and keep the better one (per head, and per
relation when they report relations): `head_accuracy_both` does that. Reporting only one direction
understates heads that look from the head word to its dependents.
"""

from __future__ import annotations

import torch

from attnlab.probing.tasks import ProbingTask


def head_predictions(attentions: torch.Tensor, task: ProbingTask, transpose: bool = False) -> torch.Tensor:
    """attentions (L, N, H, T, T) -> (L, H, M) the position each head picks for each of the M queries."""
    if not task.is_pair:
        raise ValueError(f"single heads answer pair tasks (which word does i point to?), not {task.name!r}")
    b, i = task.queries()  # (M,), (M,)
    if transpose:
        attentions = attentions.transpose(-1, -2)  # [.., i, j] is now how much j attends to i
    rows = attentions.permute(1, 3, 0, 2, 4)[b, i]  # (M, L, H, T): what each query word attends to
    allowed = task.candidates[b, i].clone()  # (M, T)
    allowed[torch.arange(len(i)), i] = False  # attending to oneself is not an answer (Clark et al. drop it too)
    rows = rows.masked_fill(~allowed[:, None, None, :], -1.0)  # weights are >= 0, so -1 never wins
    return rows.argmax(-1).permute(1, 2, 0)  # (L, H, M)


def head_accuracy(attentions: torch.Tensor, task: ProbingTask, transpose: bool = False) -> torch.Tensor:
    """(L, H) share of the task's words for which each head's most-attended candidate is the gold one."""
    b, i = task.queries()
    gold = task.labels[b, i]  # (M,)
    return (head_predictions(attentions, task, transpose) == gold).float().mean(-1)


def head_accuracy_both(attentions: torch.Tensor, task: ProbingTask) -> tuple[torch.Tensor, torch.Tensor]:
    """((L, H) accuracy of the better direction per head, (L, H) bool: True where the transposed one won)."""
    forward = head_accuracy(attentions, task)
    backward = head_accuracy(attentions, task, transpose=True)
    return torch.maximum(forward, backward), backward > forward


def best_heads(accuracy: torch.Tensor, k: int = 3) -> list[tuple[int, int, float]]:
    """The k most accurate heads of an (L, H) map, as (layer, head, accuracy), best first."""
    top = accuracy.flatten().topk(min(k, accuracy.numel()))
    H = accuracy.shape[1]
    return [(int(f) // H, int(f) % H, float(v)) for v, f in zip(top.values, top.indices)]


def fixed_offset_accuracy(task: ProbingTask, offsets: range = range(-3, 4)) -> dict[int, float]:
    """Baseline without any model: answer "the word at i + offset" (Clark et al. compare with this)."""
    b, i = task.queries()
    gold = task.labels[b, i]
    return {o: ((i + o) == gold).float().mean().item() for o in offsets if o != 0}
