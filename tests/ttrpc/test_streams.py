"""Streaming calls (ttrpc >= 1.2): server, client and bidirectional streams."""

from __future__ import annotations

import os

import anyio
import pytest
from google.protobuf import wrappers_pb2

import ttrpc
from tests.ttrpc.conftest import ECHO, SERVICE, EchoImpl, serving
from ttrpc import ClientConnection, Flags, MessageType, encode_frame
from ttrpc._codec import FrameDecoder
from ttrpc._server_stream import MAX_BUFFERED

pytestmark = pytest.mark.anyio

Int = wrappers_pb2.Int32Value
S = wrappers_pb2.StringValue


def make_server() -> tuple[ttrpc.Server, EchoImpl]:
    server = ttrpc.Server()
    impl = EchoImpl()
    server.register(ECHO, impl)
    return server, impl


async def test_server_streaming(sock_dir: str) -> None:
    server, _ = make_server()
    async with (
        serving(server, os.path.join(sock_dir, "s")) as path,
        await ttrpc.Client.connect(path) as client,
    ):
        stream = await client.open_stream(SERVICE, "Count", Int, request=Int(value=5))
        assert [m.value async for m in stream] == [0, 1, 2, 3, 4]
        assert await stream.recv() is None
        assert client._pending == {}
        # An error status ends the stream with TTRPCError after the messages sent so far.
        async with await client.open_stream(SERVICE, "Count", Int, request=Int(value=-5)) as stream:
            got = [(await stream.recv()).value, (await stream.recv()).value]  # type: ignore[union-attr]
            with pytest.raises(ttrpc.TTRPCError) as info:
                await stream.recv()
        assert got == [0, 1]
        assert (info.value.code, info.value.message) == (ttrpc.Code.ABORTED, "stopped at 2")
        # Unary calls still work on the same connection.
        assert (await client.call(SERVICE, "Echo", S(value="u"), S)).value == "u"


async def test_client_streaming(sock_dir: str) -> None:
    server, _ = make_server()
    async with (
        serving(server, os.path.join(sock_dir, "s")) as path,
        await ttrpc.Client.connect(path) as client,
    ):
        stream = await client.open_stream(SERVICE, "Sum", Int, client_streaming=True)
        for i in range(1, 11):
            await stream.send(Int(value=i))
        await stream.close_send()
        with pytest.raises(ttrpc.TTRPCError):
            await stream.send(Int(value=1))  # closed for sending
        assert (await stream.recv()) == Int(value=55)
        assert await stream.recv() is None
        # The opening request may carry the first message.
        stream = await client.open_stream(
            SERVICE, "Sum", Int, request=Int(value=7), client_streaming=True
        )
        await stream.close_send()
        assert (await stream.recv()) == Int(value=7)


async def test_bidirectional_stream_interleaved_with_unary(sock_dir: str) -> None:
    server, _ = make_server()
    async with (
        serving(server, os.path.join(sock_dir, "s")) as path,
        await ttrpc.Client.connect(path) as client,
    ):
        stream = await client.open_stream(SERVICE, "Chat", S, client_streaming=True)
        for word in ("a", "b", "c"):
            await stream.send(S(value=word))
            assert (await stream.recv()) == S(value=word + "!")
            assert (await client.call(SERVICE, "Echo", S(value=word), S)).value == word
        await stream.close_send()
        assert [m.value async for m in stream] == ["bye"]  # the final DATA[REMOTE_CLOSED]


async def test_many_streams_concurrently(sock_dir: str) -> None:
    server, _ = make_server()
    async with (
        serving(server, os.path.join(sock_dir, "s")) as path,
        await ttrpc.Client.connect(path) as client,
    ):
        results: dict[int, list[int]] = {}

        async def count(n: int) -> None:
            stream = await client.open_stream(SERVICE, "Count", Int, request=Int(value=n))
            results[n] = [m.value async for m in stream]

        async with anyio.create_task_group() as tg:
            for n in range(30):
                tg.start_soon(count, n)
        assert results == {n: list(range(n)) for n in range(30)}


async def test_stream_timeout(sock_dir: str) -> None:
    server, _ = make_server()
    async with (
        serving(server, os.path.join(sock_dir, "s")) as path,
        await ttrpc.Client.connect(path) as client,
    ):
        stream = await client.open_stream(
            SERVICE, "Ignore", Int, client_streaming=True, timeout=0.2
        )
        with anyio.fail_after(3), pytest.raises(ttrpc.TTRPCError) as info:
            await stream.recv()
        assert info.value.code == ttrpc.Code.DEADLINE_EXCEEDED
        await stream.aclose()


async def test_unread_client_stream_overflows(sock_dir: str) -> None:
    server, impl = make_server()
    async with (
        serving(server, os.path.join(sock_dir, "s")) as path,
        await ttrpc.Client.connect(path) as client,
    ):
        stream = await client.open_stream(SERVICE, "Ignore", Int, client_streaming=True)
        await impl.sleep_started.wait()
        for i in range(MAX_BUFFERED + 1):
            await stream.send(Int(value=i))
        with anyio.fail_after(3), pytest.raises(ttrpc.TTRPCError) as info:
            await stream.recv()
        assert info.value.code == ttrpc.Code.RESOURCE_EXHAUSTED
        assert server.active_calls == 0


async def test_stream_frames_on_the_wire(sock_dir: str) -> None:
    # Server streaming ends with DATA[REMOTE_CLOSED|NO_DATA]; client
    # streaming ends with a RESPONSE (PROTOCOL.md state diagrams).
    server, _ = make_server()
    async with serving(server, os.path.join(sock_dir, "s")) as path:
        sock = await anyio.connect_unix(path)
        async with sock:
            await sock.send(
                ClientConnection.request(
                    1, SERVICE, "Count", Int(value=2).SerializeToString(), flags=Flags.REMOTE_CLOSED
                )
                + ClientConnection.request(3, SERVICE, "Sum", b"", flags=Flags.REMOTE_OPEN)
                + encode_frame(3, MessageType.DATA, 0, Int(value=4).SerializeToString())
                + encode_frame(3, MessageType.DATA, Flags.REMOTE_CLOSED | Flags.NO_DATA, b"")
            )
            decoder = FrameDecoder()
            frames: list[ttrpc.Frame] = []
            with anyio.fail_after(3):
                while len(frames) < 4:
                    for frame in decoder.feed(await sock.receive()):
                        assert isinstance(frame, ttrpc.Frame)
                        frames.append(frame)
    by_stream: dict[int, list[tuple[int, int, bytes]]] = {}
    for frame in frames:
        by_stream.setdefault(frame.stream_id, []).append((frame.type, frame.flags, frame.data))
    assert by_stream[1] == [
        (MessageType.DATA, 0, Int(value=0).SerializeToString()),
        (MessageType.DATA, 0, Int(value=1).SerializeToString()),
        (MessageType.DATA, Flags.REMOTE_CLOSED | Flags.NO_DATA, b""),
    ]
    ((ftype, flags, data),) = by_stream[3]
    assert (ftype, flags) == (MessageType.RESPONSE, 0)
    response = ttrpc.ttrpc_pb2.Response.FromString(data)
    assert response.status.code == 0 and Int.FromString(response.payload).value == 4
