"""
Checks for exercises: each failure says what is wrong and gives a hint, like a tutor would.

Visible checks in the lessons call these. They raise AssertionError (so nbgrader scores the cell 0)
with a message that names the problem first and the hint after it; they print nothing to stderr.

A failed check shows the student's own lines and that message, not the lines of this file: its
functions set `__tracebackhide__` (the convention of IPython and pytest), and CheckFailed tells IPython
to leave out the frame that raised too, which IPython otherwise always shows.
"""

from __future__ import annotations

from types import TracebackType

import torch

from attnlab.protocol import RECORD_MIME
from attnlab.selfcheck import install_not_done_yet, watch_runs
from attnlab.settings import recording

# Every lesson imports this module in its first cells. In a kernel JupyterLab started, that is where
# an exercise's "not done yet" becomes one red line naming it, and where the kernel starts recording
# its executions, so the self-check cell can tell Run All from being run on its own.
install_not_done_yet()
watch_runs()


class CheckFailed(AssertionError):
    """An exercise check failed; str(error) is the message a student sees."""

    def _render_traceback_(self) -> list[str]:
        """IPython's traceback of a failed check (its protocol for exceptions that format themselves):
        the student's frames, up to the first one marked `__tracebackhide__` after them, then the message."""
        from IPython import get_ipython

        shown, tb = [], self.__traceback__
        while tb is not None:
            hidden = tb.tb_frame.f_locals.get("__tracebackhide__")  # IPython marks its own bottom frame too
            if hidden and shown:
                break
            if not hidden:
                shown.append(tb)
            tb = tb.tb_next
        trimmed = None
        for kept in reversed(shown):  # a new chain: the exception's own traceback stays whole, for %debug
            trimmed = TracebackType(trimmed, kept.tb_frame, kept.tb_lasti, kept.tb_lineno)
        return get_ipython().InteractiveTB.structured_traceback(type(self), self, trimmed or self.__traceback__)


def check(condition: bool, problem: str, hint: str = "") -> None:
    """Fail with `problem` (and `hint`) unless condition holds."""
    __tracebackhide__ = True
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
    __tracebackhide__ = True
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


# --- Hidden tests: hand the student's results to the grader as plain data -------------------------
#
# A hidden test does not decide pass or fail inside the student's kernel, where the student's code
# could patch the decision. It calls the student's function and `record`s what came back; the grader
# compares that, in its own process, with what the instructor's solution recorded on the same inputs.
# Records travel as display outputs of the test cell (a JSON payload; tensors as torch.save bytes,
# which the grader loads with weights_only=True) and exist only while grading.


def encode_value(value: object) -> dict:
    """A student's result as plain JSON: tensors as base64 torch.save bytes, numbers and lists as they are."""
    import base64
    import io

    if isinstance(value, torch.Tensor):
        buffer = io.BytesIO()
        plain = value.detach().cpu().as_subclass(torch.Tensor).contiguous().clone()
        torch.save(plain, buffer)
        return {"tensor": base64.b64encode(buffer.getvalue()).decode("ascii")}
    if value is None or type(value) in (bool, int, float, str):
        return {"json": value}
    if type(value) in (list, tuple):
        return {"list": [encode_value(item) for item in value]}
    return {"unsupported": type(value).__name__}


def record(
    name: str,
    value: object,
    *,
    hint: str = "",
    verify: str = "close",
    atol: float = 1e-5,
    rtol: float = 1e-4,
    **params: object,
) -> None:
    """
    Hand `value`, a result of the student's code, to the grader under `name`.

    verify says how the grader compares it with the instructor's recorded value: "close" (tensors and
    numbers within atol/rtol, everything else equal), "equal", or the name of a grader-side check
    (autograder/pipeline/verifiers.py) that gets `params`; never a threshold on a number the student's code
    claims. The grader takes verify, tolerances, params and hint from the instructor's run, never from
    the student's.
    """
    if not recording():
        return
    from IPython.display import display

    payload = {
        "name": name,
        "hint": hint,
        "verify": verify,
        "atol": atol,
        "rtol": rtol,
        "params": params,
        "value": encode_value(value),
    }
    display({RECORD_MIME: payload}, raw=True)


REFUSED = "the library function this exercise asks you to write is switched off here: write it yourself"


def _refusal_code(name: str, message: str):
    """A code object that raises CheckFailed(message): it replaces a library function's while graded."""
    # The code runs with the globals of the function it replaces: it imports what it raises.
    source = (
        f"def refused(*args, **kwargs):\n    __tracebackhide__ = True\n"
        f"    from attnlab.checks import CheckFailed\n    raise CheckFailed({message!r})\n"
    )
    namespace: dict = {}
    exec(compile(source, "<switched off>", "exec"), namespace)
    return namespace["refused"].__code__.replace(co_name=name)


class refusing:
    """
    `with refusing(attention_rollout, LeaveOneOut._attribute): ...`: inside the block the given library
    functions raise instead of computing, so an exercise cannot be passed by calling the library.

    The function objects themselves are changed (their code), so a name bound to them earlier, such as
    an alias `_ar = attention_rollout`, is refused too.

    A courtesy for the visible checks, not a guard: it runs in the student's kernel, where one line of
    student code switches it off. What a hidden test forbids is enforced by grading it apart, in an
    interpreter whose library lacks the forbidden functions (autograder/pipeline/guards.py).
    """

    def __init__(self, *functions, message: str = REFUSED) -> None:
        self.functions = functions
        self.message = message
        self.saved = []

    def __enter__(self) -> refusing:
        for function in self.functions:
            while function.__code__.co_freevars and hasattr(function, "__wrapped__"):
                function = function.__wrapped__  # a decorated function: switch off the one it wraps
            if function.__code__.co_freevars:
                raise TypeError(f"refusing() cannot switch off {function.__qualname__}: it is a closure")
            self.saved.append((function, function.__code__))
            function.__code__ = _refusal_code(function.__code__.co_name, self.message)
        return self

    def __exit__(self, *exc) -> None:
        for function, code in reversed(self.saved):
            function.__code__ = code
        self.saved.clear()
