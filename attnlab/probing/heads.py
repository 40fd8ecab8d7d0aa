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

The best of k heads (or offsets) scored on the words it was picked on is biased upward: it is the
maximum of k noisy estimates, and an interval on those same words carries the same bias. Pick on one
split and score on another: `held_out_best_head`, `held_out_best_offset`.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass
class HeldOutChoice:
    """A head (or offset) picked on one split and scored on another."""

    choice: tuple  # (layer, head) for a head, (offset,) for an offset
    transposed: bool  # the head's direction (False for offsets)
    selection_accuracy: float  # on the split it was picked on: biased upward, do not report it as the result
    correct: torch.Tensor  # (M,) bool, on the evaluation split: report this, with its interval


def held_out_best_head(
    select_attentions: torch.Tensor,
    select_task: ProbingTask,
    eval_attentions: torch.Tensor,
    eval_task: ProbingTask,
    both_directions: bool = False,
) -> HeldOutChoice:
    """The most accurate head on (select_attentions, select_task), (L, N, H, T, T), scored on the
    evaluation split's words; with both_directions the better direction is picked on the selection
    split too. Ties go to the first head in layer-major order."""
    if select_attentions.shape[0] != eval_attentions.shape[0] or select_attentions.shape[2] != eval_attentions.shape[2]:
        raise ValueError(
            f"the two splits must come from one model: layers x heads {select_attentions.shape[0]} x "
            f"{select_attentions.shape[2]} vs {eval_attentions.shape[0]} x {eval_attentions.shape[2]}"
        )
    if both_directions:
        accuracy, transposed = head_accuracy_both(select_attentions, select_task)
    else:
        accuracy = head_accuracy(select_attentions, select_task)
        transposed = torch.zeros_like(accuracy, dtype=torch.bool)
    flat = int(accuracy.flatten().argmax())  # argmax returns the first maximum
    layer, head = divmod(flat, accuracy.shape[1])
    direction = bool(transposed[layer, head])
    b, i = eval_task.queries()
    picked = head_predictions(eval_attentions, eval_task, transpose=direction)[layer, head]  # (M,)
    return HeldOutChoice((layer, head), direction, float(accuracy[layer, head]), picked == eval_task.labels[b, i])


def held_out_best_offset(
    select_task: ProbingTask, eval_task: ProbingTask, offsets: range = range(-3, 4)
) -> HeldOutChoice:
    """The best fixed offset ("the word at i + offset") on the selection split, scored on the evaluation split."""
    accuracy = fixed_offset_accuracy(select_task, offsets)
    offset = max(accuracy, key=accuracy.get)  # the first of equals, in the order of `offsets`
    b, i = eval_task.queries()
    return HeldOutChoice((offset,), False, accuracy[offset], (i + offset) == eval_task.labels[b, i])
