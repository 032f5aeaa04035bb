"""Per-connection server state and the listener plumbing around it.

``ServerConn`` owns the single writer of one connection (``send``) and how it
is dropped (``close``); ``Session`` is the set of connections accepted by one
``Server.serve_listener`` call.
"""

from __future__ import annotations

import logging
import socket
from typing import Protocol

import anyio
import anyio.abc
from anyio.abc import SocketAttribute

from ttrpc._connection import ServerConnection
from ttrpc._context import PeerCredentials
from ttrpc._server_stream import ServerStream

log = logging.getLogger("ttrpc.server")

_BROKEN = (anyio.BrokenResourceError, anyio.ClosedResourceError)


class AcceptingListener(Protocol):
    """What serve_listener needs: anyio's SocketListener (or any look-alike)."""

    async def accept(self) -> anyio.abc.ByteStream: ...

    async def aclose(self) -> None: ...


class ServerConn:
    """One accepted connection: its protocol state, writer and task group."""

    __slots__ = (
        "_raw",
        "_send_lock",
        "active",
        "closed",
        "inflight",
        "peer",
        "scope",
        "send_timeout",
        "state",
        "stream",
        "streams",
    )

    def __init__(
        self,
        stream: anyio.abc.ByteStream,
        peer: PeerCredentials | None,
        send_timeout: float,
        max_length: int,
    ) -> None:
        self.stream = stream
        self.peer = peer
        self.send_timeout = send_timeout
        self.state = ServerConnection(max_length)
        self.scope: anyio.CancelScope | None = None
        self.active = 0
        self.inflight: set[int] = set()
        self.streams: dict[int, ServerStream] = {}
        self.closed = False
        self._send_lock = anyio.Lock()
        raw = stream.extra(SocketAttribute.raw_socket, None)
        # The non-blocking fast path below writes straight to the socket; only
        # plain stream sockets qualify (never TLS or in-memory streams).
        self._raw: socket.socket | None = (
            raw if raw is not None and raw.type == socket.SOCK_STREAM else None
        )

    def close(self) -> None:
        """Drop the connection: ends its reader, then its in-flight handlers.

        For a socket, shutdown(2) makes the blocked reader see EOF, so it
        leaves through its normal path (detaching its fd from the event loop)
        and its exit cancels the handlers. Cancelling the connection's scope
        is the fallback for streams that are not sockets. (Cancelling a task
        blocked in anyio's own receive just as the socket turns readable also
        makes asyncio log an InvalidStateError.)
        """
        self.closed = True
        if self._raw is not None:
            try:
                self._raw.shutdown(socket.SHUT_RDWR)
                return
            except OSError:
                pass
        if self.scope is not None:
            self.scope.cancel()

    async def send(self, frame: bytes) -> None:
        """Write one whole frame; the single writer of this connection.

        Tries one non-blocking send(2) first (the common case: the socket
        buffer has room), then waits for writability at most ``send_timeout``
        seconds before giving up on the peer.
        """
        lock = self._send_lock
        if lock.locked():
            await lock.acquire()
        else:
            lock.acquire_nowait()
        try:
            if self.closed:
                return
            sent = 0
            if self._raw is not None:
                try:
                    sent = self._raw.send(frame)
                except BlockingIOError:
                    sent = 0
                except OSError as exc:
                    log.debug("ttrpc: send failed: %s", exc)
                    self.close()
                    return
                if sent == len(frame):
                    return
            with anyio.move_on_after(self.send_timeout) as timeout:
                await self.stream.send(frame[sent:] if sent else frame)
            if timeout.cancelled_caught:
                log.warning(
                    "ttrpc: peer %s did not read for %.1fs; dropping the connection",
                    self.peer,
                    self.send_timeout,
                )
                self.close()
        except _BROKEN as exc:
            log.debug("ttrpc: send failed: %r", exc)
            self.close()
        finally:
            lock.release()


class Session:
    """The connections accepted by one ``serve_listener`` call."""

    __slots__ = ("accept_scope", "changed", "connections")

    def __init__(self) -> None:
        self.connections: set[ServerConn] = set()
        self.accept_scope = anyio.CancelScope()
        self.changed = anyio.Event()

    def remove(self, conn: ServerConn) -> None:
        self.connections.discard(conn)
        self.changed.set()

    async def wait_empty(self) -> None:
        while self.connections:
            self.changed = anyio.Event()
            await self.changed.wait()


class closing:
    """``async with`` that acloses a listener (Protocol objects lack __aenter__)."""

    def __init__(self, listener: AcceptingListener) -> None:
        self._listener = listener

    async def __aenter__(self) -> AcceptingListener:
        return self._listener

    async def __aexit__(self, *exc_info: object) -> None:
        with anyio.CancelScope(shield=True):
            await self._listener.aclose()
