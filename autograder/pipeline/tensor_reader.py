"""
A student's tensors are unpacked in a process of their own, which may die alone.

`torch.load` parses a zip archive and a restricted pickle in C++: the one step of reading a record that
runs a large parser over bytes a student chose. It runs in a child process (`python -m
autograder.pipeline.tensor_reader`), one per grading process, started on the first tensor and started again
after it dies. The child hands back only a JSON header (dtype and shape) and the raw element bytes; the
grading process rebuilds the tensor from them with `torch.frombuffer`, so nothing it reads back is
unpickled. A child that crashes, hangs or answers out of protocol costs the value it was reading (an
Unreadable), never the run.

Messages on the pipes: an 8-byte length, then that many bytes. Request: the archive. Answer: a JSON
header ({"dtype": ..., "shape": [...]} or {"error": ...}), then the element bytes (empty on error).
"""

from __future__ import annotations

import json
import math
import struct
import subprocess
import sys
import threading
from typing import BinaryIO

READ_SECONDS = 60  # a bounded archive of a few MB loads in milliseconds; a child this slow is stuck
LENGTH = struct.Struct(">Q")
# Plain element types a hidden test records; anything else is refused by both sides.
DTYPES = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool")


class ReaderFailed(Exception):
    """The child died, hung or broke the protocol while reading one archive."""


def _send(stream: BinaryIO, data: bytes) -> None:
    stream.write(LENGTH.pack(len(data)) + data)
    stream.flush()


def _receive(stream: BinaryIO, limit: int) -> bytes:
    head = stream.read(LENGTH.size)
    if len(head) != LENGTH.size:
        raise EOFError("the pipe closed")
    (size,) = LENGTH.unpack(head)
    if size > limit:
        raise ValueError("a message over its bound")
    data = stream.read(size)
    if len(data) != size:
        raise EOFError("the pipe closed")
    return data


class TensorReader:
    """The grading process's side: one child at a time, restarted after a failure."""

    def __init__(self, command: list[str] | None = None, seconds: float = READ_SECONDS) -> None:
        self.command = command or [sys.executable, "-m", "autograder.pipeline.tensor_reader"]
        self.seconds = seconds
        self.child: subprocess.Popen | None = None
        self.lock = threading.Lock()  # one request on the pipes at a time

    def read(self, archive: bytes, max_elements: int):
        """The plain tensor in a torch.save archive; ReaderFailed if the child could not say, ValueError
        (with the reason) if it refused the archive."""
        with self.lock:
            child = self.child if self.child and self.child.poll() is None else self._start()
            answer: dict = {}

            def exchange() -> None:
                try:
                    _send(child.stdin, archive)
                    answer["header"] = json.loads(_receive(child.stdout, 4096))
                    answer["data"] = _receive(child.stdout, max_elements * 8)
                except (OSError, EOFError, ValueError) as error:  # a broken pipe, a short or oversized message
                    answer["failed"] = error

            talk = threading.Thread(target=exchange, daemon=True)
            talk.start()
            talk.join(self.seconds)
            try:
                if talk.is_alive():
                    raise ReaderFailed("the tensor reader hung")
                if "data" not in answer:
                    try:
                        child.wait(timeout=1)  # a child that broke a pipe by dying is gone within moments
                    except subprocess.TimeoutExpired:
                        raise ReaderFailed("the tensor reader broke the protocol") from None
                    raise ReaderFailed("the tensor reader died")
                return rebuilt(answer["header"], answer["data"], max_elements)
            except ReaderFailed:
                self.stop()  # dead, stuck or out of protocol: the next read starts a fresh child
                raise

    def _start(self) -> subprocess.Popen:
        self.stop()
        self.child = subprocess.Popen(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        return self.child

    def stop(self) -> None:
        if self.child is not None:
            self.child.kill()
            self.child.wait()
            for pipe in (self.child.stdin, self.child.stdout):
                pipe.close()
            self.child = None


def rebuilt(header: object, data: bytes, max_elements: int):
    """The tensor the child described, checked against its own bytes; nothing is unpickled."""
    import torch

    if not isinstance(header, dict):
        raise ReaderFailed("the tensor reader broke the protocol")
    if "error" in header:
        raise ValueError(str(header["error"])[:80])
    dtype, shape = header.get("dtype"), header.get("shape")
    if dtype not in DTYPES or not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
        raise ReaderFailed("the tensor reader broke the protocol")
    kind = getattr(torch, dtype)
    elements = math.prod(shape)
    if elements > max_elements or len(data) != elements * torch.empty((), dtype=kind).element_size():
        raise ReaderFailed("the tensor reader broke the protocol")
    if elements == 0:
        return torch.empty(shape, dtype=kind)
    return torch.frombuffer(bytearray(data), dtype=kind).reshape(shape)


def describe(archive: bytes) -> tuple[dict, bytes]:
    """The child's side: (header, element bytes) of the plain tensor in the archive, or ({"error": ...}, b"")."""
    import io

    import torch

    try:
        value = torch.load(io.BytesIO(archive), weights_only=True)
    except Exception as error:  # any parse failure is the archive's: the child answers and goes on
        return {"error": type(error).__name__}, b""
    if type(value) is not torch.Tensor or value.layout != torch.strided or value.is_quantized:
        return {"error": "not a plain tensor"}, b""
    dtype = str(value.dtype).removeprefix("torch.")
    if dtype not in DTYPES:
        return {"error": "not a plain tensor"}, b""
    # A view can claim far more elements than its bytes hold (zero strides): only what it shows is sent.
    if not value.is_contiguous():
        return {"error": "not a plain tensor"}, b""
    flat = value.reshape(-1).view(torch.uint8) if value.numel() else torch.empty(0, dtype=torch.uint8)
    return {"dtype": dtype, "shape": list(value.shape)}, flat.numpy().tobytes()


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    while True:
        try:
            archive = _receive(requests, 1 << 26)
        except EOFError:
            return
        header, data = describe(archive)
        _send(answers, json.dumps(header).encode())
        _send(answers, data)


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
