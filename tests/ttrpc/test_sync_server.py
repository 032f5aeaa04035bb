"""The threaded server (ttrpc.SyncServer) over real unix sockets.

Mirrors test_rpc.py and test_hostile.py for the anyio server: same wire
answers, concurrent calls, hostile peers, shutdown. Handlers that must stay
busy block on events the test releases, never on sleeps; socket timeouts
only stop a broken test from hanging.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from google.protobuf import empty_pb2, wrappers_pb2

import ttrpc
from tests.ttrpc.conftest import ECHO, SERVICE
from ttrpc import ClientConnection, Code, MessageType, encode_frame
from ttrpc._connection import ResponseReceived

S = wrappers_pb2.StringValue
D = wrappers_pb2.DoubleValue
E = empty_pb2.Empty
I32 = wrappers_pb2.Int32Value
GUARD = 10.0  # seconds before a stuck test fails instead of hanging


class SyncEcho:
    """ttrpctest.Echo with plain handlers; ``Sleep`` blocks until released."""

    def __init__(self) -> None:
        self.entered = threading.Semaphore(0)  # one release per Sleep that started
        self.release = threading.Event()
        self.finished: list[str] = []
        self.contexts: list[ttrpc.SyncServerContext] = []

    def Echo(self, ctx: ttrpc.SyncServerContext, req: S) -> S:
        return S(value=req.value)

    def Sleep(self, ctx: ttrpc.SyncServerContext, req: D) -> E:
        self.contexts.append(ctx)
        self.entered.release()
        assert self.release.wait(GUARD)
        self.finished.append("Sleep")
        return E()

    def Fail(self, ctx: ttrpc.SyncServerContext, req: I32) -> E:
        raise ttrpc.TTRPCError(req.value, f"failed with {req.value}")

    def Raise(self, ctx: ttrpc.SyncServerContext, req: E) -> E:
        raise RuntimeError("handler bug")

    def Meta(self, ctx: ttrpc.SyncServerContext, req: S) -> S:
        self.contexts.append(ctx)
        return S(value=",".join(ctx.metadata.get(req.value, ())))

    def Deadline(self, ctx: ttrpc.SyncServerContext, req: D) -> D:
        self.contexts.append(ctx)
        if req.value:
            self.entered.release()
            assert ctx.cancelled.wait(GUARD)  # the deadline passes while we block
        remaining = ctx.time_remaining()
        return D(value=-1.0 if remaining is None else remaining)

    def Big(self, ctx: ttrpc.SyncServerContext, req: wrappers_pb2.Int64Value) -> object:
        return wrappers_pb2.BytesValue(value=b"x" * req.value)

    def Count(self, ctx: ttrpc.SyncServerContext, req: I32) -> I32:
        raise AssertionError("a streaming method must never reach its handler")


def _server(**kwargs: object) -> tuple[ttrpc.SyncServer, SyncEcho]:
    server = ttrpc.SyncServer(**kwargs)  # type: ignore[arg-type]
    impl = SyncEcho()
    server.register(ECHO, impl)
    return server, impl


@contextmanager
def serving(server: ttrpc.SyncServer, path: str) -> Iterator[str]:
    """``server.serve_unix(path)`` on a thread for the body, then shut down."""
    ready = threading.Event()
    thread = threading.Thread(target=server.serve_unix, args=(path,), kwargs={"ready": ready})
    thread.start()
    try:
        assert ready.wait(GUARD)
        yield path
    finally:
        server.shutdown()
        thread.join(GUARD)
        assert not thread.is_alive()


def _connect(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(GUARD)
    sock.connect(path)
    return sock


def _request(stream_id: int, method: str, message: object, **kw: object) -> bytes:
    return ClientConnection.request(
        stream_id,
        SERVICE,
        method,
        message.SerializeToString(),  # type: ignore[attr-defined]
        **kw,  # type: ignore[arg-type]
    )


def _echo(stream_id: int, value: str = "v") -> bytes:
    return _request(stream_id, "Echo", S(value=value))


def _responses(
    sock: socket.socket, count: int, conn: ClientConnection | None = None
) -> dict[int, ResponseReceived]:
    """Read until ``count`` responses arrived; map them by stream id."""
    conn = conn or ClientConnection()
    got: dict[int, ResponseReceived] = {}
    while len(got) < count:
        data = sock.recv(65536)
        assert data, f"connection closed after {len(got)} of {count} responses"
        for event in conn.receive_data(data):
            assert isinstance(event, ResponseReceived)
            assert event.stream_id not in got, f"two responses on stream {event.stream_id}"
            got[event.stream_id] = event
    return got


def _status(event: ResponseReceived) -> tuple[int, str]:
    assert event.response is not None
    return event.response.status.code, event.response.status.message


def _read_to_eof(sock: socket.socket) -> bytes:
    out = b""
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return out
        if not data:
            return out
        out += data


# -- calls ------------------------------------------------------------------


def test_unary_roundtrip_and_errors(sock_dir: str, caplog: pytest.LogCaptureFixture) -> None:
    server, impl = _server()
    impl.release.set()
    with (
        serving(server, os.path.join(sock_dir, "s")) as path,
        ttrpc.SyncClient.connect("unix://" + path, timeout=GUARD) as client,
    ):
        assert client.call(SERVICE, "Echo", S(value="hello"), S) == S(value="hello")
        assert client.call(SERVICE, "Sleep", D(value=0), E) == E()  # empty payloads both ways
        cases = [
            (("no.Such", "Echo", S(), S), (Code.UNIMPLEMENTED, "service no.Such")),
            ((SERVICE, "Nope", S(), S), (Code.UNIMPLEMENTED, "method Nope")),
            ((SERVICE, "Missing", E(), E), (Code.UNIMPLEMENTED, "method Missing")),
            ((SERVICE, "Fail", I32(value=5), E), (Code.NOT_FOUND, "failed with 5")),
        ]
        for args, expected in cases:
            with pytest.raises(ttrpc.TTRPCError) as info:
                client.call(*args)
            assert (info.value.code, info.value.message) == expected
        with (
            caplog.at_level(logging.ERROR, logger="ttrpc.server"),
            pytest.raises(ttrpc.TTRPCError) as info,
        ):
            client.call(SERVICE, "Raise", E(), E)
        assert (info.value.code, info.value.message) == (Code.UNKNOWN, "handler bug")
        assert "handler bug" in caplog.text and "Traceback" in caplog.text
        # A payload that is not the method's request type: INTERNAL like Go.
        with pytest.raises(ttrpc.TTRPCError) as info:
            client.call(SERVICE, "Echo", wrappers_pb2.BytesValue(value=b"\xff\xfe"), S)
        assert info.value.code == Code.INTERNAL
        assert "unmarshalling payload" in info.value.message
        # A response over 4 MiB: RESOURCE_EXHAUSTED, the connection lives on.
        with pytest.raises(ttrpc.TTRPCError) as info:
            big = wrappers_pb2.Int64Value(value=(4 << 20) + 1)
            client.call(SERVICE, "Big", big, wrappers_pb2.BytesValue)
        assert info.value.code == Code.RESOURCE_EXHAUSTED
        assert client.call(SERVICE, "Echo", S(value="still"), S).value == "still"


def test_streaming_methods_answer_unimplemented(sock_dir: str) -> None:
    server, _ = _server()
    with serving(server, os.path.join(sock_dir, "s")) as path, _connect(path) as sock:
        sock.sendall(_request(1, "Count", I32(value=3), flags=ttrpc.Flags.REMOTE_CLOSED))
        got = _responses(sock, 1)
    code, message = _status(got[1])
    assert code == Code.UNIMPLEMENTED
    assert "streaming" in message and "Count" in message


def test_registration_rules() -> None:
    server = ttrpc.SyncServer()

    async def coroutine(ctx: object, req: S) -> S:
        return req

    with pytest.raises(TypeError, match="plain def"):
        server.register("t.Async", {"Do": (S, S, coroutine)})
    server.register("t.Plain", {"Do": (S, S, lambda ctx, req: req)})
    with pytest.raises(ValueError, match="already registered"):
        server.register("t.Plain", {"Do": (S, S, lambda ctx, req: req)})
    server.register(ECHO, SyncEcho())
    assert server.services["t.Plain"] == ["Do"]
    assert "Missing" not in server.services[SERVICE]


def test_handler_returning_wrong_type_is_internal(sock_dir: str) -> None:
    server = ttrpc.SyncServer()
    server.register("t.Wrong", {"Do": (S, S, lambda ctx, req: E())})
    with (
        serving(server, os.path.join(sock_dir, "s")) as path,
        ttrpc.SyncClient.connect(path, timeout=GUARD) as client,
        pytest.raises(ttrpc.TTRPCError) as info,
    ):
        client.call("t.Wrong", "Do", S(), S)
    assert info.value.code == Code.INTERNAL


def test_metadata_and_peer_reach_the_handler(sock_dir: str) -> None:
    server, impl = _server()
    with serving(server, os.path.join(sock_dir, "s")) as path, _connect(path) as sock:
        metadata = [("k", "one"), ("other", "x"), ("k", "two")]
        sock.sendall(_request(1, "Meta", S(value="k"), metadata=metadata))
        got = _responses(sock, 1)
    assert got[1].response is not None
    assert S.FromString(got[1].response.payload).value == "one,two"
    (ctx,) = impl.contexts
    assert ctx.get("k") == "one" and ctx.get("nope") is None
    assert (ctx.service, ctx.method, ctx.stream_id) == (SERVICE, "Meta", 1)
    assert ctx.peer == ttrpc.PeerCredentials(os.getpid(), os.geteuid(), os.getegid())
    assert ctx.deadline is None and ctx.time_remaining() is None


def test_blocking_call_does_not_delay_others(sock_dir: str) -> None:
    # containerd keeps Wait blocked while it sends Kill on the same
    # connection; the runtime sends it on another one.
    server, impl = _server()
    with serving(server, os.path.join(sock_dir, "s")) as path, _connect(path) as sock:
        sock.sendall(_request(1, "Sleep", D(value=1)))
        assert impl.entered.acquire(timeout=GUARD)
        conn = ClientConnection()
        for i in range(3, 43, 2):
            sock.sendall(_echo(i, str(i)))
            got = _responses(sock, 1, conn)
            assert S.FromString(got[i].response.payload).value == str(i)  # type: ignore[union-attr]
        with ttrpc.SyncClient.connect(path, timeout=GUARD) as other:
            assert other.call(SERVICE, "Echo", S(value="other"), S).value == "other"
        assert server.active_calls >= 1 and impl.finished == []
        impl.release.set()
        got = _responses(sock, 1, conn)
        assert _status(got[1])[0] == Code.OK
    assert impl.finished == ["Sleep"]


def test_many_concurrent_calls_on_one_connection(sock_dir: str) -> None:
    server, impl = _server()
    with serving(server, os.path.join(sock_dir, "s")) as path, _connect(path) as sock:
        # Blocked calls interleaved with quick ones: answers leave out of order.
        blocked = list(range(1, 400, 8))
        frames = [
            _request(i, "Sleep", D()) if i in blocked else _echo(i, f"v{i}")
            for i in range(1, 400, 2)
        ]
        sock.sendall(b"".join(frames))
        conn = ClientConnection()
        quick = _responses(sock, 200 - len(blocked), conn)
        assert set(quick) == set(range(1, 400, 2)) - set(blocked)
        for i, event in quick.items():
            assert S.FromString(event.response.payload).value == f"v{i}"  # type: ignore[union-attr]
        impl.release.set()
        slow = _responses(sock, len(blocked), conn)
        assert set(slow) == set(blocked)


def test_calls_beyond_the_per_connection_limit_are_refused(sock_dir: str) -> None:
    server, impl = _server(max_calls_per_connection=2)
    with serving(server, os.path.join(sock_dir, "s")) as path, _connect(path) as sock:
        sock.sendall(_request(1, "Sleep", D()) + _request(3, "Sleep", D()))
        for _ in range(2):
            assert impl.entered.acquire(timeout=GUARD)
        conn = ClientConnection()
        sock.sendall(_echo(5))
        got = _responses(sock, 1, conn)
        assert _status(got[5])[0] == Code.RESOURCE_EXHAUSTED
        impl.release.set()
        assert set(_responses(sock, 2, conn)) == {1, 3}
        sock.sendall(_echo(7))
        assert _status(_responses(sock, 1, conn)[7])[0] == Code.OK


def test_deadline_answers_deadline_exceeded_and_cancels_the_context(sock_dir: str) -> None:
    server, impl = _server()
    with serving(server, os.path.join(sock_dir, "s")) as path, _connect(path) as sock:
        # The client sends timeout_nano and does not enforce it: the server answers.
        sock.sendall(_request(1, "Deadline", D(value=1), timeout_nano=50_000_000))
        conn = ClientConnection()
        got = _responses(sock, 1, conn)
        assert _status(got[1]) == (Code.DEADLINE_EXCEEDED, "context deadline exceeded")
        ctx = impl.contexts[0]
        assert ctx.cancelled.is_set() and ctx.deadline is not None
        # The handler then returns: its late answer is dropped, the next
        # call is answered normally and is the only other frame.
        sock.sendall(_request(3, "Deadline", D(value=0), timeout_nano=60 * 10**9))
        got = _responses(sock, 1, conn)
        assert set(got) == {3}
        remaining = D.FromString(got[3].response.payload).value  # type: ignore[union-attr]
        assert 0 < remaining <= 60
        sock.sendall(_request(5, "Deadline", D(value=0)))
        got = _responses(sock, 1, conn)
        assert D.FromString(got[5].response.payload).value == -1.0  # type: ignore[union-attr]


def test_sync_client_timeout_against_sync_server(sock_dir: str) -> None:
    server, impl = _server()
    with serving(server, os.path.join(sock_dir, "s")) as path:
        with ttrpc.SyncClient.connect(path) as client, pytest.raises(ttrpc.TTRPCError) as info:
            client.call(SERVICE, "Deadline", D(value=1), D, timeout=0.05)
        assert info.value.code == Code.DEADLINE_EXCEEDED
        assert impl.entered.acquire(timeout=GUARD)


def test_disconnect_cancels_running_calls(sock_dir: str) -> None:
    server, impl = _server()
    with serving(server, os.path.join(sock_dir, "s")) as path:
        with _connect(path) as sock:
            sock.sendall(_request(1, "Sleep", D()))
            assert impl.entered.acquire(timeout=GUARD)
        (ctx,) = impl.contexts
        assert ctx.cancelled.wait(GUARD)
        impl.release.set()


# -- hostile peers -----------------------------------------------------------


def test_oversized_request_answers_resource_exhausted_and_continues(sock_dir: str) -> None:
    server, _ = _server()
    with serving(server, os.path.join(sock_dir, "s")) as path, _connect(path) as sock:
        length = ttrpc.MAX_MESSAGE_LENGTH + 1
        sock.sendall(struct.pack(">IIBB", length, 1, MessageType.REQUEST, 0))
        for _ in range(4):
            sock.sendall(b"\0" * (1 << 20))
        sock.sendall(b"\0" + _echo(3, "after"))
        got = _responses(sock, 2)
    assert _status(got[1]) == (
        Code.RESOURCE_EXHAUSTED,
        "message length 4194305 exceed maximum message size of 4194304",
    )
    assert S.FromString(got[3].response.payload).value == "after"  # type: ignore[union-attr]


def test_stream_id_rules_and_garbage(sock_dir: str) -> None:
    server, _ = _server()
    with serving(server, os.path.join(sock_dir, "s")) as path, _connect(path) as sock:
        sock.sendall(
            _echo(2)  # even
            + _echo(5)
            + _echo(3)  # decreasing
            + encode_frame(7, MessageType.REQUEST, 0, b"\x0a\xff\xff")  # garbage Request
            + encode_frame(9, 0x42, 0, b"from the future")  # unknown type: ignored
            + encode_frame(11, MessageType.RESPONSE, 0, b"")  # a response to a server: ignored
            + encode_frame(13, MessageType.DATA, 0, b"x")  # DATA on no stream
            + _echo(15, "last")
        )
        got = _responses(sock, 6)
        sock.shutdown(socket.SHUT_WR)
        assert _read_to_eof(sock) == b""  # nothing answers the ignored frames
    odd = "StreamID must be odd for client initiated streams"
    reuse = "StreamID cannot be re-used and must increment"
    assert _status(got[2]) == (Code.INVALID_ARGUMENT, odd)
    assert _status(got[5])[0] == Code.OK
    assert _status(got[3]) == (Code.INVALID_ARGUMENT, reuse)
    code, message = _status(got[7])
    assert code == Code.INVALID_ARGUMENT and message.startswith("unmarshal request error")
    assert _status(got[13]) == (Code.INVALID_ARGUMENT, "StreamID is no longer active")
    assert _status(got[15])[0] == Code.OK


def test_requests_sent_byte_at_a_time(sock_dir: str) -> None:
    server, _ = _server()
    with serving(server, os.path.join(sock_dir, "s")) as path, _connect(path) as sock:
        for byte in _echo(1, "slow") + _echo(3, "slower"):
            sock.send(bytes([byte]))
        got = _responses(sock, 2)
    assert [S.FromString(got[i].response.payload).value for i in (1, 3)] == ["slow", "slower"]  # type: ignore[union-attr]


def test_truncated_frame_then_eof(sock_dir: str, caplog: pytest.LogCaptureFixture) -> None:
    server, _ = _server()
    with serving(server, os.path.join(sock_dir, "s")) as path:
        with caplog.at_level(logging.WARNING, logger="ttrpc.server"), _connect(path) as sock:
            sock.sendall(_echo(1)[:7])
            sock.shutdown(socket.SHUT_WR)
            assert _read_to_eof(sock) == b""
        assert "inside a frame" in caplog.text
        with ttrpc.SyncClient.connect(path, timeout=GUARD) as client:
            assert client.call(SERVICE, "Echo", S(value="ok"), S).value == "ok"


def test_data_frame_on_live_unary_call_is_dropped(sock_dir: str) -> None:
    server, impl = _server()
    with serving(server, os.path.join(sock_dir, "s")) as path, _connect(path) as sock:
        sock.sendall(_request(1, "Sleep", D()))
        assert impl.entered.acquire(timeout=GUARD)
        sock.sendall(encode_frame(1, MessageType.DATA, 0, b"x"))
        sock.sendall(_echo(3))  # answered after the DATA frame was handled
        conn = ClientConnection()
        assert set(_responses(sock, 1, conn)) == {3}
        impl.release.set()
        assert set(_responses(sock, 1, conn)) == {1}
        sock.shutdown(socket.SHUT_WR)
        assert _read_to_eof(sock) == b""  # no second answer on stream 1


def test_peer_that_stops_reading_is_dropped(sock_dir: str) -> None:
    server, _ = _server(send_timeout=0.5)
    with serving(server, os.path.join(sock_dir, "s")) as path, _connect(path) as greedy:
        # Ask for 2 MiB answers and never read them: the socket buffers fill.
        big = wrappers_pb2.Int64Value(value=2 << 20)
        greedy.sendall(b"".join(_request(i, "Big", big) for i in range(1, 40, 2)))
        with ttrpc.SyncClient.connect(path, timeout=GUARD) as client:
            # Other peers are served meanwhile, and the greedy one goes.
            assert client.call(SERVICE, "Echo", S(value="x"), S).value == "x"
            dropped = threading.Event()

            def watch() -> None:
                while server.connection_count > 1 or server.active_calls:
                    if dropped.wait(0.02):
                        return
                dropped.set()

            watcher = threading.Thread(target=watch)
            watcher.start()
            watcher.join(GUARD)
            assert dropped.is_set(), "the peer that stopped reading was not dropped"
            assert client.call(SERVICE, "Echo", S(value="y"), S).value == "y"


def test_garbage_drops_the_connection_and_the_server_goes_on(sock_dir: str) -> None:
    server, _ = _server()
    rng = random.Random(1234)
    with serving(server, os.path.join(sock_dir, "s")) as path:
        with _connect(path) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: shim\r\n\r\n")
            assert _read_to_eof(sock) == b""  # no EOF from us: the server closed
        for _ in range(20):
            with _connect(path) as sock:
                # Small lengths in the header so frames complete and get parsed.
                blob = bytearray(rng.randbytes(rng.randrange(1, 400)))
                for pos in range(0, len(blob) - 10, 37):
                    blob[pos : pos + 3] = b"\0\0\0"
                sock.sendall(bytes(blob))
                sock.shutdown(socket.SHUT_WR)
                _read_to_eof(sock)
        with ttrpc.SyncClient.connect(path, timeout=GUARD) as client:
            assert client.call(SERVICE, "Echo", S(value="alive"), S).value == "alive"


def test_handshake_refuses_before_reading(sock_dir: str) -> None:
    seen: list[ttrpc.PeerCredentials] = []

    def refuse(creds: ttrpc.PeerCredentials) -> bool:
        seen.append(creds)
        return False

    server, _ = _server(handshake=refuse)
    with serving(server, os.path.join(sock_dir, "s")) as path, _connect(path) as sock:
        try:
            sock.sendall(_echo(1))
        except BrokenPipeError:
            pass  # refused already
        assert _read_to_eof(sock) == b""
    assert seen and seen[0].pid == os.getpid()


# -- shutdown -----------------------------------------------------------------


def test_shutdown_lets_running_calls_finish(sock_dir: str) -> None:
    server, impl = _server(grace_period=GUARD)
    path = os.path.join(sock_dir, "s")
    ready = threading.Event()
    serve = threading.Thread(target=server.serve_unix, args=(path,), kwargs={"ready": ready})
    serve.start()
    assert ready.wait(GUARD)
    idle = _connect(path)
    busy = _connect(path)
    busy.sendall(_request(1, "Sleep", D()))
    assert impl.entered.acquire(timeout=GUARD)
    assert server.connection_count == 2
    stopper = threading.Thread(target=server.shutdown)
    stopper.start()
    assert _read_to_eof(idle) == b""  # idle connections go at once
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as late:
        late.settimeout(GUARD)
        try:
            late.connect(path)
        except (ConnectionRefusedError, FileNotFoundError):
            pass
        else:  # queued just before the listener closed: closed unserved
            assert _read_to_eof(late) == b""
    assert stopper.is_alive() and serve.is_alive()  # waiting for the running call
    impl.release.set()
    got = _responses(busy, 1)
    assert _status(got[1])[0] == Code.OK  # it finished and was answered
    assert _read_to_eof(busy) == b""
    stopper.join(GUARD)
    serve.join(GUARD)
    assert not stopper.is_alive() and not serve.is_alive()
    assert server.connection_count == 0
    assert not os.path.exists(path)  # serve_unix removed its socket file
    idle.close()
    busy.close()


def test_shutdown_drops_calls_still_running_after_the_grace_period(
    sock_dir: str, caplog: pytest.LogCaptureFixture
) -> None:
    server, impl = _server(grace_period=0.05)
    path = os.path.join(sock_dir, "s")
    ready = threading.Event()
    serve = threading.Thread(target=server.serve_unix, args=(path,), kwargs={"ready": ready})
    serve.start()
    assert ready.wait(GUARD)
    with _connect(path) as sock, caplog.at_level(logging.WARNING, logger="ttrpc.server"):
        sock.sendall(_request(1, "Sleep", D()))
        assert impl.entered.acquire(timeout=GUARD)
        server.shutdown()  # returns after the grace period, the call still blocked
        serve.join(GUARD)
        assert not serve.is_alive()
        assert _read_to_eof(sock) == b""
        assert impl.contexts[0].cancelled.is_set()
        assert "grace period" in caplog.text
    impl.release.set()
    # A server that was shut down refuses to serve again.
    server.serve_unix(path)
    assert not os.path.exists(path)


def test_shutdown_from_inside_a_handler_does_not_wait_for_itself(sock_dir: str) -> None:
    server = ttrpc.SyncServer()

    def stop(ctx: ttrpc.SyncServerContext, req: E) -> E:
        server.shutdown()
        return E()

    server.register("t.Admin", {"Shutdown": (E, E, stop)})
    path = os.path.join(sock_dir, "s")
    ready = threading.Event()
    serve = threading.Thread(target=server.serve_unix, args=(path,), kwargs={"ready": ready})
    serve.start()
    assert ready.wait(GUARD)
    with ttrpc.SyncClient.connect(path, timeout=GUARD) as client:
        assert client.call("t.Admin", "Shutdown", E(), E) == E()
    serve.join(GUARD)
    assert not serve.is_alive()


def test_serve_listener_with_a_custom_listener(sock_dir: str) -> None:
    """What boot's FD listener relies on: any fileno/accept/close object."""

    class Counting(ttrpc.SocketListener):
        def __init__(self, sock: socket.socket) -> None:
            super().__init__(sock)
            self.accepted = 0
            self.closed = 0

        def accept(self) -> socket.socket | None:
            conn = super().accept()
            self.accepted += conn is not None
            return conn

        def close(self) -> None:
            self.closed += 1
            super().close()

    path = os.path.join(sock_dir, "s")
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(path)
    lsock.listen(8)
    listener = Counting(lsock)
    server, _ = _server()
    serve = threading.Thread(target=server.serve_listener, args=(listener,))
    serve.start()
    for i in range(3):
        with ttrpc.SyncClient.connect(path, timeout=GUARD) as client:
            assert client.call(SERVICE, "Echo", S(value=str(i)), S).value == str(i)
    server.shutdown()
    serve.join(GUARD)
    assert not serve.is_alive()
    assert (listener.accepted, listener.closed) == (3, 1)


def test_sync_server_never_loads_anyio(sock_dir: str) -> None:
    """Serving and calling with ttrpc alone leaves anyio and asyncio unloaded."""
    script = f"""
import sys, threading
import ttrpc
from google.protobuf import wrappers_pb2 as w
server = ttrpc.SyncServer()
server.register("t.E", {{"Echo": (w.StringValue, w.StringValue, lambda ctx, req: req)}})
ready = threading.Event()
t = threading.Thread(target=server.serve_unix, args=({os.path.join(sock_dir, "s")!r},),
                     kwargs={{"ready": ready}})
t.start()
ready.wait()
with ttrpc.SyncClient.connect({os.path.join(sock_dir, "s")!r}) as client:
    assert client.call("t.E", "Echo", w.StringValue(value="x"), w.StringValue).value == "x"
server.shutdown()
t.join()
print(sorted(m for m in sys.modules if m.split(".")[0] in ("anyio", "asyncio", "sniffio")))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"


def test_workers_are_reused_and_leave_when_idle() -> None:
    from ttrpc.sync_server import _Workers

    workers = _Workers(max_idle=1, idle_timeout=GUARD)
    ran: list[threading.Thread] = []
    done = threading.Semaphore(0)

    def job() -> None:
        ran.append(threading.current_thread())
        done.release()

    def idle_count() -> int:
        with workers._lock:
            return workers._idle

    workers.submit(job)
    assert done.acquire(timeout=GUARD)
    _wait_until(lambda: idle_count() == 1)
    workers.submit(job)  # the idle worker takes it
    assert done.acquire(timeout=GUARD)
    assert ran[0] is ran[1]
    # A call that blocks keeps its worker; the next one gets a new thread.
    gate = threading.Event()
    blocked: list[threading.Thread] = []

    def blocking_job() -> None:
        blocked.append(threading.current_thread())
        done.release()
        gate.wait(GUARD)

    _wait_until(lambda: idle_count() == 1)
    workers.submit(blocking_job)
    assert done.acquire(timeout=GUARD)
    workers.submit(job)
    assert done.acquire(timeout=GUARD)
    assert blocked == [ran[0]] and ran[2] is not ran[0]
    gate.set()
    # Only max_idle workers stay; idle ones leave after idle_timeout.
    brief = _Workers(max_idle=1, idle_timeout=0.01)
    brief.submit(job)
    assert done.acquire(timeout=GUARD)
    ran[-1].join(GUARD)
    assert not ran[-1].is_alive()


def _wait_until(condition: Callable[[], bool]) -> None:
    never = threading.Event()
    for _ in range(int(GUARD / 0.005)):
        if condition():
            return
        never.wait(0.005)
    raise AssertionError("condition not reached")
