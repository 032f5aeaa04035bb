"""Task events to containerd, in order, through one queue.

Mechanism (reference §3.5): a ttrpc client to ``$TTRPC_ADDRESS`` calling
``containerd.services.events.ttrpc.v1.Events/Forward`` with an Envelope
(timestamp, namespace, topic, Any with a bare ``containerd.events.X`` URL).
As containerd's own publisher (runtime/v2/shim/publisher.go): one sender,
a 5 s timeout per Forward, reconnect after a failure and retry with a
growing delay, at most 5 retries, then drop the event with an error log.
Events are queued synchronously by :meth:`Publisher.publish`, so the order
in which the service decides them is the order containerd sees them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from google.protobuf import empty_pb2, timestamp_pb2
from google.protobuf.message import Message

import ttrpc
from protos import typeurl
from protos.containerd.services.events.ttrpc.v1 import events_pb2

log = logging.getLogger("pysandbox.shim.events")

SERVICE = "containerd.services.events.ttrpc.v1.Events"
FORWARD_TIMEOUT = 5.0
MAX_RETRIES = 5
QUEUE_SIZE = 2048

TOPICS = {
    "TaskCreate": "/tasks/create",
    "TaskStart": "/tasks/start",
    "TaskDelete": "/tasks/delete",
    "TaskExit": "/tasks/exit",
    "TaskOOM": "/tasks/oom",
    "TaskExecAdded": "/tasks/exec-added",
    "TaskExecStarted": "/tasks/exec-started",
    "TaskPaused": "/tasks/paused",
    "TaskResumed": "/tasks/resumed",
    "TaskCheckpointed": "/tasks/checkpointed",
}


def topic_of(event: Message) -> str:
    """The topic containerd files ``event`` under (runtime/events.go)."""
    try:
        return TOPICS[event.DESCRIPTOR.name]
    except KeyError:
        raise ValueError(f"{event.DESCRIPTOR.full_name} is not a task event") from None


def timestamp(at: float | None = None) -> timestamp_pb2.Timestamp:
    """A protobuf Timestamp for ``at`` (default: now)."""
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(int((time.time() if at is None else at) * 1e9))
    return ts


@dataclass
class _Queued:
    envelope: events_pb2.Envelope
    attempts: int = 0


class Publisher:
    """Forwards task events to containerd; run :meth:`run` in a task group."""

    def __init__(self, address: str, namespace: str) -> None:
        self.address = address
        self.namespace = namespace
        send, receive = anyio.create_memory_object_stream[_Queued](QUEUE_SIZE)
        self._send: MemoryObjectSendStream[_Queued] = send
        self._receive: MemoryObjectReceiveStream[_Queued] = receive
        self._client: ttrpc.Client | None = None
        self._idle = anyio.Event()
        self._idle.set()
        self._pending = 0
        self.dropped = 0

    def publish(self, event: Message) -> None:
        """Queue ``event``; never blocks (a full queue drops it with an error)."""
        envelope = events_pb2.Envelope(
            timestamp=timestamp(),
            namespace=self.namespace,
            topic=topic_of(event),
            event=typeurl.pack(event),
        )
        if not self.address:
            # CRI-O starts shims without TTRPC_ADDRESS: nothing to publish to.
            log.debug("no TTRPC_ADDRESS; not publishing %s", envelope.topic)
            return
        try:
            self._send.send_nowait(_Queued(envelope))
        except anyio.WouldBlock:
            self.dropped += 1
            log.error("event queue full; dropping %s", envelope.topic)
            return
        self._pending += 1
        self._idle = anyio.Event() if self._idle.is_set() else self._idle

    async def drain(self, timeout: float) -> bool:
        """Wait until everything queued was sent (or dropped); False on timeout."""
        with anyio.move_on_after(timeout):
            await self._idle.wait()
            return True
        return False

    async def run(self) -> None:
        """The one sender: forwards queued events in order until cancelled."""
        try:
            async for item in self._receive:
                await self._forward(item)
                self._pending -= 1
                if self._pending == 0:
                    self._idle.set()
        finally:
            if self._client is not None:
                with anyio.CancelScope(shield=True):
                    await self._client.aclose()

    async def _forward(self, item: _Queued) -> None:
        request = events_pb2.ForwardRequest(envelope=item.envelope)
        while True:
            try:
                if self._client is None or self._client.closed:
                    self._client = await ttrpc.Client.connect(self.address)
                await self._client.call(
                    SERVICE, "Forward", request, empty_pb2.Empty, timeout=FORWARD_TIMEOUT
                )
                return
            except ttrpc.TTRPCError as exc:
                item.attempts += 1
                if isinstance(exc, ttrpc.ConnectionClosed) and self._client is not None:
                    await self._client.aclose()
                    self._client = None
                if item.attempts > MAX_RETRIES:
                    self.dropped += 1
                    log.error(
                        "dropping event %s after %d attempts: %s",
                        item.envelope.topic,
                        item.attempts,
                        exc,
                    )
                    return
                delay = min(float(item.attempts), 5.0)
                log.warning(
                    "publishing %s failed (%s); retry in %.0fs", item.envelope.topic, exc, delay
                )
                await anyio.sleep(delay)

    def close(self) -> None:
        """No more events; :meth:`run` returns once the queue is empty."""
        self._send.close()
