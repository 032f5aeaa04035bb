"""Both directions against Go ttrpc, using containerd's own runc shim.

``containerd-shim-runc-v2`` serves the Task API over ttrpc (Go server: our
client drives Connect/Create/Start/Wait/Delete/Shutdown) and publishes task
events to ``$TTRPC_ADDRESS`` (Go client: our *server* receives
``containerd.services.events.ttrpc.v1.Events/Forward``). No containerd runs:
the test plays containerd. The container is busybox ``sh -c 'exit 3'`` in a
throwaway bundle. Skipped without root, runc, the runc shim or busybox.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from google.protobuf import (
    any_pb2,
    descriptor_pb2,
    descriptor_pool,
    empty_pb2,
    message_factory,
    timestamp_pb2,
)

import ttrpc

pytestmark = [pytest.mark.root, pytest.mark.anyio]

TASK = "containerd.task.v2.Task"
EVENTS = "containerd.services.events.ttrpc.v1.Events"
NAMESPACE = "ttrpctest"

F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    "string": F.TYPE_STRING,
    "uint32": F.TYPE_UINT32,
    "bool": F.TYPE_BOOL,
}


def _messages() -> dict[str, Any]:
    """The few Task/events messages used, as in containerd 1.6
    runtime/v2/task/shim.proto and api/services/ttrpc/events/v1/events.proto,
    in a private pool (no clash with the project's generated protos)."""
    pool = descriptor_pool.DescriptorPool()
    for dep in (any_pb2, timestamp_pb2):
        pool.Add(descriptor_pb2.FileDescriptorProto.FromString(dep.DESCRIPTOR.serialized_pb))
    fdp = descriptor_pb2.FileDescriptorProto(
        name="tests/ttrpc/interop_task.proto",
        package="ttrpctest.interop",
        dependency=["google/protobuf/any.proto", "google/protobuf/timestamp.proto"],
        syntax="proto3",
    )
    specs: dict[str, list[tuple[str, int, str]]] = {
        "ConnectRequest": [("id", 1, "string")],
        "ConnectResponse": [
            ("shim_pid", 1, "uint32"),
            ("task_pid", 2, "uint32"),
            ("version", 3, "string"),
        ],
        "CreateTaskRequest": [
            ("id", 1, "string"),
            ("bundle", 2, "string"),
            ("terminal", 4, "bool"),
        ],
        "CreateTaskResponse": [("pid", 1, "uint32")],
        "StartRequest": [("id", 1, "string"), ("exec_id", 2, "string")],
        "StartResponse": [("pid", 1, "uint32")],
        "WaitRequest": [("id", 1, "string"), ("exec_id", 2, "string")],
        "WaitResponse": [
            ("exit_status", 1, "uint32"),
            ("exited_at", 2, ".google.protobuf.Timestamp"),
        ],
        "DeleteRequest": [("id", 1, "string"), ("exec_id", 2, "string")],
        "DeleteResponse": [("pid", 1, "uint32"), ("exit_status", 2, "uint32")],
        "ShutdownRequest": [("id", 1, "string"), ("now", 2, "bool")],
        "Envelope": [
            ("timestamp", 1, ".google.protobuf.Timestamp"),
            ("namespace", 2, "string"),
            ("topic", 3, "string"),
            ("event", 4, ".google.protobuf.Any"),
        ],
        "ForwardRequest": [("envelope", 1, ".ttrpctest.interop.Envelope")],
    }
    for name, fields in specs.items():
        msg = fdp.message_type.add(name=name)
        for fname, number, ftype in fields:
            field = msg.field.add(name=fname, number=number, label=F.LABEL_OPTIONAL)
            if ftype in _SCALARS:
                field.type = _SCALARS[ftype]
            else:
                field.type = F.TYPE_MESSAGE
                field.type_name = ftype
    pool.Add(fdp)
    return {
        name: message_factory.GetMessageClass(
            pool.FindMessageTypeByName(f"ttrpctest.interop.{name}")
        )
        for name in specs
    }


def _need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} not installed")
    return path


@pytest.fixture
def bundle() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("running a runc container needs root")
    _need("containerd-shim-runc-v2")
    runc = _need("runc")
    busybox = shutil.which("busybox")
    if busybox is None or not os.path.exists(busybox):
        pytest.skip("busybox (busybox-static) not installed")
    tmp = tempfile.mkdtemp(prefix="ttrpc-shim-", dir="/tmp")
    path = os.path.join(tmp, "bundle")
    os.makedirs(os.path.join(path, "rootfs", "bin"))
    shutil.copy(busybox, os.path.join(path, "rootfs", "bin", "busybox"))
    subprocess.run([runc, "spec"], cwd=path, check=True)
    with open(os.path.join(path, "config.json")) as fh:
        spec = json.load(fh)
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["/bin/busybox", "sh", "-c", "exit 3"]
    with open(os.path.join(path, "config.json"), "w") as fh:
        json.dump(spec, fh)
    # The shim daemon logs to the bundle's `log` FIFO; containerd reads it.
    os.mkfifo(os.path.join(path, "log"))
    log_reader = os.open(os.path.join(path, "log"), os.O_RDONLY | os.O_NONBLOCK)
    try:
        yield path
    finally:
        os.close(log_reader)
        shutil.rmtree(tmp, ignore_errors=True)


async def test_runc_shim_both_directions(bundle: str) -> None:
    msgs = _messages()
    task_id = f"ttrpc-interop-{os.getpid()}"
    tmp = os.path.dirname(bundle)
    events_sock = os.path.join(tmp, "events.sock")
    grpc_address = os.path.join(tmp, "grpc.sock")  # only hashed into the shim's socket name
    received: list[tuple[str, str]] = []
    got_exit = anyio.Event()

    async def forward(ctx: ttrpc.ServerContext, req: Any) -> empty_pb2.Empty:
        received.append((req.envelope.namespace, req.envelope.topic))
        if req.envelope.topic == "/tasks/exit":
            got_exit.set()
        return empty_pb2.Empty()

    events = ttrpc.Server()
    events.register(EVENTS, {"Forward": (msgs["ForwardRequest"], empty_pb2.Empty, forward)})

    shim_pid = 0
    socket_path = (
        "/run/containerd/s/"
        + hashlib.sha256(os.path.join(grpc_address, NAMESPACE, task_id).encode()).hexdigest()
    )
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(events.serve_unix, events_sock)
            start = await anyio.run_process(
                [
                    "containerd-shim-runc-v2",
                    "-namespace",
                    NAMESPACE,
                    "-id",
                    task_id,
                    "-address",
                    grpc_address,
                    "-publish-binary",
                    "/usr/bin/containerd",
                    "start",
                ],
                cwd=bundle,
                env={**os.environ, "TTRPC_ADDRESS": events_sock},
                stdin=subprocess.DEVNULL,
            )
            address = start.stdout.decode().strip()
            assert address == "unix://" + socket_path

            async with await ttrpc.Client.connect(address) as client:
                with anyio.fail_after(20):
                    conn = await client.call(
                        TASK, "Connect", msgs["ConnectRequest"](id=task_id), msgs["ConnectResponse"]
                    )
                    shim_pid = conn.shim_pid
                    assert shim_pid > 0
                    created = await client.call(
                        TASK,
                        "Create",
                        msgs["CreateTaskRequest"](id=task_id, bundle=bundle),
                        msgs["CreateTaskResponse"],
                        metadata={"containerd-namespace-ttrpc": NAMESPACE},
                    )
                    assert created.pid > 0
                    # Wait blocks until the exit while Start runs on the same connection.
                    waited: list[Any] = []

                    async def wait() -> None:
                        waited.append(
                            await client.call(
                                TASK, "Wait", msgs["WaitRequest"](id=task_id), msgs["WaitResponse"]
                            )
                        )

                    tg.start_soon(wait)
                    started = await client.call(
                        TASK, "Start", msgs["StartRequest"](id=task_id), msgs["StartResponse"]
                    )
                    assert started.pid == created.pid
                    while not waited:
                        await anyio.sleep(0.02)
                    assert waited[0].exit_status == 3
                    assert waited[0].exited_at.seconds > 0

                    # Errors from Go map back to codes (errdefs.ToGRPC).
                    with pytest.raises(ttrpc.TTRPCError) as info:
                        await client.call(
                            TASK, "Start", msgs["StartRequest"](id="no-such"), msgs["StartResponse"]
                        )
                    assert info.value.code in (ttrpc.Code.NOT_FOUND, ttrpc.Code.FAILED_PRECONDITION)
                    with pytest.raises(ttrpc.TTRPCError) as info:
                        await client.call(TASK, "NoSuchMethod", empty_pb2.Empty(), empty_pb2.Empty)
                    assert (info.value.code, info.value.message) == (
                        ttrpc.Code.UNIMPLEMENTED,
                        "method NoSuchMethod",
                    )

                    deleted = await client.call(
                        TASK, "Delete", msgs["DeleteRequest"](id=task_id), msgs["DeleteResponse"]
                    )
                    assert deleted.exit_status == 3
                    await got_exit.wait()
                    # Shutdown makes the shim exit; the connection may drop before the answer.
                    try:
                        await client.call(
                            TASK, "Shutdown", msgs["ShutdownRequest"](id=task_id), empty_pb2.Empty
                        )
                    except ttrpc.ConnectionClosed:
                        pass
            with anyio.fail_after(10):
                while _alive(shim_pid):
                    await anyio.sleep(0.05)
            shim_pid = 0
            await events.shutdown()
    finally:
        if shim_pid and _alive(shim_pid):
            os.kill(shim_pid, signal.SIGKILL)
        subprocess.run(
            ["runc", "--root", f"/run/containerd/runc/{NAMESPACE}", "delete", "--force", task_id],
            capture_output=True,
            check=False,
        )
        for leftover in (socket_path,):
            try:
                os.unlink(leftover)
            except FileNotFoundError:
                pass
        try:
            os.rmdir(f"/run/containerd/runc/{NAMESPACE}")
        except OSError:
            pass

    # The Go ttrpc client inside the shim published through our server.
    topics = [topic for namespace, topic in received if namespace == NAMESPACE]
    assert topics[:3] == ["/tasks/create", "/tasks/start", "/tasks/exit"]
    assert "/tasks/delete" in topics


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose (its parent is the start process, reaped by init).
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False
