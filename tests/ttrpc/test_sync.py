"""The blocking client against the anyio server."""

from __future__ import annotations

import os

import anyio
import pytest
from google.protobuf import empty_pb2, wrappers_pb2

import ttrpc
from tests.ttrpc.conftest import ECHO, SERVICE, EchoImpl, serving

pytestmark = pytest.mark.anyio

S = wrappers_pb2.StringValue


async def test_sync_client_calls_and_errors(sock_dir: str) -> None:
    server = ttrpc.Server()
    server.register(ECHO, EchoImpl())

    async def stall(ctx, req):
        # Outlives its deadline, so the client's own timeout fires first.
        with anyio.CancelScope(shield=True):
            await anyio.sleep(0.5)
        return empty_pb2.Empty()

    server.register("t.Stall", {"Stall": (wrappers_pb2.DoubleValue, empty_pb2.Empty, stall)})

    def use_client(path: str) -> list[object]:
        out: list[object] = []
        with ttrpc.SyncClient.connect("unix://" + path) as client:
            out.append(client.call(SERVICE, "Echo", S(value="a"), S).value)
            out.append(
                client.call(SERVICE, "Meta", S(value="k"), S, metadata={"k": "v"}, timeout=5).value
            )
            try:
                client.call(SERVICE, "Fail", wrappers_pb2.Int32Value(value=6), empty_pb2.Empty)
            except ttrpc.TTRPCError as exc:
                out.append((exc.code, exc.message))
            try:
                client.call(
                    "t.Stall", "Stall", wrappers_pb2.DoubleValue(), empty_pb2.Empty, timeout=0.1
                )
            except ttrpc.TTRPCError as exc:
                out.append(exc.code)
            try:
                client.call(SERVICE, "Echo", S(), S)
            except ttrpc.ConnectionClosed as exc:
                out.append(type(exc))
        return out

    async with serving(server, os.path.join(sock_dir, "s")) as path:
        with anyio.fail_after(10):
            result = await anyio.to_thread.run_sync(use_client, path)
    assert result == [
        "a",
        "v",
        (ttrpc.Code.ALREADY_EXISTS, "failed with 6"),
        ttrpc.Code.DEADLINE_EXCEEDED,
        ttrpc.ConnectionClosed,
    ]


async def test_sync_client_dead_peer(sock_dir: str) -> None:
    path = os.path.join(sock_dir, "s")
    listener = await anyio.create_unix_listener(path)

    def use_client() -> BaseException:
        client = ttrpc.SyncClient.connect(path)
        try:
            client.call(SERVICE, "Echo", S(), S)
        except ttrpc.ConnectionClosed as exc:
            return exc
        finally:
            client.close()
        raise AssertionError("call on a closed connection succeeded")

    async with listener, anyio.create_task_group() as tg:

        async def accept_and_close() -> None:
            stream = await listener.accept()
            await stream.receive()
            await stream.aclose()

        tg.start_soon(accept_and_close)
        with anyio.fail_after(5):
            error = await anyio.to_thread.run_sync(use_client)
    assert isinstance(error, ttrpc.ConnectionClosed)
    with pytest.raises(ttrpc.ConnectionClosed):
        ttrpc.SyncClient.connect(os.path.join(sock_dir, "missing"))
