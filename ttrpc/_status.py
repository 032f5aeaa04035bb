"""gRPC status codes and the exception that carries one across ttrpc.

ttrpc reuses gRPC's status model: every Response carries a Status whose code
is one of the gRPC codes (grpc/grpc doc/statuscodes.md; containerd maps them to
its errdefs classes, e.g. NOT_FOUND -> ErrNotFound, UNIMPLEMENTED ->
ErrNotImplemented).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any


class Code(enum.IntEnum):
    """gRPC status codes (google.rpc.Code)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


def code_of(value: int) -> Code | int:
    """Return ``Code(value)`` or the raw int for a code this table lacks."""
    try:
        return Code(value)
    except ValueError:
        return value


class TTRPCError(Exception):
    """A non-OK ttrpc status.

    Raised by the client when a call fails, and raised by server handlers to
    answer with that status (any other exception becomes UNKNOWN).
    """

    def __init__(
        self,
        code: Code | int,
        message: str = "",
        details: Sequence[Any] = (),
    ) -> None:
        code = code_of(int(code))
        if code == Code.OK:
            raise ValueError("TTRPCError cannot carry status OK")
        super().__init__(code, message)
        self.code: Code | int = code
        self.message = message
        self.details: tuple[Any, ...] = tuple(details)  # google.protobuf.Any values

    def __str__(self) -> str:
        name = self.code.name if isinstance(self.code, Code) else str(self.code)
        return f"{name}: {self.message}" if self.message else name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


class ConnectionClosed(TTRPCError):
    """The connection is gone: every pending and later call fails with this."""

    def __init__(self, message: str = "ttrpc: closed") -> None:
        super().__init__(Code.UNAVAILABLE, message)
