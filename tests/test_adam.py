"""attnlab.adam: the update of torch.optim.Adam, step for step, without torch.optim."""

import pytest
import torch

from attnlab.adam import adam_state, adam_step


@pytest.mark.parametrize(("amsgrad", "weight_decay"), [(False, 0.0), (False, 0.01), (True, 0.0)])
def test_adam_step_is_torch_optim_adam(amsgrad: bool, weight_decay: float) -> None:
    g = torch.Generator().manual_seed(0)
    start = torch.randn(5, 7, generator=g)
    grads = [torch.randn(5, 7, generator=g) * scale for scale in (1.0, 1e-3, 10.0, 1.0, 0.0, 1e-8)]
    ours, theirs = start.clone(), start.clone().requires_grad_()
    state = adam_state(ours, amsgrad=amsgrad)
    opt = torch.optim.Adam([theirs], lr=0.05, weight_decay=weight_decay, amsgrad=amsgrad)
    for grad in grads:
        adam_step(ours, grad, state, lr=0.05, weight_decay=weight_decay)
        theirs.grad = grad.clone()
        opt.step()
        # the same elementwise operations in the same order: the same float32 results
        assert torch.equal(ours, theirs.detach())
    assert not torch.equal(ours, start)
