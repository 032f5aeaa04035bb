"""A blocking ttrpc client for short-lived, synchronous programs (CLIs).

One call at a time over one connection, no event loop: connect(2), send the
request frame, read frames until the answer for that stream arrives. Same
wire behaviour and errors as :class:`ttrpc.Client`. Not thread-safe.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, TypeVar

from ttrpc._codec import MAX_MESSAGE_LENGTH, FrameError, OversizedMessage
from ttrpc._connection import ClientConnection, ResponseReceived
from ttrpc._status import Code, ConnectionClosed, TTRPCError
from ttrpc._wire import decode_errors, type_name

#: A response message class: protobuf's or ``protos.lite``'s (anything with
#: ``FromString``); the client never imports protobuf itself.
M = TypeVar("M")


class SyncClient:
    """Blocking unary calls over a unix socket."""

    def __init__(
        self, sock: socket.socket, *, max_message_length: int = MAX_MESSAGE_LENGTH
    ) -> None:
        self._sock = sock
        self._conn = ClientConnection(max_message_length)
        self._closed: ConnectionClosed | None = None

    @classmethod
    def connect(cls, path: str | os.PathLike[str], *, timeout: float | None = None) -> SyncClient:
        """Connect to a unix socket path (``unix://`` and ``@abstract`` accepted)."""
        target = os.fspath(path)
        if target.startswith("unix://"):
            target = target[len("unix://") :]
        if target.startswith("@"):
            target = "\0" + target[1:]
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(target)
        except OSError as exc:
            sock.close()
            raise ConnectionClosed(f"ttrpc: cannot connect to {os.fspath(path)}: {exc}") from exc
        return cls(sock)

    @property
    def socket(self) -> socket.socket:
        """The connection (to send a preamble on before the first call)."""
        return self._sock

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._closed is None:
            self._closed = ConnectionClosed("ttrpc: client closed")
        self._sock.close()

    def call(
        self,
        service: str,
        method: str,
        request: Any,
        response_type: type[M],
        *,
        timeout: float | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> M:
        """Like :meth:`ttrpc.Client.call`, blocking.

        A timeout leaves the connection unusable (the late answer could not be
        told apart safely from a later one without reading it), so it closes.
        """
        if self._closed is not None:
            raise self._closed
        deadline = None if timeout is None else time.monotonic() + timeout
        stream_id = self._conn.next_stream_id()
        try:
            frame = self._conn.request(
                stream_id,
                service,
                method,
                request.SerializeToString(),
                timeout_nano=0 if timeout is None else max(1, int(timeout * 1e9)),
                metadata=metadata.items() if metadata else (),
            )
        except OversizedMessage as exc:
            raise TTRPCError(Code.RESOURCE_EXHAUSTED, str(exc)) from None
        try:
            self._sock.settimeout(timeout)
            self._sock.sendall(frame)
            event = self._receive(stream_id, deadline)
        except TimeoutError:
            self._fail("ttrpc: call timed out; connection closed")
            raise TTRPCError(Code.DEADLINE_EXCEEDED, "context deadline exceeded") from None
        except OSError as exc:
            self._fail(f"ttrpc: connection failed: {exc}")
            raise self._closed from exc  # type: ignore[misc]
        if event.error is not None:
            raise event.error
        assert event.response is not None
        status = event.response.status
        if status.code != Code.OK:
            raise TTRPCError(status.code, status.message, status.details)
        try:
            result: M = response_type.FromString(event.response.payload)  # type: ignore[attr-defined]
            return result
        except decode_errors() as exc:
            raise TTRPCError(
                Code.INTERNAL,
                f"ttrpc: cannot decode {type_name(response_type)} response: {exc}",
            ) from None

    def _receive(self, stream_id: int, deadline: float | None) -> ResponseReceived:
        while True:
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                self._sock.settimeout(remaining)
            data = self._sock.recv(65536)
            if not data:
                try:
                    self._conn.receive_eof()
                    reason = "ttrpc: connection closed by peer"
                except FrameError as exc:
                    reason = f"ttrpc: {exc}"
                self._fail(reason)
                assert self._closed is not None
                raise self._closed
            for event in self._conn.receive_data(data):
                if isinstance(event, ResponseReceived) and event.stream_id == stream_id:
                    return event

    def _fail(self, reason: str) -> None:
        if self._closed is None:
            self._closed = ConnectionClosed(reason)
        self._sock.close()
