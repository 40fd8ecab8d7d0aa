"""
Checks for exercises: each failure says what is wrong and gives a hint, like a tutor would.

Visible checks in the lessons call these. They raise AssertionError (so nbgrader scores the cell 0)
with a message that names the problem first and the hint after it; they print nothing to stderr.
"""

from __future__ import annotations

import torch


class CheckFailed(AssertionError):
    """An exercise check failed; str(error) is the message a student sees."""


def check(condition: bool, problem: str, hint: str = "") -> None:
    """Fail with `problem` (and `hint`) unless condition holds."""
    if not condition:
        raise CheckFailed(f"{problem}\nHint: {hint}" if hint else problem)


def check_tensor(
    actual: object,
    expected: torch.Tensor,
    name: str = "your result",
    hint: str = "",
    atol: float = 1e-5,
    rtol: float = 1e-4,
) -> None:
    """Check type, shape, finiteness and values of a tensor, in that order, with a message for each."""
    check(isinstance(actual, torch.Tensor), f"{name} should be a torch.Tensor, got {type(actual).__name__}", hint)
    check(
        tuple(actual.shape) == tuple(expected.shape),
        f"{name} has shape {tuple(actual.shape)}, expected {tuple(expected.shape)}",
        hint,
    )
    check(bool(torch.isfinite(actual).all()), f"{name} contains NaN or infinite values", hint)
    actual, expected = actual.detach().double(), expected.detach().double()
    close = torch.isclose(actual, expected, atol=atol, rtol=rtol)
    if not bool(close.all()):
        where = tuple(int(i) for i in (~close).nonzero()[0])
        raise CheckFailed(
            f"{name} differs from the expected value at index {where}: "
            f"got {actual[where].item():.6g}, expected {expected[where].item():.6g} "
            f"({int((~close).sum())} of {close.numel()} entries differ)" + (f"\nHint: {hint}" if hint else "")
        )


def passed(name: str) -> None:
    """Print the success line a student sees under a passing check."""
    print(f"✓ {name}: all visible checks passed.")
