"""
Adam written out: torch.optim.Adam's update, computed as its CPU code computes it, for the library's
short optimisation loops (probes, adversarial attention).

Why not torch.optim: the first optimizer a process creates imports torch._dynamo, about 1.8 s of a
lesson that otherwise needs no optimizer at all; and a probe's step is small enough that the
optimizer's bookkeeping costs more than its arithmetic. The update is the same: the same moments,
bias corrections, L2 weight decay and (optionally) AMSGrad maximum, in the same order of operations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

BETAS = (0.9, 0.999)  # torch.optim.Adam's defaults
EPS = 1e-8


@dataclass
class AdamState:
    """One parameter's moments; max_exp_avg_sq only with AMSGrad."""

    exp_avg: torch.Tensor
    exp_avg_sq: torch.Tensor
    max_exp_avg_sq: torch.Tensor | None = None
    step: int = field(default=0)


def adam_state(param: torch.Tensor, amsgrad: bool = False) -> AdamState:
    zeros = lambda: torch.zeros_like(param, memory_format=torch.preserve_format)  # noqa: E731
    return AdamState(zeros(), zeros(), zeros() if amsgrad else None)


@torch.no_grad()
def adam_step(param: torch.Tensor, grad: torch.Tensor, state: AdamState, lr: float, weight_decay: float = 0.0) -> None:
    """One step of torch.optim.Adam(lr=lr, weight_decay=weight_decay, amsgrad=state has its maximum), in place."""
    beta1, beta2 = BETAS
    state.step += 1
    if weight_decay != 0:
        grad = grad.add(param, alpha=weight_decay)
    state.exp_avg.lerp_(grad, 1 - beta1)
    state.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    bias_correction1 = 1 - beta1**state.step
    bias_correction2 = 1 - beta2**state.step
    second = state.exp_avg_sq
    if state.max_exp_avg_sq is not None:  # AMSGrad: the largest second moment seen so far
        torch.maximum(state.max_exp_avg_sq, state.exp_avg_sq, out=state.max_exp_avg_sq)
        second = state.max_exp_avg_sq
    denom = (second.sqrt() / bias_correction2**0.5).add_(EPS)
    param.addcdiv_(state.exp_avg, denom, value=-lr / bias_correction1)
