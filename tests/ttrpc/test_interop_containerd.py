"""Our client against ttrpc Go: containerd's own ttrpc events service.

Starts a private containerd (its own root, state and sockets under a temp
dir; the CRI plugin disabled) and calls
``containerd.services.events.ttrpc.v1.Events/Forward``, the call every shim
makes to publish events. Skipped without root or a containerd binary.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator

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

pytestmark = [pytest.mark.containerd, pytest.mark.root]

SERVICE = "containerd.services.events.ttrpc.v1.Events"
_PROTO = "tests/ttrpc/interop_events.proto"


def _forward_request_type() -> type:
    """ForwardRequest/Envelope as in containerd api/services/ttrpc/events/v1/events.proto.

    Built in a private pool so it can never clash with the project's own
    generated containerd protos if those are imported in the same process.
    """
    pool = descriptor_pool.DescriptorPool()
    for dependency in (any_pb2, timestamp_pb2):
        pool.Add(descriptor_pb2.FileDescriptorProto.FromString(dependency.DESCRIPTOR.serialized_pb))
    f = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(
        name=_PROTO,
        package="containerd.services.events.ttrpc.v1",
        dependency=["google/protobuf/any.proto", "google/protobuf/timestamp.proto"],
        syntax="proto3",
    )
    env = fdp.message_type.add(name="Envelope")
    for name, number, ftype, type_name in (
        ("timestamp", 1, f.TYPE_MESSAGE, ".google.protobuf.Timestamp"),
        ("namespace", 2, f.TYPE_STRING, ""),
        ("topic", 3, f.TYPE_STRING, ""),
        ("event", 4, f.TYPE_MESSAGE, ".google.protobuf.Any"),
    ):
        field = env.field.add(name=name, number=number, type=ftype, label=f.LABEL_OPTIONAL)
        if type_name:
            field.type_name = type_name
    req = fdp.message_type.add(name="ForwardRequest")
    req.field.add(
        name="envelope",
        number=1,
        type=f.TYPE_MESSAGE,
        type_name=".containerd.services.events.ttrpc.v1.Envelope",
        label=f.LABEL_OPTIONAL,
    )
    pool.Add(fdp)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("containerd.services.events.ttrpc.v1.ForwardRequest")
    )


@pytest.fixture(scope="module")
def containerd_ttrpc() -> Iterator[str]:
    binary = shutil.which("containerd")
    if binary is None:
        pytest.skip("containerd binary not installed (apt-get install containerd)")
    if os.geteuid() != 0:
        pytest.skip("a private containerd needs root")
    tmp = tempfile.mkdtemp(prefix="ttrpc-ctd-", dir="/tmp")
    config = os.path.join(tmp, "config.toml")
    address = os.path.join(tmp, "c.sock")
    with open(config, "w") as fh:
        fh.write(
            "version = 2\n"
            f'root = "{tmp}/root"\nstate = "{tmp}/state"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            f'[grpc]\n  address = "{address}"\n'
            f'[ttrpc]\n  address = "{address}.ttrpc"\n'
        )
    log = open(os.path.join(tmp, "containerd.log"), "wb")  # noqa: SIM115
    proc = subprocess.Popen([binary, "--config", config], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(address + ".ttrpc"):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                with open(os.path.join(tmp, "containerd.log")) as fh:
                    pytest.fail(f"private containerd did not start:\n{fh.read()[-2000:]}")
            time.sleep(0.05)
        yield address + ".ttrpc"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        subprocess.run(["umount", "-R", f"{tmp}/root"], capture_output=True, check=False)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.anyio
async def test_forward_event_to_containerd(containerd_ttrpc: str) -> None:
    forward_request = _forward_request_type()
    req = forward_request()
    req.envelope.timestamp.GetCurrentTime()
    req.envelope.namespace = "default"
    req.envelope.topic = "/tasks/exit"
    req.envelope.event.Pack(empty_pb2.Empty())
    async with await ttrpc.Client.connect(containerd_ttrpc) as client:
        assert (
            await client.call(SERVICE, "Forward", req, empty_pb2.Empty, timeout=5)
            == empty_pb2.Empty()
        )

        # Go's error wording, which our server copies.
        with pytest.raises(ttrpc.TTRPCError) as info:
            await client.call(SERVICE, "Nope", req, empty_pb2.Empty)
        assert (info.value.code, info.value.message) == (ttrpc.Code.UNIMPLEMENTED, "method Nope")
        with pytest.raises(ttrpc.TTRPCError) as info:
            await client.call("no.Such", "X", req, empty_pb2.Empty)
        assert (info.value.code, info.value.message) == (
            ttrpc.Code.UNIMPLEMENTED,
            "service no.Such",
        )

        # Validation errors come back as INVALID_ARGUMENT with containerd's text.
        bad = forward_request()
        bad.envelope.namespace = "not a namespace!"
        bad.envelope.topic = "/tasks/exit"
        with pytest.raises(ttrpc.TTRPCError) as info:
            await client.call(SERVICE, "Forward", bad, empty_pb2.Empty)
        assert info.value.code == ttrpc.Code.INVALID_ARGUMENT
        assert "namespace" in info.value.message

        # Many calls multiplexed on one connection, answered out of order.
        async with anyio.create_task_group() as tg:
            for _ in range(200):
                tg.start_soon(client.call, SERVICE, "Forward", req, empty_pb2.Empty)

    def blocking() -> empty_pb2.Empty:
        with ttrpc.SyncClient.connect(containerd_ttrpc) as sync_client:
            return sync_client.call(SERVICE, "Forward", req, empty_pb2.Empty, timeout=5)

    assert await anyio.to_thread.run_sync(blocking) == empty_pb2.Empty()
