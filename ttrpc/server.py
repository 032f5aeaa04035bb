"""anyio ttrpc server: accepts connections, dispatches each request concurrently.

Behaviour follows ttrpc Go (server.go, services.go): one task per request so
a call that blocks for minutes (containerd's ``Wait``) never delays another
on the same connection (``Kill``); responses leave through exactly one writer
per connection, in completion order, matched by stream id. A peer that stops
reading cannot wedge the server: a send that cannot complete within
``send_timeout`` drops that connection.

Lock order: a connection's ``_send_lock`` is the only lock; it is never held
across a handler call.
"""

from __future__ import annotations

import logging
import math
import os
import socket
from collections.abc import Mapping

import anyio
import anyio.abc
import anyio.lowlevel
from google.protobuf.descriptor import ServiceDescriptor

from ttrpc._codec import (
    MAX_MESSAGE_LENGTH,
    Flags,
    FrameError,
)
from ttrpc._connection import (
    DataReceived,
    ProtocolReject,
    RequestReceived,
    ServerConnection,
)
from ttrpc._context import (
    PeerCredentials,
    handshake_allows,
    in_handler,
)
from ttrpc._invoke import invoke_stream, invoke_unary
from ttrpc._io import Reader
from ttrpc._peercred import Handshake, peer_credentials
from ttrpc._server_conn import AcceptingListener, ServerConn, Session, closing
from ttrpc._server_stream import ServerStream
from ttrpc._service import Method, MethodSpec, Registry, service_methods
from ttrpc._spawn import HandlerTasks
from ttrpc._status import Code
from ttrpc._wire import Request

log = logging.getLogger("ttrpc.server")

_RECEIVE_SIZE = 65536
_MAX_EAGER_READS = 4
_BROKEN = (anyio.BrokenResourceError, anyio.ClosedResourceError)


class Server:
    """A ttrpc server.

    ``handshake`` (e.g. :func:`ttrpc.require_same_user`) vets each unix
    connection's SO_PEERCRED credentials before any byte is read; a refused
    peer is disconnected. ``send_timeout`` bounds how long a response may
    wait for a peer that does not read. ``grace_period`` is how long
    :meth:`shutdown` lets in-flight calls finish before cancelling them.
    """

    def __init__(
        self,
        *,
        handshake: Handshake | None = None,
        send_timeout: float = 30.0,
        grace_period: float = 10.0,
        max_message_length: int = MAX_MESSAGE_LENGTH,
    ) -> None:
        self._services = Registry()
        self._handshake = handshake
        self._send_timeout = send_timeout
        self._grace_period = grace_period
        self._max_length = max_message_length
        self._sessions: set[Session] = set()
        self._shutting_down = False
        self._stopped: anyio.Event | None = None

    # -- registration -----------------------------------------------------

    def register(
        self,
        service: ServiceDescriptor | str,
        implementation: object | Mapping[str, MethodSpec],
    ) -> None:
        """Serve a service.

        ``register(pb2.DESCRIPTOR.services_by_name["Task"], impl)`` binds the
        descriptor's RPCs to ``impl``'s ``async def Method(self, ctx, request)``
        (RPCs ``impl`` lacks answer UNIMPLEMENTED). ``register("pkg.Svc",
        {"Method": (RequestType, ResponseType, handler)})`` needs no descriptor.
        """
        name, methods = service_methods(service, implementation)
        self._services.add(name, methods)

    @property
    def services(self) -> dict[str, list[str]]:
        """Registered services and their method names (for introspection)."""
        return self._services.names()

    # -- serving ----------------------------------------------------------

    async def serve_unix(
        self,
        path: str | os.PathLike[str],
        *,
        mode: int | None = None,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on a filesystem unix socket at ``path`` until shut down.

        A stale socket file at ``path`` is replaced; ``mode`` (e.g. 0o600,
        what containerd shims use) is applied to the socket file. The file is
        removed on return if it is still ours.
        """
        listener = await anyio.create_unix_listener(path, mode=mode)
        ino = os.stat(path).st_ino
        try:
            await self.serve_listener(listener, task_status=task_status)
        finally:
            try:
                if os.stat(path).st_ino == ino:
                    os.unlink(path)
            except FileNotFoundError:
                pass

    async def serve_socket(
        self,
        sock: socket.socket | int,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve on an already listening socket (e.g. fd 3 passed by ``start``)."""
        listener = await anyio.abc.SocketListener.from_socket(sock)
        await self.serve_listener(listener, task_status=task_status)

    async def serve_listener(
        self,
        listener: AcceptingListener,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept and serve connections from ``listener`` until :meth:`shutdown`.

        Closes the listener on return. On shutdown: stops accepting, closes
        idle connections, lets in-flight calls finish for the grace period,
        then cancels what is left and closes every connection.
        """
        session = Session()
        self._sessions.add(session)
        try:
            async with closing(listener), anyio.create_task_group() as tg:
                # Listening: `await tg.start(server.serve_unix, path)` returns
                # now, so connecting cannot race the listen(2).
                task_status.started()
                with session.accept_scope:
                    if self._shutting_down:
                        session.accept_scope.cancel()
                    while True:
                        try:
                            stream = await listener.accept()
                        except OSError as exc:
                            # EMFILE/ENFILE and friends: back off, keep serving.
                            log.error("ttrpc: accept failed: %s", exc)
                            await anyio.sleep(0.1)
                            continue
                        tg.start_soon(self._serve_connection, session, stream)
                # Shutting down: refuse new connections right away.
                await listener.aclose()
                self._close_idle(session)
                with anyio.move_on_after(self._grace_period) as grace:
                    await session.wait_empty()
                if grace.cancelled_caught:
                    log.warning(
                        "ttrpc: %d calls still running after the %.1fs grace period; cancelling",
                        sum(c.active for c in session.connections),
                        self._grace_period,
                    )
                tg.cancel_scope.cancel()
        finally:
            self._sessions.discard(session)
            if not self._sessions and self._stopped is not None:
                self._stopped.set()

    async def shutdown(self, grace_period: float | None = None) -> None:
        """Stop serving: stop accepting, finish in-flight calls, close connections.

        In-flight calls get ``grace_period`` seconds (default: the server's)
        before they are cancelled. Returns once every ``serve_*`` call has
        returned, except when called from inside a handler (e.g. a Shutdown
        RPC), where it only starts the shutdown so the handler can answer.
        """
        if grace_period is not None:
            self._grace_period = grace_period
        self._shutting_down = True
        if self._stopped is None:
            self._stopped = anyio.Event()
        for session in list(self._sessions):
            session.accept_scope.cancel()
            self._close_idle(session)
        if not self._sessions:
            self._stopped.set()
        if in_handler.get():
            return
        await self._stopped.wait()

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    @property
    def connection_count(self) -> int:
        """Open connections across all listeners."""
        return sum(len(s.connections) for s in self._sessions)

    @property
    def active_calls(self) -> int:
        """Calls currently being handled across all connections."""
        return sum(c.active for s in self._sessions for c in s.connections)

    @staticmethod
    def _close_idle(session: Session) -> None:
        for conn in list(session.connections):
            if conn.active == 0:
                conn.close()

    # -- one connection ---------------------------------------------------

    async def _serve_connection(self, session: Session, stream: anyio.abc.ByteStream) -> None:
        async with stream:
            peer: PeerCredentials | None = None
            try:
                peer = peer_credentials(stream)
            except OSError as exc:
                log.warning("ttrpc: cannot read peer credentials: %s", exc)
            if self._handshake is not None and not handshake_allows(self._handshake, peer):
                return
            conn = ServerConn(stream, peer, self._send_timeout, self._max_length)
            session.connections.add(conn)
            try:
                async with anyio.create_task_group() as tg:
                    conn.scope = tg.cancel_scope
                    handlers = HandlerTasks(tg)
                    try:
                        if self._shutting_down:
                            conn.close()
                        await self._read_loop(conn, handlers)
                    finally:
                        # The peer is gone (or we dropped it): like Go's
                        # serverConn, whose ctx is cancelled on return,
                        # in-flight handlers are cancelled.
                        await handlers.aclose()
                        tg.cancel_scope.cancel()
            finally:
                session.remove(conn)

    async def _read_loop(self, conn: ServerConn, tg: HandlerTasks) -> None:
        reader = Reader(conn.stream)
        try:
            await self._read_frames(conn, tg, reader)
        finally:
            reader.detach()

    async def _read_frames(self, conn: ServerConn, tg: HandlerTasks, reader: Reader) -> None:
        state = conn.state
        eager = 0
        while True:
            if eager >= _MAX_EAGER_READS:
                # A peer that keeps the socket full must not starve the
                # handlers we spawned: let them run.
                eager = 0
                await anyio.lowlevel.checkpoint()
            try:
                data, waited = await reader.receive(_RECEIVE_SIZE)
            except anyio.EndOfStream:
                try:
                    state.receive_eof()
                except FrameError as exc:
                    log.warning("ttrpc: %s", exc)
                return
            except _BROKEN:
                return
            eager = 0 if waited else eager + 1
            try:
                events = state.receive_data(data)
            except FrameError as exc:
                log.warning("ttrpc: peer %s: %s", conn.peer, exc)
                return  # leaving the reader drops the connection
            for event in events:
                if type(event) is RequestReceived:
                    self._dispatch(conn, tg, event)
                elif type(event) is ProtocolReject:
                    log.debug("ttrpc: rejecting stream %d: %s", event.stream_id, event.message)
                    tg.start(
                        conn.send,
                        ServerConnection.error_response(event.stream_id, event.code, event.message),
                    )
                elif type(event) is DataReceived:
                    self._on_data(conn, tg, event)

    def _on_data(self, conn: ServerConn, tg: HandlerTasks, event: DataReceived) -> None:
        stream = conn.streams.get(event.stream_id)
        if stream is not None:
            stream.feed(event.flags, event.data)
            return
        # A DATA frame on a live unary call must not produce a second
        # response on that stream: log and drop it. Otherwise answer like
        # Go does for streams it does not know.
        if event.stream_id in conn.inflight:
            log.warning("ttrpc: dropping DATA frame on unary stream %d", event.stream_id)
            return
        tg.start(
            conn.send,
            ServerConnection.error_response(
                event.stream_id, Code.INVALID_ARGUMENT, "StreamID is no longer active"
            ),
        )

    def _dispatch(self, conn: ServerConn, tg: HandlerTasks, event: RequestReceived) -> None:
        request = event.request
        stream_id = event.stream_id
        methods = self._services.get(request.service)
        code = Code.UNIMPLEMENTED
        if methods is None:
            message = f"service {request.service}"
        else:
            method = methods.get(request.method)
            if method is None:
                message = f"method {request.method}"
            elif method.streaming:
                self._open_stream(conn, tg, event, method)
                return
            else:
                conn.active += 1
                conn.inflight.add(stream_id)
                tg.start(self._run_call, conn, stream_id, request, method)
                return
        tg.start(conn.send, ServerConnection.error_response(stream_id, code, message))

    def _open_stream(
        self, conn: ServerConn, tg: HandlerTasks, event: RequestReceived, method: Method
    ) -> None:
        request = event.request
        stream_id = event.stream_id
        deadline = math.inf
        if request.timeout_nano > 0:
            deadline = anyio.current_time() + request.timeout_nano / 1e9
        stream = ServerStream(
            stream_id=stream_id,
            request_type=method.request_type,
            server_streaming=method.server_streaming,
            send_frame=conn.send,
            cancel_scope=anyio.CancelScope(deadline=deadline),
        )
        # services.go: the request payload is the first message unless the
        # client streams and sent none.
        if request.payload or not method.client_streaming:
            stream.feed(0, request.payload)
        if not method.client_streaming or event.flags & Flags.REMOTE_CLOSED:
            stream.close_recv()
        conn.streams[stream_id] = stream
        conn.active += 1
        conn.inflight.add(stream_id)
        tg.start(self._run_stream, conn, stream_id, request, method, stream)

    async def _run_stream(
        self,
        conn: ServerConn,
        stream_id: int,
        request: Request,
        method: Method,
        stream: ServerStream,
    ) -> None:
        in_handler.set(True)
        try:
            frame = await invoke_stream(conn.peer, stream_id, request, method, stream)
            await conn.send(frame)
        finally:
            conn.streams.pop(stream_id, None)
            conn.active -= 1
            conn.inflight.discard(stream_id)
            if conn.active == 0 and self._shutting_down:
                conn.close()

    async def _run_call(
        self,
        conn: ServerConn,
        stream_id: int,
        request: Request,
        method: Method,
    ) -> None:
        in_handler.set(True)  # this task's own context copy
        try:
            frame = await invoke_unary(conn.peer, stream_id, request, method)
            await conn.send(frame)
        finally:
            conn.active -= 1
            conn.inflight.discard(stream_id)
            if conn.active == 0 and self._shutting_down:
                conn.close()
