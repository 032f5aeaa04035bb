"""Shared fixtures: a test-only service descriptor and a served Server."""

from __future__ import annotations

import asyncio
import functools
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import anyio
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, empty_pb2, wrappers_pb2
from google.protobuf.descriptor import ServiceDescriptor

import ttrpc

_TEST_PROTO = "tests/ttrpc/ttrpc_test_echo.proto"


def _echo_service() -> ServiceDescriptor:
    """``ttrpctest.Echo`` built at run time from well-known types (no protoc)."""
    pool = descriptor_pool.Default()
    try:
        fd = pool.FindFileByName(_TEST_PROTO)
    except KeyError:
        fdp = descriptor_pb2.FileDescriptorProto(
            name=_TEST_PROTO,
            package="ttrpctest",
            dependency=["google/protobuf/wrappers.proto", "google/protobuf/empty.proto"],
            syntax="proto3",
        )
        svc = fdp.service.add(name="Echo")
        for name, req, resp, client_streaming, server_streaming in (
            ("Echo", "StringValue", "StringValue", False, False),
            ("Sleep", "DoubleValue", "Empty", False, False),
            ("Fail", "Int32Value", "Empty", False, False),
            ("Raise", "Empty", "Empty", False, False),
            ("Meta", "StringValue", "StringValue", False, False),
            ("Deadline", "DoubleValue", "DoubleValue", False, False),
            ("Big", "Int64Value", "BytesValue", False, False),
            ("Missing", "Empty", "Empty", False, False),
            ("Count", "Int32Value", "Int32Value", False, True),
            ("Sum", "Int32Value", "Int32Value", True, False),
            ("Chat", "StringValue", "StringValue", True, True),
            ("Ignore", "Int32Value", "Int32Value", True, False),
        ):
            method = svc.method.add(
                name=name,
                input_type=f".google.protobuf.{req}",
                output_type=f".google.protobuf.{resp}",
            )
            method.client_streaming = client_streaming
            method.server_streaming = server_streaming
        pool.AddSerializedFile(fdp.SerializeToString())
        fd = pool.FindFileByName(_TEST_PROTO)
    return fd.services_by_name["Echo"]


ECHO = _echo_service()
SERVICE = ECHO.full_name  # "ttrpctest.Echo"


class EchoImpl:
    """Implements ttrpctest.Echo except ``Missing`` (-> UNIMPLEMENTED)."""

    def __init__(self) -> None:
        self.sleep_started = anyio.Event()
        self.cancelled: list[str] = []
        self.finished: list[str] = []
        self.last_ctx: ttrpc.ServerContext | None = None

    async def Echo(self, ctx: ttrpc.ServerContext, req: wrappers_pb2.StringValue):
        return wrappers_pb2.StringValue(value=req.value)

    async def Sleep(self, ctx: ttrpc.ServerContext, req: wrappers_pb2.DoubleValue):
        self.sleep_started.set()
        try:
            await anyio.sleep(req.value)
        except BaseException:
            self.cancelled.append("Sleep")
            raise
        self.finished.append("Sleep")
        return empty_pb2.Empty()

    async def Fail(self, ctx: ttrpc.ServerContext, req: wrappers_pb2.Int32Value):
        raise ttrpc.TTRPCError(req.value, f"failed with {req.value}")

    async def Raise(self, ctx: ttrpc.ServerContext, req: empty_pb2.Empty):
        raise RuntimeError("handler bug")

    async def Meta(self, ctx: ttrpc.ServerContext, req: wrappers_pb2.StringValue):
        self.last_ctx = ctx
        return wrappers_pb2.StringValue(value=ctx.get(req.value) or "")

    async def Deadline(self, ctx: ttrpc.ServerContext, req: wrappers_pb2.DoubleValue):
        self.last_ctx = ctx
        remaining = ctx.time_remaining()
        if req.value:
            try:
                await anyio.sleep(req.value)
            except BaseException:
                self.cancelled.append("Deadline")
                raise
        return wrappers_pb2.DoubleValue(value=-1.0 if remaining is None else remaining)

    async def Big(self, ctx: ttrpc.ServerContext, req: wrappers_pb2.Int64Value):
        return wrappers_pb2.BytesValue(value=b"x" * req.value)

    async def Count(self, ctx: ttrpc.ServerContext, stream: ttrpc.ServerStream):
        # Server streaming: one request, n answers; a negative n fails midway.
        request = await stream.recv()
        assert isinstance(request, wrappers_pb2.Int32Value)
        assert await stream.recv() is None  # only one request message
        for i in range(abs(request.value)):
            if request.value < 0 and i == 2:
                raise ttrpc.TTRPCError(ttrpc.Code.ABORTED, "stopped at 2")
            await stream.send(wrappers_pb2.Int32Value(value=i))
        return None

    async def Sum(self, ctx: ttrpc.ServerContext, stream: ttrpc.ServerStream):
        total = 0
        async for message in stream:
            total += message.value  # type: ignore[attr-defined]
        return wrappers_pb2.Int32Value(value=total)

    async def Chat(self, ctx: ttrpc.ServerContext, stream: ttrpc.ServerStream):
        async for message in stream:
            await stream.send(wrappers_pb2.StringValue(value=message.value + "!"))  # type: ignore[attr-defined]
        return wrappers_pb2.StringValue(value="bye")

    async def Ignore(self, ctx: ttrpc.ServerContext, stream: ttrpc.ServerStream):
        # Never reads: the client's messages pile up.
        self.sleep_started.set()
        await anyio.sleep(30)
        return wrappers_pb2.Int32Value()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sock_dir() -> Iterator[str]:
    # Short paths: sun_path holds 108 bytes, pytest's tmp_path can be longer.
    path = tempfile.mkdtemp(prefix="ttrpc-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@asynccontextmanager
async def serving(server: ttrpc.Server, path: str, mode: int | None = None) -> AsyncIterator[str]:
    """Run ``server.serve_unix(path)`` for the body, then shut it down."""
    async with anyio.create_task_group() as tg:
        await tg.start(functools.partial(server.serve_unix, path, mode=mode))
        try:
            yield path
        finally:
            with anyio.fail_after(15):
                await server.shutdown()


def other_tasks() -> set[asyncio.Task[object]]:
    """Tasks besides the current one (for leak checks)."""
    current = asyncio.current_task()
    return {t for t in asyncio.all_tasks() if t is not current and not t.done()}
