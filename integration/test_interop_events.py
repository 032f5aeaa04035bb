"""Our ttrpc client forwards a task event to a real containerd, as a shim does.

Shims publish through containerd's ttrpc socket (``$TTRPC_ADDRESS``),
service ``containerd.services.events.ttrpc.v1.Events``, method ``Forward``.
``ctr events`` prints an event only after decoding its Any by type URL
(cmd/ctr/commands/events), so seeing the container id printed proves the
envelope, the bare type URL and the TaskOOM bytes were all understood.
"""

from __future__ import annotations

import anyio
import pytest
from google.protobuf import empty_pb2, timestamp_pb2

import ttrpc
from integration.containerd import EventWatcher, PrivateContainerd
from protos import typeurl
from protos.containerd.events import task_pb2 as events
from protos.containerd.services.events.ttrpc.v1 import events_pb2 as events_service

# A hung peer must not hold the run for the global 300 s timeout.
pytestmark = [pytest.mark.containerd, pytest.mark.timeout(60)]

EVENTS = "containerd.services.events.ttrpc.v1.Events"


def _envelope(container_id: str, namespace: str = "default") -> events_service.Envelope:
    now = timestamp_pb2.Timestamp()
    now.GetCurrentTime()
    return events_service.Envelope(
        timestamp=now,
        namespace=namespace,
        topic="/tasks/oom",
        event=typeurl.pack(events.TaskOOM(container_id=container_id)),
    )


async def _forward(containerd: PrivateContainerd, envelope: events_service.Envelope) -> None:
    async with await ttrpc.Client.connect(containerd.ttrpc_address) as client:
        await client.call(
            EVENTS, "Forward", events_service.ForwardRequest(envelope=envelope),
            empty_pb2.Empty, timeout=5,
        )  # fmt: skip


def test_forward_task_oom_reaches_ctr_events(
    containerd: PrivateContainerd, ctr_events: EventWatcher
) -> None:
    anyio.run(_forward, containerd, _envelope("oom-interop-1"))

    event = ctr_events.wait_for("/tasks/oom", timeout=5)
    assert event is not None, f"no /tasks/oom; ctr events said: {ctr_events.seen}"
    assert event.namespace == "default"
    assert event.payload == {"container_id": "oom-interop-1"}


def test_forward_with_bad_topic_is_rejected(
    containerd: PrivateContainerd, ctr_events: EventWatcher
) -> None:
    """containerd validates envelopes (events/exchange Forward): a clear error, no event."""
    envelope = _envelope("oom-interop-2")
    envelope.topic = "tasks/oom"  # must start with "/"
    with pytest.raises(ttrpc.TTRPCError) as caught:
        anyio.run(_forward, containerd, envelope)
    assert caught.value.code == ttrpc.Code.INVALID_ARGUMENT, caught.value
    assert "topic" in caught.value.message
    assert ctr_events.wait_for("/tasks/oom", timeout=0.5) is None


def test_forward_task_exit_with_timestamp(
    containerd: PrivateContainerd, ctr_events: EventWatcher
) -> None:
    """A nested Timestamp and uint32 fields survive containerd's decoding (gogo stdtime)."""
    exited = timestamp_pb2.Timestamp(seconds=1_700_000_000, nanos=123_000_000)
    exit_event = events.TaskExit(
        container_id="exit-interop", id="exec-1", pid=4242, exit_status=137, exited_at=exited
    )
    envelope = _envelope("unused")
    envelope.topic = "/tasks/exit"
    envelope.event.CopyFrom(typeurl.pack(exit_event))
    anyio.run(_forward, containerd, envelope)

    event = ctr_events.wait_for("/tasks/exit", timeout=5, container_id="exit-interop")
    assert event is not None, f"no /tasks/exit; ctr events said: {ctr_events.seen}"
    assert event.payload == {
        "container_id": "exit-interop",
        "id": "exec-1",
        "pid": 4242,
        "exit_status": 137,
        "exited_at": "2023-11-14T22:13:20.123Z",
    }
