"""anyio ttrpc client: many concurrent unary calls over one connection.

There is no background reader task. Whichever waiting call finds the
connection unread becomes the reader ("leader/followers"): it reads frames
and hands every response to its call until its own arrives, then passes the
reader role to another waiting call. A lone caller thus reads its own reply
without any task switch, and the client needs no task group, so
``await Client.connect(path)`` returns a usable client.

Lock order: ``_send_lock`` only; the reader role is a flag, not a lock.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from types import TracebackType
from typing import TypeVar

import anyio
import anyio.abc
from anyio.abc import SocketAttribute
from google.protobuf.message import DecodeError, Message

from ttrpc._calls import Call, ClientStream, StreamState
from ttrpc._codec import (
    MAX_MESSAGE_LENGTH,
    Flags,
    FrameError,
    OversizedMessage,
)
from ttrpc._connection import ClientConnection, DataReceived, ResponseReceived
from ttrpc._io import Reader
from ttrpc._status import Code, ConnectionClosed, TTRPCError

log = logging.getLogger("ttrpc.client")

M = TypeVar("M", bound=Message)
T = TypeVar("T")

_RECEIVE_SIZE = 65536
_BROKEN = (anyio.BrokenResourceError, anyio.ClosedResourceError)


class Client:
    """A ttrpc client over one byte stream (normally a unix socket).

    ``send_timeout`` bounds how long a request may wait for a peer that
    does not read before the connection is declared dead.
    """

    def __init__(
        self,
        stream: anyio.abc.ByteStream,
        *,
        send_timeout: float = 30.0,
        max_message_length: int = MAX_MESSAGE_LENGTH,
    ) -> None:
        self._stream = stream
        self._conn = ClientConnection(max_message_length)
        self._pending: dict[int, Call] = {}
        self._send_lock = anyio.Lock()
        self._send_timeout = send_timeout
        self._reading = False
        self._closed: ConnectionClosed | None = None
        self._reader: Reader | None = None  # made on first read (needs the running loop)
        raw = stream.extra(SocketAttribute.raw_socket, None)
        self._raw: socket.socket | None = (
            raw if raw is not None and raw.type == socket.SOCK_STREAM else None
        )

    @classmethod
    async def connect(
        cls,
        path: str | os.PathLike[str],
        *,
        send_timeout: float = 30.0,
        max_message_length: int = MAX_MESSAGE_LENGTH,
    ) -> Client:
        """Connect to a unix socket path (a ``unix://`` prefix is accepted).

        A path starting with ``@`` or ``\\0`` names an abstract socket.
        Connection failures raise :class:`ConnectionClosed`.
        """
        target = os.fspath(path)
        if target.startswith("unix://"):
            target = target[len("unix://") :]
        if target.startswith("@"):
            target = "\0" + target[1:]
        try:
            stream = await anyio.connect_unix(target)
        except OSError as exc:
            raise ConnectionClosed(f"ttrpc: cannot connect to {os.fspath(path)}: {exc}") from exc
        return cls(stream, send_timeout=send_timeout, max_message_length=max_message_length)

    @classmethod
    async def from_socket(
        cls,
        sock: socket.socket | int,
        *,
        send_timeout: float = 30.0,
        max_message_length: int = MAX_MESSAGE_LENGTH,
    ) -> Client:
        """Wrap an already connected unix stream socket (or its fd)."""
        stream = await anyio.abc.UNIXSocketStream.from_socket(sock)
        return cls(stream, send_timeout=send_timeout, max_message_length=max_message_length)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def closed(self) -> bool:
        return self._closed is not None

    async def aclose(self) -> None:
        """Close the connection; pending and later calls fail with ConnectionClosed."""
        await self._fail(ConnectionClosed("ttrpc: client closed"))

    async def call(
        self,
        service: str,
        method: str,
        request: Message,
        response_type: type[M],
        *,
        timeout: float | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> M:
        """Call ``/service/method`` and return its decoded response.

        ``timeout`` (seconds) is sent as ``timeout_nano`` and enforced here:
        when it passes, the call raises TTRPCError(DEADLINE_EXCEEDED) and a
        late answer is dropped. A cancelled call does not disturb the others.
        Raises TTRPCError for an error status, ConnectionClosed when the
        connection is (or becomes) unusable.
        """
        if self._closed is not None:
            raise self._closed
        timeout_nano = 0
        if timeout is not None:
            if timeout <= 0:
                raise TTRPCError(Code.DEADLINE_EXCEEDED, "context deadline exceeded")
            timeout_nano = int(timeout * 1e9)
        stream_id = self._conn.next_stream_id()
        try:
            frame = self._conn.request(
                stream_id,
                service,
                method,
                request.SerializeToString(),
                timeout_nano=timeout_nano,
                metadata=metadata.items() if metadata else (),
            )
        except OversizedMessage as exc:
            raise TTRPCError(Code.RESOURCE_EXHAUSTED, str(exc)) from None
        pending = Call()
        self._pending[stream_id] = pending
        try:
            if timeout is None:
                await self._send(frame)
                await self._wait(pending)
            else:
                with anyio.move_on_after(timeout):
                    await self._send(frame)
                    await self._wait(pending)
                if not pending.done:
                    raise TTRPCError(Code.DEADLINE_EXCEEDED, "context deadline exceeded")
        finally:
            del self._pending[stream_id]
        if pending.error is not None:
            raise pending.error
        response = pending.response
        assert response is not None
        status = response.status
        if status.code != Code.OK:
            raise TTRPCError(status.code, status.message, status.details)
        try:
            return response_type.FromString(response.payload)
        except DecodeError as exc:
            raise TTRPCError(
                Code.INTERNAL,
                f"ttrpc: cannot decode {response_type.DESCRIPTOR.full_name} response: {exc}",
            ) from None

    async def open_stream(
        self,
        service: str,
        method: str,
        response_type: type[M],
        *,
        request: Message | None = None,
        client_streaming: bool = False,
        timeout: float | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> ClientStream[M]:
        """Open a streaming call (ttrpc >= 1.2 streams).

        ``client_streaming=False`` (server streaming): ``request`` is the one
        input message, sent with REMOTE_CLOSED; iterate the stream for the
        answers. ``client_streaming=True``: the request opens the stream
        (REMOTE_OPEN, carrying ``request`` if given); ``send()`` more
        messages, ``close_send()``, then ``recv()`` the answer(s).
        ``timeout`` bounds the whole stream.
        """
        if self._closed is not None:
            raise self._closed
        deadline = None
        timeout_nano = 0
        if timeout is not None:
            if timeout <= 0:
                raise TTRPCError(Code.DEADLINE_EXCEEDED, "context deadline exceeded")
            deadline = anyio.current_time() + timeout
            timeout_nano = int(timeout * 1e9)
        stream_id = self._conn.next_stream_id()
        flags = Flags.REMOTE_OPEN if client_streaming else Flags.REMOTE_CLOSED
        try:
            frame = self._conn.request(
                stream_id,
                service,
                method,
                b"" if request is None else request.SerializeToString(),
                timeout_nano=timeout_nano,
                metadata=metadata.items() if metadata else (),
                flags=flags,
            )
        except OversizedMessage as exc:
            raise TTRPCError(Code.RESOURCE_EXHAUSTED, str(exc)) from None
        state = StreamState()
        self._pending[stream_id] = state
        stream = ClientStream(
            self,
            stream_id=stream_id,
            state=state,
            response_type=response_type,
            deadline=deadline,
            send_open=client_streaming,
        )
        try:
            await stream._deadline_bound(self._send(frame))
        except BaseException:
            self._pending.pop(stream_id, None)
            raise
        return stream

    # -- sending ----------------------------------------------------------

    async def _send(self, frame: bytes) -> None:
        lock = self._send_lock
        if lock.locked():
            await lock.acquire()
        else:
            lock.acquire_nowait()
        try:
            if self._closed is not None:
                raise self._closed
            sent = 0
            if self._raw is not None:
                # Fast path: one non-blocking send(2) usually takes the frame.
                try:
                    sent = self._raw.send(frame)
                except BlockingIOError:
                    sent = 0
                except OSError as exc:
                    error = ConnectionClosed(f"ttrpc: send failed: {exc}")
                    await self._fail(error)
                    raise error from exc
                if sent == len(frame):
                    return
            # A frame cut short would desynchronise the stream for every call,
            # so the rest is written shielded from the caller's cancellation,
            # bounded by send_timeout instead.
            with anyio.CancelScope(shield=True):
                try:
                    with anyio.move_on_after(self._send_timeout) as timeout:
                        await self._stream.send(frame[sent:] if sent else frame)
                except _BROKEN as exc:
                    await self._fail(ConnectionClosed(f"ttrpc: send failed: {exc!r}"))
                if timeout.cancelled_caught:
                    reason = f"peer did not read for {self._send_timeout}s; connection dropped"
                    await self._fail(ConnectionClosed(f"ttrpc: {reason}"))
            if self._closed is not None:
                raise self._closed
        finally:
            lock.release()

    # -- receiving --------------------------------------------------------

    async def _wait(self, pending: Call) -> None:
        """Return once ``pending`` is done, reading the socket if nobody is."""
        while not pending.done:
            if self._reading:
                pending.waiting = True
                try:
                    await pending.event.wait()
                finally:
                    pending.waiting = False
                if not pending.done:
                    # Woken to take over the reader role; re-arm.
                    pending.event = anyio.Event()
                continue
            self._reading = True
            reader = self._reader
            if reader is None:
                reader = self._reader = Reader(self._stream)
            try:
                while not pending.done:
                    try:
                        data, _ = await reader.receive(_RECEIVE_SIZE)
                    except anyio.EndOfStream:
                        try:
                            self._conn.receive_eof()
                            reason = "ttrpc: connection closed by peer"
                        except FrameError as exc:
                            reason = f"ttrpc: {exc}"
                        await self._fail(ConnectionClosed(reason))
                        return
                    except _BROKEN as exc:
                        await self._fail(ConnectionClosed(f"ttrpc: receive failed: {exc!r}"))
                        return
                    self._deliver(data)
            finally:
                self._reading = False
                self._hand_over(pending)

    def _deliver(self, data: bytes) -> None:
        pending = self._pending
        for event in self._conn.receive_data(data):
            call = pending.get(event.stream_id)
            if call is None:
                # The call timed out or was cancelled: drop its answer.
                log.debug("ttrpc: dropping frame for stream %d", event.stream_id)
            elif type(event) is ResponseReceived:
                call.finish(event.response, event.error)
            elif type(event) is DataReceived:
                call.data(event.flags, event.data)

    def _hand_over(self, previous: Call) -> None:
        """Wake one waiting call (not ``previous``) so it becomes the reader."""
        for call in self._pending.values():
            if call is not previous and call.waiting and not call.done:
                call.event.set()
                return

    async def _fail(self, error: ConnectionClosed) -> None:
        """Mark the connection dead and fail every pending call with ``error``."""
        if self._closed is None:
            self._closed = error
            for call in list(self._pending.values()):
                call.finish(None, error)
        if self._reader is not None:
            self._reader.close_wakeup()
        with anyio.CancelScope(shield=True):
            await self._stream.aclose()
