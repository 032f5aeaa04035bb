"""Server and client over real unix sockets."""

from __future__ import annotations

import logging
import os

import anyio
import pytest
from google.protobuf import empty_pb2, wrappers_pb2

import ttrpc
from tests.ttrpc.conftest import ECHO, SERVICE, EchoImpl, other_tasks, serving

pytestmark = pytest.mark.anyio

S = wrappers_pb2.StringValue
D = wrappers_pb2.DoubleValue
E = empty_pb2.Empty


def make_server(**kwargs) -> tuple[ttrpc.Server, EchoImpl]:
    server = ttrpc.Server(**kwargs)
    impl = EchoImpl()
    server.register(ECHO, impl)
    return server, impl


async def test_unary_call_roundtrip(sock_dir: str) -> None:
    server, _ = make_server()
    async with (
        serving(server, os.path.join(sock_dir, "s")) as path,
        await ttrpc.Client.connect(path) as client,
    ):
        resp = await client.call(SERVICE, "Echo", S(value="hello"), S)
        assert resp == S(value="hello")
        # Empty payloads both ways (google.protobuf.Empty encodes to 0 bytes).
        assert await client.call(SERVICE, "Sleep", D(value=0), E) == E()


async def test_connect_accepts_unix_scheme(sock_dir: str) -> None:
    server, _ = make_server()
    async with (
        serving(server, os.path.join(sock_dir, "s")) as path,
        await ttrpc.Client.connect("unix://" + path) as client,
    ):
        assert (await client.call(SERVICE, "Echo", S(value="u"), S)).value == "u"


async def test_connect_failure_is_connection_closed(sock_dir: str) -> None:
    with pytest.raises(ttrpc.ConnectionClosed) as info:
        await ttrpc.Client.connect(os.path.join(sock_dir, "nobody"))
    assert info.value.code == ttrpc.Code.UNAVAILABLE


async def test_error_statuses(sock_dir: str, caplog: pytest.LogCaptureFixture) -> None:
    server, _ = make_server()
    async with (
        serving(server, os.path.join(sock_dir, "s")) as path,
        await ttrpc.Client.connect(path) as client,
    ):
        with pytest.raises(ttrpc.TTRPCError) as info:
            await client.call("no.Such", "Echo", S(), S)
        assert (info.value.code, info.value.message) == (
            ttrpc.Code.UNIMPLEMENTED,
            "service no.Such",
        )

        with pytest.raises(ttrpc.TTRPCError) as info:
            await client.call(SERVICE, "Nope", S(), S)
        assert (info.value.code, info.value.message) == (
            ttrpc.Code.UNIMPLEMENTED,
            "method Nope",
        )

        # In the descriptor but not implemented: also UNIMPLEMENTED.
        with pytest.raises(ttrpc.TTRPCError) as info:
            await client.call(SERVICE, "Missing", E(), E)
        assert info.value.code == ttrpc.Code.UNIMPLEMENTED

        with pytest.raises(ttrpc.TTRPCError) as info:
            await client.call(SERVICE, "Fail", wrappers_pb2.Int32Value(value=5), E)
        assert (info.value.code, info.value.message) == (ttrpc.Code.NOT_FOUND, "failed with 5")

        with (
            caplog.at_level(logging.ERROR, logger="ttrpc.server"),
            pytest.raises(ttrpc.TTRPCError) as info,
        ):
            await client.call(SERVICE, "Raise", E(), E)
        assert (info.value.code, info.value.message) == (ttrpc.Code.UNKNOWN, "handler bug")
        assert "handler bug" in caplog.text  # logged with its traceback

        # A payload that is not the method's request type: INTERNAL like Go.
        with pytest.raises(ttrpc.TTRPCError) as info:
            await client.call(SERVICE, "Echo", wrappers_pb2.BytesValue(value=b"\xff\xfe"), S)
        assert info.value.code == ttrpc.Code.INTERNAL
        assert "unmarshalling payload" in info.value.message

        # The connection survived all of it.
        assert (await client.call(SERVICE, "Echo", S(value="still"), S)).value == "still"


async def test_handler_returning_wrong_type_is_internal(sock_dir: str) -> None:
    async def wrong(ctx, req):
        return E()

    server = ttrpc.Server()
    server.register("t.Wrong", {"Do": (S, S, wrong)})
    async with (
        serving(server, os.path.join(sock_dir, "s")) as path,
        await ttrpc.Client.connect(path) as client,
    ):
        with pytest.raises(ttrpc.TTRPCError) as info:
            await client.call("t.Wrong", "Do", S(), S)
    assert info.value.code == ttrpc.Code.INTERNAL


async def test_blocking_call_does_not_delay_fast_call(sock_dir: str) -> None:
    # containerd keeps Wait blocked while it sends Kill on the same connection.
    server, impl = make_server()
    async with (
        serving(server, os.path.join(sock_dir, "s")) as path,
        await ttrpc.Client.connect(path) as client,
        anyio.create_task_group() as tg,
    ):
        done: list[str] = []

        async def wait_call() -> None:
            await client.call(SERVICE, "Sleep", D(value=2.0), E)
            done.append("wait")

        tg.start_soon(wait_call)
        await impl.sleep_started.wait()
        with anyio.fail_after(1):
            for i in range(20):
                assert (await client.call(SERVICE, "Echo", S(value=str(i)), S)).value == str(i)
        assert done == []
        assert server.active_calls == 1
        tg.cancel_scope.cancel()


async def test_many_concurrent_calls_on_one_connection(sock_dir: str) -> None:
    server, _ = make_server()
    async with (
        serving(server, os.path.join(sock_dir, "s")) as path,
        await ttrpc.Client.connect(path) as client,
    ):
        results: dict[int, str] = {}

        async def one(i: int) -> None:
            # Staggered sleeps make responses come back out of order.
            if i % 3 == 0:
                await client.call(SERVICE, "Sleep", D(value=0.01 * (i % 5)), E)
            results[i] = (await client.call(SERVICE, "Echo", S(value=f"v{i}"), S)).value

        async with anyio.create_task_group() as tg:
            for i in range(200):
                tg.start_soon(one, i)
        assert results == {i: f"v{i}" for i in range(200)}


async def test_client_timeout_sends_deadline_and_raises(sock_dir: str) -> None:
    server, impl = make_server()
    async with (
        serving(server, os.path.join(sock_dir, "s")) as path,
        await ttrpc.Client.connect(path) as client,
    ):
        with anyio.fail_after(3):
            with pytest.raises(ttrpc.TTRPCError) as info:
                await client.call(SERVICE, "Deadline", D(value=30), D, timeout=0.2)
        assert info.value.code == ttrpc.Code.DEADLINE_EXCEEDED
        # The server saw timeout_nano and cancelled the handler at its deadline.
        assert impl.last_ctx is not None and impl.last_ctx.deadline is not None
        with anyio.fail_after(2):
            while "Deadline" not in impl.cancelled:
                await anyio.sleep(0.01)
        # A call with a generous timeout reports the remaining time it was given.
        resp = await client.call(SERVICE, "Deadline", D(value=0), D, timeout=10)
        assert 5 < resp.value <= 10
        resp = await client.call(SERVICE, "Deadline", D(value=0), D)
        assert resp.value == -1.0  # no deadline
        with pytest.raises(ttrpc.TTRPCError) as info:
            await client.call(SERVICE, "Echo", S(), S, timeout=0)
        assert info.value.code == ttrpc.Code.DEADLINE_EXCEEDED


async def test_server_answers_deadline_exceeded(sock_dir: str) -> None:
    # Send timeout_nano but do not enforce it locally: the server answers.
    server, _ = make_server()
    async with serving(server, os.path.join(sock_dir, "s")) as path:
        stream = await anyio.connect_unix(path)
        async with stream:
            frame = ttrpc.ClientConnection.request(
                1, SERVICE, "Deadline", D(value=30).SerializeToString(), timeout_nano=50_000_000
            )
            await stream.send(frame)
            conn = ttrpc.ClientConnection()
            with anyio.fail_after(3):
                events = conn.receive_data(await stream.receive())
            (event,) = events
            assert event.response.status.code == ttrpc.Code.DEADLINE_EXCEEDED  # type: ignore[union-attr]


async def test_metadata_reaches_handler(sock_dir: str) -> None:
    server, impl = make_server()
    async with (
        serving(server, os.path.join(sock_dir, "s")) as path,
        await ttrpc.Client.connect(path) as client,
    ):
        md = {"containerd-namespace-ttrpc": "k8s.io", "x": "1"}
        resp = await client.call(
            SERVICE, "Meta", S(value="containerd-namespace-ttrpc"), S, metadata=md
        )
        assert resp.value == "k8s.io"
        assert impl.last_ctx is not None
        assert impl.last_ctx.metadata == {
            "containerd-namespace-ttrpc": ("k8s.io",),
            "x": ("1",),
        }
        assert (impl.last_ctx.service, impl.last_ctx.method) == (SERVICE, "Meta")
        assert impl.last_ctx.peer == ttrpc.PeerCredentials(os.getpid(), os.geteuid(), os.getegid())


async def test_cancelling_one_call_keeps_the_connection(sock_dir: str) -> None:
    server, _impl = make_server()
    async with (
        serving(server, os.path.join(sock_dir, "s")) as path,
        await ttrpc.Client.connect(path) as client,
    ):
        with anyio.move_on_after(0.1) as scope:
            await client.call(SERVICE, "Sleep", D(value=0.3), E)
        assert scope.cancelled_caught
        assert not client.closed
        # The late response to the cancelled call arrives and is dropped.
        await anyio.sleep(0.4)
        assert (await client.call(SERVICE, "Echo", S(value="ok"), S)).value == "ok"
        assert client._pending == {}


async def test_cancelled_reader_hands_over_to_waiting_call(sock_dir: str) -> None:
    # The task that reads the socket for everyone is cancelled: another
    # waiting call must take over reading, or it would hang.
    server, _impl = make_server()
    async with (
        serving(server, os.path.join(sock_dir, "s")) as path,
        await ttrpc.Client.connect(path) as client,
    ):
        result: list[str] = []

        async def slow() -> None:
            await client.call(SERVICE, "Sleep", D(value=0.3), E)
            result.append("slow")

        async with anyio.create_task_group() as tg:
            with anyio.move_on_after(0.1):
                async with anyio.create_task_group() as inner:
                    inner.start_soon(client.call, SERVICE, "Sleep", D(value=5), E)
                    await anyio.sleep(0.02)  # the first call is now the reader
                    tg.start_soon(slow)
                    await anyio.sleep(5)
        assert result == ["slow"]


async def test_dead_peer_fails_pending_and_later_calls(sock_dir: str) -> None:
    server, impl = make_server(grace_period=0)
    path = os.path.join(sock_dir, "s")
    failures: list[BaseException] = []
    async with anyio.create_task_group() as tg:
        await tg.start(server.serve_unix, path)
        client = await ttrpc.Client.connect(path)

        async def pending_call() -> None:
            try:
                await client.call(SERVICE, "Sleep", D(value=30), E)
            except ttrpc.TTRPCError as exc:
                failures.append(exc)

        tg.start_soon(pending_call)
        tg.start_soon(pending_call)
        await impl.sleep_started.wait()
        with anyio.fail_after(5):
            await server.shutdown(grace_period=0)  # the server goes away mid-call
            while len(failures) < 2:
                await anyio.sleep(0.01)
    assert all(isinstance(f, ttrpc.ConnectionClosed) for f in failures)
    assert all(f.code == ttrpc.Code.UNAVAILABLE for f in failures)  # type: ignore[attr-defined]
    with anyio.fail_after(1), pytest.raises(ttrpc.ConnectionClosed):
        await client.call(SERVICE, "Echo", S(), S)
    assert client.closed
    await client.aclose()


async def test_client_on_closed_socket_fails_cleanly(sock_dir: str) -> None:
    # A "server" that accepts and closes at once.
    listener = await anyio.create_unix_listener(os.path.join(sock_dir, "s"))
    async with listener, anyio.create_task_group() as tg:

        async def accept_and_close() -> None:
            stream = await listener.accept()
            await stream.aclose()

        tg.start_soon(accept_and_close)
        client = await ttrpc.Client.connect(os.path.join(sock_dir, "s"))
        with anyio.fail_after(2), pytest.raises(ttrpc.ConnectionClosed):
            await client.call(SERVICE, "Echo", S(), S)
        with pytest.raises(ttrpc.ConnectionClosed):
            await client.call(SERVICE, "Echo", S(), S)


async def test_aclose_fails_pending_calls(sock_dir: str) -> None:
    server, impl = make_server()
    async with serving(server, os.path.join(sock_dir, "s")) as path:
        client = await ttrpc.Client.connect(path)
        errors: list[BaseException] = []

        async def call() -> None:
            try:
                await client.call(SERVICE, "Sleep", D(value=30), E)
            except ttrpc.ConnectionClosed as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            tg.start_soon(call)
            await impl.sleep_started.wait()
            with anyio.fail_after(2):
                await client.aclose()
        assert len(errors) == 2
        # The server notices the disconnect and cancels the orphaned handlers.
        with anyio.fail_after(2):
            while server.active_calls or server.connection_count:
                await anyio.sleep(0.01)
        assert impl.cancelled.count("Sleep") == 2


async def test_shutdown_lets_inflight_calls_finish(sock_dir: str) -> None:
    server, impl = make_server(grace_period=5)
    path = os.path.join(sock_dir, "s")
    async with anyio.create_task_group() as tg:
        await tg.start(server.serve_unix, path)
        busy = await ttrpc.Client.connect(path)
        idle = await ttrpc.Client.connect(path)
        await idle.call(SERVICE, "Echo", S(value="x"), S)
        result: list[object] = []

        async def slow() -> None:
            result.append(await busy.call(SERVICE, "Sleep", D(value=0.3), E))

        tg.start_soon(slow)
        await impl.sleep_started.wait()
        with anyio.fail_after(5):
            await server.shutdown()
        assert result == [E()]
        assert impl.finished == ["Sleep"]
        assert not os.path.exists(path)  # socket file removed
        # Every connection is closed, including the idle one.
        for client in (busy, idle):
            with pytest.raises(ttrpc.ConnectionClosed):
                await client.call(SERVICE, "Echo", S(), S)
            await client.aclose()
        with pytest.raises(ttrpc.ConnectionClosed):
            await ttrpc.Client.connect(path)


async def test_shutdown_cancels_calls_after_grace_period(sock_dir: str) -> None:
    server, impl = make_server()
    path = os.path.join(sock_dir, "s")
    async with anyio.create_task_group() as tg:
        await tg.start(server.serve_unix, path)
        client = await ttrpc.Client.connect(path)
        errors: list[BaseException] = []

        async def stuck() -> None:
            try:
                await client.call(SERVICE, "Sleep", D(value=60), E)
            except ttrpc.TTRPCError as exc:
                errors.append(exc)

        tg.start_soon(stuck)
        await impl.sleep_started.wait()
        start = anyio.current_time()
        with anyio.fail_after(5):
            await server.shutdown(grace_period=0.2)
        assert 0.15 < anyio.current_time() - start < 3
        assert impl.cancelled == ["Sleep"]
        with anyio.fail_after(2):
            while not errors:
                await anyio.sleep(0.01)
        assert isinstance(errors[0], ttrpc.ConnectionClosed)
        await client.aclose()


async def test_shutdown_from_inside_a_handler(sock_dir: str) -> None:
    # The shim's Shutdown RPC stops the server from within a call: the call
    # must still be answered and serve_unix must return.
    server = ttrpc.Server()

    async def shutdown(ctx, req):
        await server.shutdown()
        return E()

    server.register("t.Shim", {"Shutdown": (E, E, shutdown)})
    path = os.path.join(sock_dir, "s")
    async with anyio.create_task_group() as tg:
        await tg.start(server.serve_unix, path)
        async with await ttrpc.Client.connect(path) as client:
            with anyio.fail_after(5):
                assert await client.call("t.Shim", "Shutdown", E(), E) == E()
    assert not os.path.exists(path)


async def test_no_leaked_tasks_or_connections(sock_dir: str) -> None:
    before = other_tasks()
    server, _impl = make_server(grace_period=0.1)
    async with serving(server, os.path.join(sock_dir, "s")) as path:
        clients = [await ttrpc.Client.connect(path) for _ in range(5)]
        async with anyio.create_task_group() as tg:
            for client in clients:
                tg.start_soon(client.call, SERVICE, "Echo", S(value="a"), S)
        async with anyio.create_task_group() as tg:
            for client in clients:
                tg.start_soon(client.call, SERVICE, "Sleep", D(value=0.01), E)
        with anyio.move_on_after(0.05):
            await clients[0].call(SERVICE, "Sleep", D(value=10), E)
        for client in clients[1:]:
            await client.aclose()
        with anyio.fail_after(2):
            while server.connection_count != 1:
                await anyio.sleep(0.01)
    await clients[0].aclose()
    assert server.connection_count == 0 and server.active_calls == 0
    await anyio.sleep(0.05)
    assert other_tasks() == before


async def test_handshake_rejects_peer(sock_dir: str) -> None:
    seen: list[ttrpc.PeerCredentials] = []

    def deny(creds: ttrpc.PeerCredentials) -> bool:
        seen.append(creds)
        return False

    server, _ = make_server(handshake=deny)
    async with serving(server, os.path.join(sock_dir, "s")) as path:
        client = await ttrpc.Client.connect(path)
        with anyio.fail_after(2), pytest.raises(ttrpc.ConnectionClosed):
            await client.call(SERVICE, "Echo", S(), S)
        await client.aclose()
    assert seen == [ttrpc.PeerCredentials(os.getpid(), os.geteuid(), os.getegid())]


async def test_require_same_user_accepts_us(sock_dir: str) -> None:
    check = ttrpc.require_same_user()
    assert check(ttrpc.PeerCredentials(1, os.geteuid(), os.getegid()))
    assert not check(ttrpc.PeerCredentials(1, os.geteuid() + 1, os.getegid()))
    assert not check(ttrpc.PeerCredentials(1, os.geteuid(), os.getegid() + 1))
    server, _ = make_server(handshake=check)
    async with serving(server, os.path.join(sock_dir, "s"), mode=0o600) as path:
        assert os.stat(path).st_mode & 0o777 == 0o600
        async with await ttrpc.Client.connect(path) as client:
            assert (await client.call(SERVICE, "Echo", S(value="me"), S)).value == "me"


async def test_serve_socket_and_from_socket(sock_dir: str) -> None:
    # The shim daemon serves the listening socket `start` passes as fd 3.
    import socket

    path = os.path.join(sock_dir, "s")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen()
    server, _ = make_server()
    async with anyio.create_task_group() as tg:
        await tg.start(server.serve_socket, sock.detach())
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw.connect(path)
        async with await ttrpc.Client.from_socket(raw) as client:
            assert (await client.call(SERVICE, "Echo", S(value="fd"), S)).value == "fd"
        await server.shutdown()


def test_register_validation() -> None:
    server = ttrpc.Server()
    server.register(ECHO, EchoImpl())
    with pytest.raises(ValueError, match="already registered"):
        server.register(ECHO, EchoImpl())
    with pytest.raises(TypeError, match="mapping"):
        server.register("x.Y", EchoImpl())
    with pytest.raises(TypeError, match="not a message class"):
        server.register("x.Y", {"M": (int, S, EchoImpl().Echo)})
    with pytest.raises(TypeError, match="expected"):
        server.register("x.Z", {"M": (S, S)})
    with pytest.raises(TypeError, match="ServiceDescriptor"):
        server.register(42, {})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="async def"):
        server.register("x.Sync", {"M": (S, S, lambda ctx, req: req)})

    class SyncImpl:
        def Echo(self, ctx, req):
            return req

    with pytest.raises(TypeError, match="async def"):
        ttrpc.Server().register(ECHO, SyncImpl())
    assert "Missing" not in server.services[SERVICE]
    assert "Echo" in server.services[SERVICE]
