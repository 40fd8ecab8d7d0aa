"""
Records: the results a hidden test handed out of the student's kernel (`attnlab.checks.record`), read
and judged in the grader's own process.

A record is an output of its test cell, a JSON payload. Only plain data is accepted: tensors are
torch.save bytes, loaded with `torch.load(..., weights_only=True)` in a child process that may die alone
(autograder/pipeline/tensor_reader.py), and must come back as a plain torch.Tensor; everything else is JSON
numbers, strings, booleans, None and lists of them. Anything else, anything too large or too deep, is a
value that matches nothing.

The student's record says only what the student's code returned. How it is judged (verify,
tolerances, parameters, the hint) comes from the instructor's record of the same test cell, at the
same position, made by running the solution on the same inputs (autograder/pipeline/reference.py).

Everything is bounded before it is decoded, since a payload of a few kB can be built to inflate: the
records of one cell (count), the values of one record (count, depth) and the bytes of every tensor, read
from the archive's directory before torch opens it (a compressed entry, or one larger than a tensor may
be, is refused unread). What one cell may make the grader hold is a few times MAX_CELL_TENSOR_BYTES.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import io
import math
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from nbformat import NotebookNode

from attnlab.protocol import RECORD_MIME
from autograder.pipeline.tensor_reader import ReaderFailed, TensorReader

MAX_DEPTH = 8
MAX_TENSOR_BYTES = 3_000_000  # elements of one tensor, and bytes of its archive's data
MAX_CELL_TENSOR_BYTES = 24_000_000  # tensor data of all records of one test cell together
MAX_RECORDS_PER_CELL = 64  # the instructor's tests make a few; beyond this the rest match nothing
MAX_VALUES = 20_000  # numbers, strings and lists in one record
MAX_ARCHIVE_ENTRIES = 16  # torch.save writes 7


class Unreadable:
    """A value the grader refused to read; it matches nothing."""

    def __init__(self, why: str) -> None:
        self.why = why

    def __repr__(self) -> str:
        return f"Unreadable({self.why})"


@dataclass
class Record:
    name: str
    value: object
    hint: str = ""
    verify: str = "close"
    atol: float = 1e-5
    rtol: float = 1e-4
    params: dict = field(default_factory=dict)


class _Budget:
    """What the records of one cell may still make the grader hold: values counted, tensor bytes summed."""

    def __init__(self) -> None:
        self.values = 0
        self.tensor_bytes = 0


def decode(encoded: object, depth: int = 0, budget: _Budget | None = None) -> object:
    """The plain value of an encoded record (attnlab.checks.encode_value), or Unreadable."""
    budget = budget if budget is not None else _Budget()
    budget.values += 1
    if budget.values > MAX_VALUES:
        return Unreadable("too many values")
    if depth > MAX_DEPTH or not isinstance(encoded, dict) or len(encoded) != 1:
        return Unreadable("malformed")
    [(kind, payload)] = encoded.items()
    if kind == "json":
        return payload if payload is None or type(payload) in (bool, int, float, str) else Unreadable("malformed")
    if kind == "list":
        if not isinstance(payload, list):
            return Unreadable("malformed")
        if budget.values + len(payload) > MAX_VALUES:
            return Unreadable("too many values")
        return [decode(item, depth + 1, budget) for item in payload]
    if kind == "tensor" and isinstance(payload, str) and len(payload) <= MAX_TENSOR_BYTES * 4 // 3 + 4:
        return _tensor(payload, budget)
    if kind == "unsupported":
        return Unreadable(f"returned a {payload!s:.40}")
    return Unreadable("malformed")


def _archive_bytes(raw: bytes) -> int | None:
    """The bytes torch.load would unpack from a torch.save archive: None if it is not a plain one
    (compressed entries inflate: a few kB can claim gigabytes), read from the directory, nothing unpacked."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError):
        return None
    if len(entries) > MAX_ARCHIVE_ENTRIES or any(e.compress_type != zipfile.ZIP_STORED for e in entries):
        return None
    return sum(e.file_size for e in entries)


def _tensor(payload: str, budget: _Budget) -> object:
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return Unreadable("malformed")
    size = _archive_bytes(raw)
    if size is None or size > MAX_TENSOR_BYTES + 65_536 or budget.tensor_bytes + size > MAX_CELL_TENSOR_BYTES:
        return Unreadable("not a plain tensor")
    budget.tensor_bytes += size
    try:
        value = _reader().read(raw, MAX_TENSOR_BYTES)
    except ValueError as refused:  # the archive is not a plain tensor: the reader said why
        return Unreadable(str(refused))
    except ReaderFailed as failed:  # the reader died or hung on these bytes: this value, not the run
        return Unreadable(str(failed))
    if value.dim() > MAX_DEPTH:
        return Unreadable("not a plain tensor")
    return value


@cache
def _reader() -> TensorReader:
    """One tensor-reading child per grading process (autograder/pipeline/tensor_reader.py), stopped at exit."""
    reader = TensorReader()
    atexit.register(reader.stop)
    return reader


def _payload(output: NotebookNode) -> dict | None:
    data = output.get("data", {}) if output.get("output_type") in ("display_data", "execute_result") else {}
    payload = data.get(RECORD_MIME)
    return payload if isinstance(payload, dict) else None


def record_payloads(cell: NotebookNode) -> list[dict]:
    """The raw payloads of a test cell's records, in the order the hidden test made them."""
    return [payload for payload in map(_payload, cell.get("outputs", [])) if payload is not None]


def from_payload(payload: dict, budget: _Budget | None = None) -> Record:
    params = payload.get("params")
    return Record(
        name=str(payload.get("name", ""))[:200],
        value=decode(payload.get("value"), budget=budget),
        hint=str(payload.get("hint", ""))[:2000],
        verify=str(payload.get("verify", "close"))[:40],
        atol=_number(payload.get("atol"), 1e-5),
        rtol=_number(payload.get("rtol"), 1e-4),
        params=params if isinstance(params, dict) else {},
    )


def read_records(cell: NotebookNode) -> list[Record]:
    """Every record of a test cell, decoded; beyond MAX_RECORDS_PER_CELL, records that match nothing."""
    budget, records = _Budget(), []
    for payload in record_payloads(cell):
        if len(records) == MAX_RECORDS_PER_CELL:
            records.append(Record("", Unreadable("too many records")))  # judge() counts extra records as failing
            break
        records.append(from_payload(payload, budget))
    return records


def strip_records(cell: NotebookNode) -> None:
    """Remove the records from a cell's outputs (after they were read): they are not for people."""
    if "outputs" in cell:
        cell.outputs = [o for o in cell.outputs if _payload(o) is None]


def _number(value: object, default: float) -> float:
    return float(value) if type(value) in (int, float) and math.isfinite(value) else default


# --- Judging ----------------------------------------------------------------------------------------


def _as_number(value: object) -> float | None:
    import torch

    if type(value) in (int, float):
        return float(value)
    if type(value) is torch.Tensor and value.numel() == 1 and value.dim() == 0:
        return float(value.item())
    return None


def close(mine: object, reference: object, atol: float, rtol: float) -> bool:
    """Equal in structure and type, tensors and numbers within atol + rtol * |reference|."""
    import torch

    if isinstance(mine, Unreadable) or isinstance(reference, Unreadable):
        return False
    if type(reference) is bool or reference is None or type(reference) is str:
        return type(mine) is type(reference) and mine == reference
    if type(reference) is torch.Tensor and reference.dim() > 0:
        if type(mine) is not torch.Tensor or tuple(mine.shape) != tuple(reference.shape):
            return False
        if mine.dtype.is_complex or reference.dtype.is_complex:
            return False
        a, b = mine.detach().double(), reference.detach().double()
        return bool(torch.isclose(a, b, atol=atol, rtol=rtol, equal_nan=True).all())
    if _as_number(reference) is not None:
        a, b = _as_number(mine), _as_number(reference)
        if a is None or type(mine) is bool:
            return False
        if math.isnan(b):
            return math.isnan(a)
        return abs(a - b) <= atol + rtol * abs(b)
    if isinstance(reference, list):
        return (
            isinstance(mine, list)
            and len(mine) == len(reference)
            and all(close(m, r, atol, rtol) for m, r in zip(mine, reference))
        )
    return False


def _equal(mine: Record, reference: Record) -> bool:
    return close(mine.value, reference.value, 0.0, 0.0)


def _close(mine: Record, reference: Record) -> bool:
    return close(mine.value, reference.value, reference.atol, reference.rtol)


def _all_equal(mine: Record, reference: Record) -> bool:
    values = mine.value
    return isinstance(values, list) and len(values) > 1 and all(close(v, values[0], 0.0, 0.0) for v in values[1:])


def _keeps_prediction(mine: Record, reference: Record) -> bool:
    from autograder.pipeline.verifiers import keeps_prediction

    return keeps_prediction(mine.value, reference.params)


def _probe_predictions(mine: Record, reference: Record) -> bool:
    from autograder.pipeline.verifiers import probe_predictions

    return probe_predictions(mine.value, reference.params)


def _detached_gradient_x_input(mine: Record, reference: Record) -> bool:
    from autograder.pipeline.verifiers import detached_gradient_x_input

    return detached_gradient_x_input(mine.value, reference.params)


def _one_of(mine: Record, reference: Record) -> bool:
    from autograder.pipeline.verifiers import one_of

    return one_of(mine.value, reference.params)


def _word_control(mine: Record, reference: Record) -> bool:
    from autograder.pipeline.verifiers import word_control

    return word_control(mine.value, reference.params)


VERIFIERS: dict[str, Callable[[Record, Record], bool]] = {
    "close": _close,
    "equal": _equal,
    "all_equal": _all_equal,
    "keeps_prediction": _keeps_prediction,
    "probe_predictions": _probe_predictions,
    "detached_gradient_x_input": _detached_gradient_x_input,
    "one_of": _one_of,
    "word_control": _word_control,
}


@dataclass
class Judgement:
    passed: int  # records that match
    total: int  # records the instructor's run made
    first_failed: Record | None  # the instructor's record of the first that does not

    @property
    def all_passed(self) -> bool:
        return self.total > 0 and self.passed == self.total


def judge(mine: list[Record], reference: list[Record]) -> Judgement:
    """Compare a submission's records of one test cell with the instructor's, position by position."""
    passed, first_failed = 0, None
    for index, expected in enumerate(reference):
        verifier = VERIFIERS.get(expected.verify)
        ok = verifier is not None and index < len(mine) and _safely(verifier, mine[index], expected)
        passed += ok
        if not ok and first_failed is None:
            first_failed = expected
    if len(mine) > len(reference) and first_failed is None:  # extra records: the test did not run as written
        return Judgement(0, len(reference), reference[-1] if reference else None)
    return Judgement(passed, len(reference), first_failed)


def _safely(verifier: Callable[[Record, Record], bool], mine: Record, expected: Record) -> bool:
    try:
        return bool(verifier(mine, expected))
    except Exception:  # a value shaped to trip the comparison (huge ints, odd dtypes) simply does not match
        return False
