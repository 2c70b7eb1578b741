"""Why a frame or a model was refused; both carry a machine code and a sentence for people."""

from __future__ import annotations

from typing import Literal

RejectCode = Literal["empty", "not_jpeg", "truncated", "zero_size", "too_large", "undecodable"]


class FrameRejected(Exception):
    """The bytes are not a frame the analyzer will decode; the worker stays up."""

    def __init__(self, code: RejectCode, reason: str) -> None:
        # Both in args, so the exception pickles back from a worker process intact.
        super().__init__(code, reason)
        self.code: RejectCode = code
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"


class ModelUnavailable(Exception):
    """A model file is not on disk; the message says what to install or where to put it."""
