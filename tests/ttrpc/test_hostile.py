"""Hostile or broken peers against the real server and client (unix sockets)."""

from __future__ import annotations

import logging
import os
import struct

import anyio
import anyio.abc
import pytest
from google.protobuf import empty_pb2, wrappers_pb2

import ttrpc
from tests.ttrpc.conftest import ECHO, SERVICE, EchoImpl, serving
from ttrpc import ClientConnection, Code, MessageType, ServerConnection, encode_frame
from ttrpc._connection import ProtocolReject, ResponseReceived

pytestmark = pytest.mark.anyio

S = wrappers_pb2.StringValue


def _server(**kwargs) -> ttrpc.Server:
    server = ttrpc.Server(**kwargs)
    server.register(ECHO, EchoImpl())
    return server


def _echo(stream_id: int, value: str = "v") -> bytes:
    return ClientConnection.request(stream_id, SERVICE, "Echo", S(value=value).SerializeToString())


async def _responses(stream: anyio.abc.ByteStream, count: int) -> dict[int, ResponseReceived]:
    """Read until ``count`` responses arrived; map them by stream id."""
    conn = ClientConnection()
    got: dict[int, ResponseReceived] = {}
    with anyio.fail_after(5):
        while len(got) < count:
            for event in conn.receive_data(await stream.receive()):
                assert isinstance(event, ResponseReceived)
                got[event.stream_id] = event
    return got


def _status(event: ResponseReceived) -> tuple[int, str]:
    assert event.response is not None
    return event.response.status.code, event.response.status.message


async def test_oversized_request_answers_resource_exhausted_and_continues(sock_dir: str) -> None:
    async with serving(_server(), os.path.join(sock_dir, "s")) as path:
        stream = await anyio.connect_unix(path)
        async with stream, anyio.create_task_group() as tg:
            length = ttrpc.MAX_MESSAGE_LENGTH + 1

            async def send_all() -> None:
                await stream.send(struct.pack(">IIBB", length, 1, MessageType.REQUEST, 0))
                chunk = b"\0" * (1 << 20)
                for _ in range(4):
                    await stream.send(chunk)
                await stream.send(b"\0" + _echo(3, "after"))

            tg.start_soon(send_all)
            got = await _responses(stream, 2)
        assert _status(got[1]) == (
            Code.RESOURCE_EXHAUSTED,
            "message length 4194305 exceed maximum message size of 4194304",
        )
        assert _status(got[3])[0] == Code.OK
        assert got[3].response is not None
        assert S.FromString(got[3].response.payload).value == "after"


async def test_stream_id_rules_and_garbage(sock_dir: str) -> None:
    async with serving(_server(), os.path.join(sock_dir, "s")) as path:
        stream = await anyio.connect_unix(path)
        async with stream:
            await stream.send(
                _echo(2)  # even
                + _echo(5)
                + _echo(3)  # decreasing (re-use is tested below)
                + encode_frame(7, MessageType.REQUEST, 0, b"\x0a\xff\xff")  # garbage Request
                + encode_frame(9, 0x42, 0, b"from the future")  # unknown type: ignored
                + encode_frame(
                    11, MessageType.RESPONSE, 0, b""
                )  # a response sent to a server: ignored
                + encode_frame(13, MessageType.DATA, 0, b"x")  # DATA on no stream
                + _echo(15, "last")
            )
            got = await _responses(stream, 6)
            await anyio.sleep(0.1)
            # Nothing is ever answered for the ignored frames.
            with anyio.move_on_after(0.1):
                extra = await stream.receive()
                pytest.fail(f"unexpected extra bytes {extra!r}")
    odd = "StreamID must be odd for client initiated streams"
    reuse = "StreamID cannot be re-used and must increment"
    assert _status(got[2]) == (Code.INVALID_ARGUMENT, odd)
    assert _status(got[5])[0] == Code.OK
    assert _status(got[3]) == (Code.INVALID_ARGUMENT, reuse)
    code, message = _status(got[7])
    assert code == Code.INVALID_ARGUMENT and message.startswith("unmarshal request error")
    assert _status(got[13]) == (Code.INVALID_ARGUMENT, "StreamID is no longer active")
    assert _status(got[15])[0] == Code.OK
    assert set(got) == {2, 3, 5, 7, 13, 15}


async def test_reused_stream_id_gets_its_own_rejection(sock_dir: str) -> None:
    async with serving(_server(), os.path.join(sock_dir, "s")) as path:
        stream = await anyio.connect_unix(path)
        async with stream:
            await stream.send(_echo(5))
            first = await _responses(stream, 1)
            await stream.send(_echo(5))
            second = await _responses(stream, 1)
    assert _status(first[5])[0] == Code.OK
    assert _status(second[5]) == (
        Code.INVALID_ARGUMENT,
        "StreamID cannot be re-used and must increment",
    )


async def test_truncated_frame_then_eof(sock_dir: str, caplog: pytest.LogCaptureFixture) -> None:
    server = _server()
    async with serving(server, os.path.join(sock_dir, "s")) as path:
        stream = await anyio.connect_unix(path)
        with caplog.at_level(logging.WARNING, logger="ttrpc.server"):
            await stream.send(_echo(1)[:7])
            await stream.send_eof()
            with anyio.fail_after(2):
                with pytest.raises(anyio.EndOfStream):
                    await stream.receive()
                while server.connection_count:
                    await anyio.sleep(0.01)
        await stream.aclose()
        assert "inside a frame" in caplog.text
        # The server is fine.
        async with await ttrpc.Client.connect(path) as client:
            assert (await client.call(SERVICE, "Echo", S(value="ok"), S)).value == "ok"


async def test_data_frame_on_live_unary_call_is_dropped(sock_dir: str) -> None:
    async with serving(_server(), os.path.join(sock_dir, "s")) as path:
        stream = await anyio.connect_unix(path)
        async with stream:
            sleep = ClientConnection.request(
                1, SERVICE, "Sleep", wrappers_pb2.DoubleValue(value=0.2).SerializeToString()
            )
            await stream.send(sleep + encode_frame(1, MessageType.DATA, 0, b"x"))
            got = await _responses(stream, 1)
            with anyio.move_on_after(0.2):
                extra = await stream.receive()
                pytest.fail(f"second response on a unary stream: {extra!r}")
    assert _status(got[1])[0] == Code.OK


async def test_peer_that_stops_reading_is_dropped(sock_dir: str) -> None:
    server = _server(send_timeout=0.5)
    async with serving(server, os.path.join(sock_dir, "s")) as path:
        greedy = await anyio.connect_unix(path)
        # Ask for 2 MiB answers and never read them: the socket buffers fill.
        big = wrappers_pb2.Int64Value(value=2 << 20).SerializeToString()
        await greedy.send(
            b"".join(ClientConnection.request(i, SERVICE, "Big", big) for i in range(1, 40, 2))
        )
        # Other peers are served meanwhile.
        async with await ttrpc.Client.connect(path) as client:
            for _ in range(5):
                assert (await client.call(SERVICE, "Echo", S(value="x"), S)).value == "x"
                await anyio.sleep(0.05)
            with anyio.fail_after(5):
                while server.connection_count > 1:
                    await anyio.sleep(0.02)
            assert server.active_calls == 0
            assert (await client.call(SERVICE, "Echo", S(value="y"), S)).value == "y"
        await greedy.aclose()


async def test_client_against_server_that_stops_reading(sock_dir: str) -> None:
    path = os.path.join(sock_dir, "s")
    listener = await anyio.create_unix_listener(path)
    accepted: list[anyio.abc.SocketStream] = []
    async with listener, anyio.create_task_group() as tg:

        async def accept() -> None:
            accepted.append(await listener.accept())  # ...and never read

        tg.start_soon(accept)
        client = await ttrpc.Client.connect(path, send_timeout=0.3)
        payload = wrappers_pb2.BytesValue(value=b"\0" * (3 << 20))
        errors: list[BaseException] = []

        async def call() -> None:
            try:
                await client.call(SERVICE, "Echo", payload, wrappers_pb2.BytesValue)
            except ttrpc.TTRPCError as exc:
                errors.append(exc)

        with anyio.fail_after(5):
            async with anyio.create_task_group() as calls:
                for _ in range(8):
                    calls.start_soon(call)
        assert len(errors) == 8
        assert all(isinstance(e, ttrpc.ConnectionClosed) for e in errors)
        assert "did not read" in str(errors[0]) or "did not read" in str(client._closed)
        await client.aclose()
        for stream in accepted:
            await stream.aclose()


async def test_client_refuses_oversized_request(sock_dir: str) -> None:
    async with (
        serving(_server(), os.path.join(sock_dir, "s")) as path,
        await ttrpc.Client.connect(path) as client,
    ):
        with pytest.raises(ttrpc.TTRPCError) as info:
            await client.call(SERVICE, "Echo", S(value="x" * (4 << 20)), S)
        assert info.value.code == Code.RESOURCE_EXHAUSTED
        assert (await client.call(SERVICE, "Echo", S(value="fine"), S)).value == "fine"


async def test_oversized_response_becomes_resource_exhausted(sock_dir: str) -> None:
    async with (
        serving(_server(), os.path.join(sock_dir, "s")) as path,
        await ttrpc.Client.connect(path) as client,
    ):
        big = wrappers_pb2.Int64Value(value=(4 << 20) + 1)
        with pytest.raises(ttrpc.TTRPCError) as info:
            await client.call(SERVICE, "Big", big, wrappers_pb2.BytesValue)
        assert info.value.code == Code.RESOURCE_EXHAUSTED
        assert not client.closed


async def _fake_server(path: str, reply, *, task_status=anyio.TASK_STATUS_IGNORED) -> None:
    """Accept one connection and answer each request with ``reply(stream_id)``."""
    listener = await anyio.create_unix_listener(path)
    task_status.started()
    async with listener:
        stream = await listener.accept()
        async with stream:
            conn = ServerConnection()
            try:
                while True:
                    for event in conn.receive_data(await stream.receive()):
                        await stream.send(reply(event.stream_id))
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                pass


async def test_client_survives_garbage_and_strays(sock_dir: str) -> None:
    path = os.path.join(sock_dir, "s")

    def reply(stream_id: int) -> bytes:
        if stream_id == 1:  # undecodable Response
            return encode_frame(1, MessageType.RESPONSE, 0, b"\x0a\x09")
        if stream_id == 3:  # stray answer for a stream never opened, unknown type, then the answer
            return (
                ServerConnection.ok_response(99, b"")
                + encode_frame(3, 0x33, 0, b"??")
                + encode_frame(3, MessageType.DATA, 0, b"")
                + ServerConnection.ok_response(3, S(value="three").SerializeToString())
            )
        if stream_id == 5:  # OK status but a payload that is not the response type
            return ServerConnection.ok_response(5, b"\x0a\xff")
        return ServerConnection.error_response(stream_id, 77, "strange code")

    async with anyio.create_task_group() as tg:
        await tg.start(_fake_server, path, reply)
        async with await ttrpc.Client.connect(path) as client:
            with pytest.raises(ttrpc.TTRPCError) as info:
                await client.call("x.Y", "Z", S(), S)
            assert info.value.code == Code.INTERNAL
            assert (await client.call("x.Y", "Z", S(), S)).value == "three"
            with pytest.raises(ttrpc.TTRPCError) as info:
                await client.call("x.Y", "Z", S(), S)
            assert info.value.code == Code.INTERNAL
            with pytest.raises(ttrpc.TTRPCError) as info:
                await client.call("x.Y", "Z", S(), S)
            assert (info.value.code, info.value.message) == (77, "strange code")
            assert not client.closed


async def test_client_truncated_response_then_eof(sock_dir: str) -> None:
    path = os.path.join(sock_dir, "s")
    listener = await anyio.create_unix_listener(path)
    async with listener, anyio.create_task_group() as tg:

        async def half_answer() -> None:
            stream = await listener.accept()
            await stream.receive()
            await stream.send(ServerConnection.ok_response(1, b"abcdef")[:12])
            await stream.aclose()

        tg.start_soon(half_answer)
        async with await ttrpc.Client.connect(path) as client:
            with anyio.fail_after(2), pytest.raises(ttrpc.ConnectionClosed) as info:
                await client.call(SERVICE, "Echo", empty_pb2.Empty(), S)
            assert "inside a frame" in str(info.value)


async def test_random_garbage_does_not_hurt_the_server(sock_dir: str) -> None:
    import random

    rng = random.Random(1234)
    server = _server()
    async with serving(server, os.path.join(sock_dir, "s")) as path:
        for _ in range(20):
            stream = await anyio.connect_unix(path)
            async with stream:
                # Small lengths in the header so frames complete and get parsed.
                blob = bytearray(rng.randbytes(rng.randrange(1, 400)))
                for pos in range(0, len(blob) - 10, 37):
                    blob[pos : pos + 3] = b"\0\0\0"
                await stream.send(bytes(blob))
                await stream.send_eof()
                with anyio.fail_after(5):
                    try:
                        while await stream.receive():
                            pass
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        pass
        with anyio.fail_after(5):
            while server.connection_count:
                await anyio.sleep(0.01)
        async with await ttrpc.Client.connect(path) as client:
            assert (await client.call(SERVICE, "Echo", S(value="alive"), S)).value == "alive"


def test_oversized_frame_of_no_ttrpc_type_is_a_frame_error() -> None:
    """An HTTP request read as a header: length "GET " (1.2 GB), type 'T'."""
    conn = ServerConnection()
    with pytest.raises(ttrpc.FrameError, match="not a ttrpc frame"):
        conn.receive_data(b"GET / HTTP/1.1\r\nHost: shim\r\n\r\n")
    # A legal-size frame of an unknown type is still ignored (forward compat),
    # and an oversized REQUEST still gets RESOURCE_EXHAUSTED on its stream.
    conn = ServerConnection()
    assert conn.receive_data(encode_frame(1, 0x42, 0, b"future")) == []
    (reject,) = conn.receive_data(struct.pack(">IIBB", 5 << 20, 3, MessageType.REQUEST, 0))
    assert isinstance(reject, ProtocolReject) and reject.code == Code.RESOURCE_EXHAUSTED


async def test_server_drops_a_connection_sending_garbage_and_keeps_serving(
    sock_dir: str,
) -> None:
    server = _server()
    async with serving(server, os.path.join(sock_dir, "s")) as path:
        stream = await anyio.connect_unix(path)
        async with stream:
            await stream.send(b"GET / HTTP/1.1\r\nHost: shim\r\n\r\n")
            # No EOF from us: the server is the one to close.
            with anyio.fail_after(5):
                with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                    while True:
                        await stream.receive()
        with anyio.fail_after(5):
            while server.connection_count:
                await anyio.sleep(0.01)
        async with await ttrpc.Client.connect(path) as client:
            assert (await client.call(SERVICE, "Echo", S(value="alive"), S)).value == "alive"
