"""Batched rollout and gradient-weighted rollout against per-example loops written the way the papers'
reference code is written, then the time per batch of every model-level attribution method.

    .venv/bin/python benchmarks/bench_attribution.py [--batch 256] [--layers 4] [--heads 4] [--tokens 32] [--threads N]

The loops are written after the reference code's structure, not copied: Abnar & Zuidema's rollout
(numpy, one example at a time: heads averaged, + I, rows renormalised, joint = aug_l . joint) and
Chefer et al. 2021b's relevance update (torch, one example at a time: R += clamp(grad * A).mean(0) @ R).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from attnlab.attribution import GradWeightedRollout, Rollout, attention_rollout, grad_weighted_rollout, standard_methods
from attnlab.models import TinyTransformer, TinyTransformerConfig
from attnlab.zoo import rationale_model


def joint_attention(att_mat: np.ndarray) -> np.ndarray:
    """(L, T, T) head-averaged -> (L, T, T) rollout after every layer (the structure of Abnar's
    compute_joint_attention with add_residual=True)."""
    aug = att_mat + np.eye(att_mat.shape[1])[None, ...]
    aug = aug / aug.sum(axis=-1)[..., None]
    joint = np.zeros(aug.shape)
    joint[0] = aug[0]
    for i in np.arange(1, joint.shape[0]):
        joint[i] = aug[i].dot(joint[i - 1])
    return joint


def rollout_loop(attention_list: list[torch.Tensor]) -> np.ndarray:
    """L tensors (B, H, T, T) -> (B, T, T), one example at a time, as the paper's scripts do."""
    B, H, T, _ = attention_list[0].shape
    out = np.zeros((B, T, T))
    for b in range(B):
        att_mat = np.asarray([a[b].detach().numpy() for a in attention_list])  # (L, H, T, T)
        att_mat = att_mat.sum(axis=1) / att_mat.shape[1]  # heads averaged by the caller
        out[b] = joint_attention(att_mat)[-1]
    return out


def avg_heads(cam: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """(H, T, T) twice -> (T, T): gradient x attention, clamped, averaged over heads (Chefer's rule 5)."""
    cam = cam.reshape(-1, cam.shape[-2], cam.shape[-1])
    grad = grad.reshape(-1, grad.shape[-2], grad.shape[-1])
    return (grad * cam).clamp(min=0).mean(dim=0)


def grad_rollout_loop(attention_list: list[torch.Tensor], grad_list: list[torch.Tensor]) -> torch.Tensor:
    """L tensors (B, H, T, T) twice -> (B, T, T), one example at a time, as Chefer et al.'s generators."""
    B, H, T, _ = attention_list[0].shape
    out = torch.zeros(B, T, T)
    for b in range(B):
        R = torch.eye(T, T)
        for cam, grad in zip(attention_list, grad_list):
            cam = avg_heads(cam[b].detach(), grad[b].detach())
            R = R + torch.matmul(cam, R)  # rule 6
        out[b] = R
    return out


def pipeline_loop(model, tokens: torch.Tensor, relevance: Callable) -> torch.Tensor:
    """The papers' usage end to end: one forward (and backward) pass per example, then the rule."""
    rows = []
    for b in range(len(tokens)):
        one = tokens[b : b + 1, : int((tokens[b] != 0).sum())]
        out = model(one)
        y = out.logits[0].max()
        grads = torch.autograd.grad(y, out.attention_list)
        rows.append(relevance([a.detach() for a in out.attention_list], list(grads))[0])
    return rows


def best_of(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=20, help="best of this many runs (the machine may be shared)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    g = torch.Generator().manual_seed(0)
    shape = (args.layers, args.batch, args.heads, args.tokens, args.tokens)
    attentions = torch.randn(shape, generator=g).mul(2).softmax(-1)  # (L, B, H, T, T)
    grads = torch.randn(shape, generator=g)
    print(f"\nmatrix methods on (L, B, H, T, T) = {shape}, best of {args.repeats}")
    print(f"{'function':<34}{'batched':>10}{'loop':>10}{'speed-up':>10}{'max |diff|':>12}")

    att_list, grad_list = list(attentions.unbind(0)), list(grads.unbind(0))  # what hooks hand the reference code
    cases = {
        "attention_rollout": (
            lambda validate: attention_rollout(attentions, validate=validate),
            lambda: torch.from_numpy(rollout_loop(att_list)),
        ),
        "grad_weighted_rollout": (
            lambda validate: grad_weighted_rollout(attentions, grads, validate=validate),
            lambda: grad_rollout_loop(att_list, grad_list),
        ),
    }
    for name, (batched, loop) in cases.items():
        t_loop, ref = best_of(loop, args.repeats)
        for validate in (True, False):
            t_batched, ours = best_of(lambda: batched(validate), args.repeats)
            diff = (ours.double() - ref.double()).abs().max().item()
            label = name + ("" if validate else " (no checks)")
            print(f"{label:<34}{t_batched * 1e3:>8.2f}ms{t_loop * 1e3:>8.1f}ms{t_loop / t_batched:>9.1f}x{diff:>12.2e}")

    # End to end, as the papers' code is used: per example forward + backward + rule, against the
    # batched method on the whole batch (an untrained model of the benchmark's size).
    torch.manual_seed(0)
    model = TinyTransformer(
        TinyTransformerConfig(vocab_size=40, max_len=args.tokens, d_model=64, n_heads=args.heads, n_layers=args.layers)
    ).eval()
    tokens = torch.randint(3, 40, (args.batch, args.tokens), generator=g)
    tokens[:, 0] = 1  # [CLS]
    target = model(tokens).logits.argmax(-1)
    print(
        f"\nend to end on an untrained model (L={args.layers}, H={args.heads}, T={args.tokens}), "
        f"batch {args.batch}, best of 5"
    )
    pipelines = {
        "Rollout": (
            lambda: Rollout(model).attribute(tokens),
            lambda a, g: torch.from_numpy(rollout_loop(a))[:, 0],
        ),
        "GradWeightedRollout": (
            lambda: GradWeightedRollout(model).attribute(tokens, target=target),
            lambda a, g: grad_rollout_loop(a, g)[:, 0],
        ),
    }
    for name, (batched, rule) in pipelines.items():
        t_batched, ours = best_of(batched, 5)
        t_loop, rows = best_of(lambda: pipeline_loop(model, tokens, rule), 5)
        diff = (ours - torch.stack(rows).to(ours.dtype)).abs().max().item()
        print(
            f"{name + ' (model)':<34}{t_batched * 1e3:>8.1f}ms{t_loop * 1e3:>8.0f}ms"
            f"{t_loop / t_batched:>9.1f}x{diff:>12.2e}"
        )

    trained = rationale_model(seed=0)
    model, tokens = trained.model, trained.test.tokens[: args.batch]
    cfg = model.cfg
    print(
        f"\nmodel-level methods: rationale classifier ({cfg.n_layers} layers, {cfg.n_heads} heads, "
        f"T={tokens.shape[1]}), batch {len(tokens)}, best of 3"
    )
    print(f"{'method':<32}{'per batch':>12}{'per example':>14}")
    for name, method in standard_methods(model).items():
        seconds, _ = best_of(lambda: method.attribute(tokens), 3)
        print(f"{name:<32}{seconds * 1e3:>10.1f}ms{seconds / len(tokens) * 1e6:>12.0f}us")


if __name__ == "__main__":
    main()
