"""
Training the linear probe families without autograd: the gradient of their loss in closed form, and
Adam written out as torch.optim.Adam computes it (attnlab.adam).

A linear probe's scores are linear in its weights, and the gradient of the softmax cross-entropy with
respect to the scores is softmax(scores) - onehot(label). So each training step is two batched matrix
products forward and two back, for every probe at once, where autograd, torch.func.vmap and
torch.optim spend most of a step on bookkeeping around products this small. The probes are the ones
autograd would train: the same loss (the sum over probes of each probe's mean cross-entropy), the same
initialisation, the same Adam update; only the rounding of the sums differs.

Shapes: P probes trained side by side, M words asked about, C candidates per word, F features, K classes.
Parameters are stacked (P, ...) and named as in the probe modules (LinearProbe, BilinearProbe).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from attnlab.adam import adam_state, adam_step


def scores_and_backward(
    params: dict[str, torch.Tensor], inputs: list[torch.Tensor], pair: bool
) -> tuple[torch.Tensor, Callable[[torch.Tensor], dict[str, torch.Tensor]]]:
    """The probes' scores (P, M, K) or (P, M, C) and a function mapping d loss / d scores to the
    parameters' gradients {name: (P, ...)}."""
    if len(inputs) == 2:  # BilinearProbe: score(i, j) = h_j . (W h_i + b)
        query, keys = inputs  # (P, M, D), (P, M, C, D)
        W, b = params["W.weight"], params["b.weight"]  # (P, D, D), (P, 1, D)
        v = torch.baddbmm(b, query, W.transpose(1, 2))  # (P, M, D)
        scores = (v[:, :, None, :] @ keys.transpose(-1, -2))[:, :, 0]  # (P, M, 1, D) x (P, M, D, C) -> (P, M, C)

        def backward(grad: torch.Tensor) -> dict[str, torch.Tensor]:
            grad_v = (grad[:, :, None, :] @ keys)[:, :, 0]  # (P, M, 1, C) x (P, M, C, D) -> (P, M, D)
            return {"W.weight": grad_v.transpose(1, 2) @ query, "b.weight": grad_v.sum(1, keepdim=True)}

        return scores, backward
    # LinearProbe: a word's class logits (M, K), or one score per candidate pair (M, C) from its features
    x = inputs[0]
    rows = x.flatten(1, -2)  # (P, R, F): R = M words, or M * C candidate pairs
    W, bias = params["linear.weight"], params["linear.bias"]  # (P, K, F), (P, K); K = 1 for pairs
    scores = torch.baddbmm(bias[:, None, :], rows, W.transpose(1, 2))  # (P, R, K)
    shape = x.shape[:-1] if pair else scores.shape  # (P, M, C) or (P, M, K)

    def backward(grad: torch.Tensor) -> dict[str, torch.Tensor]:
        grad = grad.reshape(rows.shape[0], rows.shape[1], -1)  # (P, R, K)
        return {"linear.weight": grad.transpose(1, 2) @ rows, "linear.bias": grad.sum(1)}

    return scores.view(shape), backward


def train_linear(
    params: dict[str, torch.Tensor],
    inputs: list[torch.Tensor],
    labels: torch.Tensor,
    allowed: torch.Tensor | None,
    steps: int,
    lr: float,
    weight_decay: float = 0.0,
) -> dict[str, torch.Tensor]:
    """Full-batch Adam on the sum of the probes' mean cross-entropies, in place on `params` (returned).

    inputs: standardised features, each (P, M, ...); labels (P, M); allowed (P, M, C) for pair tasks.
    """
    pair = allowed is not None
    params = {name: p.detach() for name, p in params.items()}
    state = {name: adam_state(p) for name, p in params.items()}
    n_words = labels.shape[1]
    for _ in range(steps):
        scores, backward = scores_and_backward(params, inputs, pair)  # (P, M, K) or (P, M, C)
        if pair:
            scores = scores.masked_fill(~allowed, float("-inf"))  # only candidates compete
        # d(mean cross-entropy)/d scores: softmax minus the one-hot label, over the M words
        grad = scores.softmax(-1)
        grad.scatter_add_(-1, labels[..., None], torch.full_like(grad[..., :1], -1.0))
        grad /= n_words
        for name, g in backward(grad).items():
            adam_step(params[name], g, state[name], lr, weight_decay)
    return params
