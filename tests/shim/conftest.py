"""Harness: the Task service on a temp socket, a fake containerd events
server (our ttrpc Server) recording what the shim publishes, and bundles.

Tests drive the shim with our ttrpc client exactly as containerd would.
The backend is :class:`tests.shim.hostbackend.HostBackend` (host processes).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest
from google.protobuf import empty_pb2
from google.protobuf.message import Message

import ttrpc
from protos import typeurl
from protos.containerd.events import task_pb2 as events
from protos.containerd.services.events.ttrpc.v1 import events_pb2
from shim.events import Publisher
from shim.service import TaskService
from tests.shim.hostbackend import HostBackend

TASK = "containerd.task.v2.Task"
M = TypeVar("M", bound=Message)

_EVENT_TYPES = {
    cls.DESCRIPTOR.full_name: cls
    for cls in (
        events.TaskCreate,
        events.TaskStart,
        events.TaskDelete,
        events.TaskExit,
        events.TaskOOM,
        events.TaskExecAdded,
        events.TaskExecStarted,
        events.TaskPaused,
        events.TaskResumed,
    )
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short directory (unix socket paths are limited to 108 bytes)."""
    d = tempfile.mkdtemp(prefix="shimt-", dir="/tmp")
    try:
        yield Path(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


@dataclass
class EventSink:
    """containerd's ttrpc Events service, recording each Forward."""

    envelopes: list[events_pb2.Envelope] = field(default_factory=list)
    changed: anyio.Event = field(default_factory=anyio.Event)
    fail_next: int = 0

    async def Forward(
        self, ctx: ttrpc.ServerContext, req: events_pb2.ForwardRequest
    ) -> empty_pb2.Empty:
        if self.fail_next:
            self.fail_next -= 1
            raise ttrpc.TTRPCError(ttrpc.Code.UNAVAILABLE, "not now")
        self.envelopes.append(req.envelope)
        self.changed.set()
        self.changed = anyio.Event()
        return empty_pb2.Empty()

    def topics(self) -> list[str]:
        return [e.topic for e in self.envelopes]

    def decoded(self) -> list[tuple[str, Any]]:
        out = []
        for e in self.envelopes:
            cls = _EVENT_TYPES[typeurl.type_name(e.event)]
            out.append((e.topic, typeurl.unpack(e.event, cls)))
        return out

    async def wait_for(self, topic: str, count: int = 1, timeout: float = 10.0) -> None:
        with anyio.fail_after(timeout):
            while self.topics().count(topic) < count:
                await self.changed.wait()


@dataclass
class Shim:
    client: ttrpc.Client
    sink: EventSink
    service: TaskService
    backend: HostBackend
    dir: Path

    async def call(
        self, method: str, request: Message, response_type: type[M], timeout: float = 10
    ) -> M:
        return await self.client.call(TASK, method, request, response_type, timeout=timeout)


@asynccontextmanager
async def running_shim(base: Path, backend: HostBackend | None = None) -> AsyncIterator[Shim]:
    backend = backend or HostBackend()
    sink = EventSink()
    events_server = ttrpc.Server()
    events_server.register(events_pb2.DESCRIPTOR.services_by_name["Events"], sink)
    events_path = str(base / "ev.sock")
    shim_path = str(base / "shim.sock")
    publisher = Publisher(events_path, "testns")
    server = ttrpc.Server(handshake=ttrpc.require_same_user())

    async def on_empty() -> None:
        await server.shutdown()

    service = TaskService(backend, publisher, namespace="testns", on_empty=on_empty)
    service.register(server)
    async with anyio.create_task_group() as tg:
        # tg.start: the servers are listening when it returns (a socket file
        # exists from bind(2) on, before listen(2): waiting for the file
        # raced with a connection refused).
        with anyio.fail_after(5):
            await tg.start(events_server.serve_unix, events_path)
            tg.start_soon(publisher.run)
            await tg.start(service.run)
            await tg.start(server.serve_unix, shim_path)
        client = await ttrpc.Client.connect(shim_path)
        try:
            yield Shim(client, sink, service, backend, base)
        finally:
            await client.aclose()
            for cid in list(backend.containers):
                backend.delete(cid)
            for task in service.tasks.values():
                for proc in (task.init, *task.execs.values()):
                    if proc.stdio is not None:
                        proc.stdio.close()
            await server.shutdown(grace_period=0.5)
            await events_server.shutdown(grace_period=0.5)
            tg.cancel_scope.cancel()


def make_bundle(
    base: Path,
    container_id: str,
    args: list[str],
    *,
    terminal: bool = False,
    resources: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
) -> Path:
    """A bundle whose root is the host's "/" (the host backend does not chroot then)."""
    bundle = base / container_id
    (bundle / "rootfs").mkdir(parents=True)
    spec: dict[str, Any] = {
        "ociVersion": "1.0.2",
        "root": {"path": "/"},
        "process": {
            "terminal": terminal,
            "args": args,
            "cwd": "/",
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "user": {"uid": 0, "gid": 0},
        },
        "linux": {"resources": resources or {}},
        "annotations": annotations or {},
    }
    (bundle / "config.json").write_text(json.dumps(spec))
    return bundle


def fifo(base: Path, name: str) -> str:
    path = base / name
    os.mkfifo(path)
    return str(path)


@pytest.fixture(scope="session", autouse=True)
def _remove_test_cgroup_parents() -> Iterator[None]:
    """The host backend's per-container cgroups share one parent; drop it at the end."""
    yield
    for d in Path("/sys/fs/cgroup").glob("*/pysandbox-shimtest"):
        with contextlib.suppress(OSError):
            d.rmdir()
