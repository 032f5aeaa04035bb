"""A threaded ttrpc server: the anyio :class:`ttrpc.Server`'s wire behaviour
without an event loop.

For processes that must stay small and start fast: the sandbox process
(``pysandbox boot``) serves its control API with it, because importing
asyncio and anyio alone would cost every sandbox several MiB of memory and
tens of milliseconds of start time. It shares the sans-I/O codec
(``_connection.py``), the method tables (``_service.py``) and the status
mapping (``_unary.py``) with the anyio server, so both answer alike.

Threads: the caller's (``serve_*`` runs the accept loop), one reader per
connection, a worker per running call (so a call that blocks for minutes, a
container's ``Wait``, never delays a ``Kill`` on the same connection), and,
once a call carries a deadline, one timer thread. Workers are reused: a
call goes to an idle worker if there is one (handing work to a waiting
thread costs ~30 µs, starting a thread and switching to it ~450 µs), else
to a new one; idle workers beyond a few, or idle for long, exit. Responses go out in
completion order, one whole frame at a time under the connection's send
lock; a peer that does not read a response within ``send_timeout`` is
dropped. Hostile input gets what the anyio server gives it: an oversized
frame answers RESOURCE_EXHAUSTED on its stream, bad stream ids and
undecodable requests INVALID_ARGUMENT, garbage drops the connection, a
truncated frame at end of file is logged.

Differences from :class:`ttrpc.Server`: unary calls only (a streaming method
answers UNIMPLEMENTED); a thread cannot be cancelled, so at the client's
deadline the call answers DEADLINE_EXCEEDED and the context's ``cancelled``
event is set (as it is when the peer disconnects or the shutdown grace
period ends), and the handler's late result is dropped.

Lock order: ``_Conn.send_lock`` -> ``_Conn.fd_lock``; ``SyncServer._lock``
(bookkeeping) is never held while taking another lock or doing I/O, and no
lock is held across a handler call.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import queue
import select
import socket
import stat
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from ttrpc._codec import MAX_MESSAGE_LENGTH, FrameError
from ttrpc._connection import DataReceived, ProtocolReject, RequestReceived, ServerConnection
from ttrpc._context import (
    CallContext,
    PeerCredentials,
    handshake_allows,
    metadata_from_request,
)
from ttrpc._peercred import Handshake, socket_credentials
from ttrpc._service import Method, MethodSpec, Registry, service_methods
from ttrpc._status import Code, TTRPCError
from ttrpc._unary import deadline_frame, decode_payload, error_frame, response_frame

if TYPE_CHECKING:
    from google.protobuf.descriptor import ServiceDescriptor

    from ttrpc._wire import Request

log = logging.getLogger("ttrpc.server")

_RECEIVE_SIZE = 65536
_SEND_FLAGS = socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL
#: After the grace period, how long shutdown waits for the dropped
#: connections' readers to notice.
_CLOSE_WAIT = 5.0

_local = threading.local()  # .in_handler: this thread runs a handler


class SyncServerContext(CallContext):
    """Per-call context of :class:`SyncServer`, handed to every handler as ``ctx``.

    ``deadline`` is a ``time.monotonic()`` time (None without a client
    timeout). ``cancelled`` is set when the answer no longer matters: the
    deadline passed (the call already answered DEADLINE_EXCEEDED), the peer
    disconnected, or the server's shutdown grace period ended. A handler
    that may block for long can wait on it.
    """

    __slots__ = ("cancelled",)

    def __init__(
        self,
        *,
        service: str,
        method: str,
        stream_id: int,
        metadata: Mapping[str, tuple[str, ...]],
        deadline: float | None,
        peer: PeerCredentials | None,
    ) -> None:
        super().__init__(
            service=service,
            method=method,
            stream_id=stream_id,
            metadata=metadata,
            deadline=deadline,
            peer=peer,
        )
        self.cancelled = threading.Event()

    def time_remaining(self) -> float | None:
        """Seconds left before the deadline (None without one)."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())


class SyncListener(Protocol):
    """Where :meth:`SyncServer.serve_listener` gets its connections.

    ``fileno()`` is polled for readability; ``accept()`` then returns a
    connected socket, or None when there is nothing to serve after all (no
    connection pending, or one the listener refused). ``close()`` is called
    once, by the accepting thread, when serving ends.
    """

    def fileno(self) -> int: ...

    def accept(self) -> socket.socket | None: ...

    def close(self) -> None: ...


class SocketListener:
    """A listening socket as a :class:`SyncListener`."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock = sock

    def fileno(self) -> int:
        return self._sock.fileno()

    def accept(self) -> socket.socket | None:
        try:
            conn, _ = self._sock.accept()
        except BlockingIOError:
            return None
        conn.setblocking(True)
        return conn

    def close(self) -> None:
        self._sock.close()


class _Call:
    """One unary call in flight: answered exactly once (the handler's
    result or its deadline, whichever comes first)."""

    __slots__ = ("answered", "ctx", "deadline", "stream_id")

    def __init__(self, stream_id: int, ctx: SyncServerContext) -> None:
        self.stream_id = stream_id
        self.ctx = ctx
        self.deadline = ctx.deadline
        self.answered = False  # guarded by the connection's send_lock


class _Conn:
    """One accepted connection: its protocol state, its calls and its writer.

    Only the reader thread closes the socket (:meth:`release`, at its end);
    :meth:`close` only shuts it down, which wakes the reader (end of file)
    and fails a blocked send, so no thread ever uses a closed descriptor.
    """

    __slots__ = (
        "active",
        "calls",
        "closed",
        "fd_lock",
        "peer",
        "send_lock",
        "send_timeout",
        "sock",
        "state",
    )

    def __init__(
        self,
        sock: socket.socket,
        peer: PeerCredentials | None,
        send_timeout: float,
        max_length: int,
    ) -> None:
        self.sock = sock
        self.peer = peer
        self.send_timeout = send_timeout
        self.state = ServerConnection(max_length)
        self.calls: dict[int, _Call] = {}  # guarded by SyncServer._lock
        self.active = 0  # handlers running; guarded by SyncServer._lock
        self.closed = False
        self.send_lock = threading.Lock()
        self.fd_lock = threading.Lock()

    def close(self) -> None:
        """Drop the connection: its reader sees end of file and ends it."""
        self.closed = True
        with self.fd_lock:
            if self.sock.fileno() >= 0:
                try:
                    self.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def release(self) -> None:
        """The reader's last act: no more sends, then the descriptor goes."""
        self.close()
        with self.send_lock:
            self.closed = True
            with self.fd_lock:
                self.sock.close()

    def send(self, frame: bytes) -> None:
        """Write one whole frame (a reject or a protocol error)."""
        with self.send_lock:
            self._send_locked(frame)

    def answer(self, call: _Call, frame: bytes) -> None:
        """Write ``call``'s answer unless it has one already."""
        with self.send_lock:
            if call.answered:
                return
            call.answered = True
            self._send_locked(frame)

    def _send_locked(self, frame: bytes) -> None:
        if self.closed:
            return
        try:
            _send_all(self.sock, frame, self.send_timeout)
        except TimeoutError:
            log.warning(
                "ttrpc: peer %s did not read for %.1fs; dropping the connection",
                self.peer,
                self.send_timeout,
            )
            self.close()
        except OSError as exc:
            log.debug("ttrpc: send failed: %s", exc)
            self.close()


def _send_all(sock: socket.socket, data: bytes, timeout: float) -> None:
    """send(2) all of ``data``, waiting for room at most ``timeout`` seconds
    in all; the socket itself stays blocking for its reader."""
    view = memoryview(data)
    deadline: float | None = None
    poller: select.poll | None = None
    while view:
        try:
            sent = sock.send(view, _SEND_FLAGS)
        except BlockingIOError:
            now = time.monotonic()
            if deadline is None:
                deadline = now + timeout
            remaining = deadline - now
            if remaining <= 0:
                raise TimeoutError from None
            if poller is None:
                poller = select.poll()
                poller.register(sock.fileno(), select.POLLOUT)
            poller.poll(remaining * 1000)
            continue
        view = view[sent:]


class _Workers:
    """Threads that run calls: an idle one takes the next call, else a new
    one starts, so a call that blocks never holds up another. A worker
    stays for the next call only while fewer than ``max_idle`` wait, and
    at most ``idle_timeout`` seconds (a sleeping process keeps no threads
    it does not need, and none that wakes it up)."""

    def __init__(self, max_idle: int = 4, idle_timeout: float = 30.0) -> None:
        self._lock = threading.Lock()
        # Invariant: items queued == workers waiting - self._idle (each
        # submit that claims an idle worker queues exactly one item).
        self._queue: queue.SimpleQueue[tuple[Callable[..., None], tuple[object, ...]]] = (
            queue.SimpleQueue()
        )
        self._idle = 0
        self._max_idle = max_idle
        self._idle_timeout = idle_timeout

    def submit(self, fn: Callable[..., None], *args: object) -> None:
        """Run ``fn(*args)`` on a worker; RuntimeError if no thread can start."""
        with self._lock:
            if self._idle:
                self._idle -= 1
                self._queue.put((fn, args))
                return
        threading.Thread(
            target=self._work, args=((fn, args),), name="ttrpc-worker", daemon=True
        ).start()

    def _work(self, item: tuple[Callable[..., None], tuple[object, ...]]) -> None:
        while True:
            fn, args = item
            fn(*args)
            del fn, args, item  # no references kept while idle
            with self._lock:
                if self._idle >= self._max_idle:
                    return
                self._idle += 1
            try:
                item = self._queue.get(timeout=self._idle_timeout)
            except queue.Empty:
                with self._lock:
                    if self._idle:
                        self._idle -= 1
                        return
                # A submit claimed us as we timed out: its item is queued.
                item = self._queue.get()


class _Deadlines:
    """Answers DEADLINE_EXCEEDED for calls still running at their client's
    deadline: one thread, started by the first call that has one."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, _Conn, _Call]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def add(self, conn: _Conn, call: _Call) -> None:
        assert call.deadline is not None
        with self._cond:
            if self._stopped:
                return
            heapq.heappush(self._heap, (call.deadline, next(self._seq), conn, call))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="ttrpc-deadlines", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopped:
                        return
                    if self._heap:
                        wait = self._heap[0][0] - time.monotonic()
                        if wait <= 0:
                            _, _, conn, call = heapq.heappop(self._heap)
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
            call.ctx.cancelled.set()
            conn.answer(call, deadline_frame(call.stream_id))


class SyncServer:
    """A ttrpc server on threads, for unary calls.

    ``handshake`` (e.g. :func:`ttrpc.require_same_user`) vets each unix
    connection's SO_PEERCRED credentials before any byte is read.
    ``send_timeout`` bounds how long a response may wait for a peer that
    does not read. ``grace_period`` is how long :meth:`shutdown` lets
    running calls finish before it drops their connections.
    ``max_calls_per_connection`` bounds the threads one connection can
    occupy: a request beyond it answers RESOURCE_EXHAUSTED.
    """

    def __init__(
        self,
        *,
        handshake: Handshake | None = None,
        send_timeout: float = 30.0,
        grace_period: float = 10.0,
        max_message_length: int = MAX_MESSAGE_LENGTH,
        max_calls_per_connection: int = 256,
    ) -> None:
        self._services = Registry()
        self._handshake = handshake
        self._send_timeout = send_timeout
        self._grace_period = grace_period
        self._max_length = max_message_length
        self._max_calls = max_calls_per_connection
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._conns: set[_Conn] = set()
        self._wakers: set[int] = set()  # write ends of the accept loops' wake pipes
        self._serving = 0
        self._shutting_down = False
        self._deadlines = _Deadlines()
        self._workers = _Workers()

    # -- registration -----------------------------------------------------

    def register(
        self,
        service: ServiceDescriptor | str,
        implementation: object | Mapping[str, MethodSpec],
    ) -> None:
        """Serve a service, as :meth:`ttrpc.Server.register` does, with
        plain ``def Method(self, ctx, request)`` handlers."""
        name, methods = service_methods(service, implementation, sync=True)
        with self._lock:
            self._services.add(name, methods)

    @property
    def services(self) -> dict[str, list[str]]:
        """Registered services and their method names (for introspection)."""
        return self._services.names()

    # -- serving ----------------------------------------------------------

    def serve_unix(
        self,
        path: str | os.PathLike[str],
        *,
        mode: int | None = None,
        ready: threading.Event | None = None,
    ) -> None:
        """Listen on a filesystem unix socket at ``path`` until shut down.

        A stale socket file at ``path`` is replaced; ``mode`` is applied to
        the socket file; ``ready`` is set once it listens. The file is
        removed on return if it is still ours.
        """
        target = os.fspath(path)
        try:
            if stat.S_ISSOCK(os.lstat(target).st_mode):
                os.unlink(target)
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(target)
            if mode is not None:
                os.chmod(target, mode)
            sock.listen(socket.SOMAXCONN)
        except BaseException:
            sock.close()
            raise
        ino = os.stat(target).st_ino
        try:
            self.serve_listener(SocketListener(sock), ready=ready)
        finally:
            try:
                if os.stat(target).st_ino == ino:
                    os.unlink(target)
            except FileNotFoundError:
                pass

    def serve_socket(
        self, sock: socket.socket | int, *, ready: threading.Event | None = None
    ) -> None:
        """Serve on an already listening socket (or its descriptor)."""
        if isinstance(sock, int):
            sock = socket.socket(fileno=sock)
        self.serve_listener(SocketListener(sock), ready=ready)

    def serve_listener(
        self, listener: SyncListener, *, ready: threading.Event | None = None
    ) -> None:
        """Accept and serve connections from ``listener`` until :meth:`shutdown`.

        Blocks the calling thread; closes the listener on return. On
        shutdown: stops accepting, closes idle connections, lets running
        calls finish for the grace period, then drops every connection
        (their handlers' contexts are cancelled).
        """
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        with self._lock:
            self._wakers.add(wake_w)
            self._serving += 1
            stopping = self._shutting_down
        closed = False
        try:
            if ready is not None:
                ready.set()
            if not stopping:
                self._accept_loop(listener, wake_r)
            closed = True
            listener.close()  # shutting down: refuse new connections now
            self._drain()
        finally:
            if not closed:
                listener.close()
            with self._lock:
                self._wakers.discard(wake_w)
                self._serving -= 1
                if not self._serving and self._shutting_down:
                    self._deadlines.stop()
                self._changed.notify_all()
            os.close(wake_r)
            os.close(wake_w)

    def _accept_loop(self, listener: SyncListener, wake_r: int) -> None:
        poller = select.poll()
        poller.register(listener.fileno(), select.POLLIN)
        poller.register(wake_r, select.POLLIN)
        while True:
            ready = {fd for fd, _ in poller.poll()}
            if wake_r in ready or self._shutting_down:
                return
            try:
                sock = listener.accept()
            except OSError as exc:
                # EMFILE/ENFILE and friends: back off, keep serving.
                log.error("ttrpc: accept failed: %s", exc)
                if select.select([wake_r], [], [], 0.1)[0]:
                    return
                continue
            if sock is None:
                continue
            try:
                threading.Thread(
                    target=self._serve_connection, args=(sock,), name="ttrpc-conn", daemon=True
                ).start()
            except RuntimeError as exc:  # no thread to serve it
                log.error("ttrpc: cannot serve a connection: %s", exc)
                sock.close()

    def _drain(self) -> None:
        """Shutting down: idle connections go now, busy ones when their
        calls finish or the grace period ends."""
        self._close_idle()
        with self._changed:
            done = self._changed.wait_for(lambda: not self._conns, self._grace_period)
            left = list(self._conns)
        if done:
            return
        log.warning(
            "ttrpc: %d calls still running after the %.1fs grace period; dropping them",
            sum(c.active for c in left),
            self._grace_period,
        )
        for conn in left:
            conn.close()
        with self._changed:
            self._changed.wait_for(lambda: not self._conns, _CLOSE_WAIT)

    def shutdown(self, grace_period: float | None = None, *, wait: bool = True) -> None:
        """Stop serving: stop accepting, finish running calls, close connections.

        Running calls get ``grace_period`` seconds (default: the server's)
        before their connections are dropped. Returns once every
        ``serve_*`` call has returned, except with ``wait=False`` or when
        called from inside a handler, where it only starts the shutdown.
        """
        with self._lock:
            if grace_period is not None:
                self._grace_period = grace_period
            self._shutting_down = True
            wakers = list(self._wakers)
        for fd in wakers:
            try:
                os.write(fd, b"x")
            except OSError:
                pass  # full (already woken) or closed (that loop ended)
        self._close_idle()
        if not wait or getattr(_local, "in_handler", False):
            return
        with self._changed:
            self._changed.wait_for(lambda: not self._serving)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    @property
    def connection_count(self) -> int:
        """Open connections across all listeners."""
        with self._lock:
            return len(self._conns)

    @property
    def active_calls(self) -> int:
        """Calls whose handler is running, across all connections."""
        with self._lock:
            return sum(c.active for c in self._conns)

    def _close_idle(self) -> None:
        with self._lock:
            idle = [c for c in self._conns if c.active == 0]
        for conn in idle:
            conn.close()

    # -- one connection ---------------------------------------------------

    def _serve_connection(self, sock: socket.socket) -> None:
        peer: PeerCredentials | None = None
        try:
            peer = socket_credentials(sock)
        except OSError as exc:
            log.warning("ttrpc: cannot read peer credentials: %s", exc)
        if self._handshake is not None and not handshake_allows(self._handshake, peer):
            sock.close()
            return
        conn = _Conn(sock, peer, self._send_timeout, self._max_length)
        with self._lock:
            self._conns.add(conn)
            refuse = self._shutting_down
        try:
            if not refuse:
                self._read_loop(conn)
        finally:
            conn.close()
            with self._lock:
                calls = list(conn.calls.values())
            # The peer is gone (or we dropped it): as Go cancels the
            # context of its in-flight calls, theirs are cancelled.
            for call in calls:
                call.ctx.cancelled.set()
            conn.release()
            with self._lock:
                self._conns.discard(conn)
                self._changed.notify_all()

    def _read_loop(self, conn: _Conn) -> None:
        state = conn.state
        sock = conn.sock
        while True:
            try:
                data = sock.recv(_RECEIVE_SIZE)
            except OSError:
                return
            if not data:
                try:
                    state.receive_eof()
                except FrameError as exc:
                    log.warning("ttrpc: %s", exc)
                return
            try:
                events = state.receive_data(data)
            except FrameError as exc:
                log.warning("ttrpc: peer %s: %s", conn.peer, exc)
                return
            for event in events:
                if conn.closed:
                    return
                if type(event) is RequestReceived:
                    self._dispatch(conn, event)
                elif type(event) is ProtocolReject:
                    log.debug("ttrpc: rejecting stream %d: %s", event.stream_id, event.message)
                    conn.send(
                        ServerConnection.error_response(event.stream_id, event.code, event.message)
                    )
                elif type(event) is DataReceived:
                    self._on_data(conn, event)

    def _on_data(self, conn: _Conn, event: DataReceived) -> None:
        # No streams here: a DATA frame on a live unary call must not get a
        # second response on that stream (logged and dropped); on any other
        # stream it gets Go's answer for streams it does not know.
        with self._lock:
            live = event.stream_id in conn.calls
        if live:
            log.warning("ttrpc: dropping DATA frame on unary stream %d", event.stream_id)
            return
        conn.send(
            ServerConnection.error_response(
                event.stream_id, Code.INVALID_ARGUMENT, "StreamID is no longer active"
            )
        )

    def _dispatch(self, conn: _Conn, event: RequestReceived) -> None:
        request = event.request
        stream_id = event.stream_id
        methods = self._services.get(request.service)
        method = None if methods is None else methods.get(request.method)
        if method is None or method.streaming:
            if methods is None:
                message = f"service {request.service}"
            elif method is None:
                message = f"method {request.method}"
            else:
                message = f"method {request.method}: streaming calls are not served by SyncServer"
            conn.send(ServerConnection.error_response(stream_id, Code.UNIMPLEMENTED, message))
            return
        deadline = None
        if request.timeout_nano > 0:
            deadline = time.monotonic() + request.timeout_nano / 1e9
        ctx = SyncServerContext(
            service=request.service,
            method=request.method,
            stream_id=stream_id,
            metadata=metadata_from_request(request) if request.metadata else {},
            deadline=deadline,
            peer=conn.peer,
        )
        call = _Call(stream_id, ctx)
        with self._lock:
            busy = conn.active >= self._max_calls
            if not busy:
                conn.active += 1
                conn.calls[stream_id] = call
        if busy:
            conn.send(
                ServerConnection.error_response(
                    stream_id,
                    Code.RESOURCE_EXHAUSTED,
                    f"ttrpc: more than {self._max_calls} calls in flight on one connection",
                )
            )
            return
        try:
            self._workers.submit(self._run_call, conn, call, request, method)
        except RuntimeError as exc:  # can't start new thread
            self._call_done(conn, call)
            conn.send(
                ServerConnection.error_response(
                    stream_id, Code.RESOURCE_EXHAUSTED, f"ttrpc: cannot run the call: {exc}"
                )
            )
            return
        if deadline is not None:
            self._deadlines.add(conn, call)

    def _run_call(self, conn: _Conn, call: _Call, request: Request, method: Method) -> None:
        _local.in_handler = True
        try:
            conn.answer(call, _invoke(call, request, method))
        finally:
            self._call_done(conn, call)

    def _call_done(self, conn: _Conn, call: _Call) -> None:
        with self._lock:
            conn.active -= 1
            conn.calls.pop(call.stream_id, None)
            close = conn.active == 0 and self._shutting_down
        if close:
            conn.close()


def _invoke(call: _Call, request: Request, method: Method) -> bytes:
    """Run the handler on this thread; return its response frame."""
    stream_id = call.stream_id
    try:
        message = decode_payload(method, request)
    except TTRPCError as exc:
        return error_frame(stream_id, request, exc)
    handler = method.handler
    assert handler is not None
    try:
        response = handler(call.ctx, message)
    except BaseException as exc:  # a thread has no cancellation: anything is the handler's
        return error_frame(stream_id, request, exc)
    if call.deadline is not None and time.monotonic() >= call.deadline:
        return deadline_frame(stream_id)
    return response_frame(stream_id, request, method, response)
