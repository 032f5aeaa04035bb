"""Byte-stream reading for the transports, with a direct asyncio fast path.

anyio's socket ``receive`` yields to the event loop before every recv(2)
and re-registers the fd each time. On the hot path of a unary call that is
a measurable share of a round trip, so for plain sockets on asyncio we read
the socket directly: recv(2) first, and only when it would block wait for
readability with ``loop.add_reader``. Anything else (trio, TLS, in-memory
streams) goes through ``stream.receive``. Both raise anyio's exceptions:
EndOfStream at EOF, BrokenResourceError on a socket error,
ClosedResourceError after ``close_wakeup``.
"""

from __future__ import annotations

import asyncio
import socket

import anyio
import anyio.abc
from anyio.abc import SocketAttribute


class Reader:
    """Reads chunks from one byte stream; one reader at a time."""

    __slots__ = ("_closed", "_fd", "_loop", "_registered", "_sock", "_stream", "_waiter")

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self._stream = stream
        self._closed = False
        self._waiter: asyncio.Future[None] | None = None
        self._registered = False
        self._loop: asyncio.AbstractEventLoop | None = None
        raw = stream.extra(SocketAttribute.raw_socket, None)
        self._sock: socket.socket | None = None
        self._fd = -1
        if raw is not None and raw.type == socket.SOCK_STREAM:
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:
                pass  # not on asyncio (trio): use the generic path
            else:
                self._sock = raw
                self._fd = raw.fileno()

    @property
    def direct(self) -> bool:
        """True when reads bypass anyio (plain socket on asyncio)."""
        return self._sock is not None

    def _on_readable(self) -> None:
        waiter = self._waiter
        if waiter is None:
            # Nobody is waiting: stop watching (level-triggered epoll would
            # otherwise call us on every loop iteration until someone reads).
            self._unregister()
        elif not waiter.done():
            waiter.set_result(None)

    def _unregister(self) -> None:
        if self._registered and self._loop is not None:
            self._registered = False
            self._loop.remove_reader(self._fd)

    async def receive(self, max_bytes: int) -> tuple[bytes, bool]:
        """Return ``(data, waited)``; ``waited`` is False if data was already there.

        A caller looping on data that never waited must yield by itself
        (see the server's read loop); the client returns to its caller.
        The fd stays registered with the loop between reads (saving two
        epoll_ctl(2) per call) until a readiness event finds no waiter or
        :meth:`detach` runs.
        """
        sock = self._sock
        if sock is None:
            return await self._stream.receive(max_bytes), True
        waited = False
        while True:
            if self._closed:
                raise anyio.ClosedResourceError
            try:
                data = sock.recv(max_bytes)
            except BlockingIOError:
                pass
            except OSError as exc:
                self.detach()
                raise anyio.BrokenResourceError from exc
            else:
                if not data:
                    self.detach()
                    raise anyio.EndOfStream
                return data, waited
            assert self._loop is not None
            waiter = self._waiter = self._loop.create_future()
            if not self._registered:
                self._loop.add_reader(self._fd, self._on_readable)
                self._registered = True
            try:
                await waiter
            finally:
                self._waiter = None
            waited = True

    def detach(self) -> None:
        """Stop watching the fd; call before the socket is closed.

        Once the fd is closed the kernel drops it from epoll behind asyncio's
        back, so a registration left over would wake nobody (and a reused fd
        number would confuse the selector).
        """
        self._unregister()

    def close_wakeup(self) -> None:
        """Fail a blocked and every later ``receive``; detach from the loop.

        Must run before the stream's ``aclose``.
        """
        self._closed = True
        self._unregister()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
