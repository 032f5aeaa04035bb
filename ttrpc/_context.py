"""What a server handler learns about its call.

No anyio here: the threaded server (``ttrpc.sync_server``) uses this module
too, and its processes must not pay for importing an event loop.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import anyio

    from ttrpc import ttrpc_pb2
    from ttrpc._wire import Request


class PeerCredentials(NamedTuple):
    """The connecting process as the kernel saw it at connect(2) (SO_PEERCRED, unix(7))."""

    pid: int
    uid: int
    gid: int


class CallContext:
    """What both servers tell a handler: the call's name, stream, metadata,
    deadline and peer.

    ``metadata`` maps each key to all its values in arrival order (ttrpc Go's
    ``MD`` is ``map[string][]string``). ``deadline`` is None when the
    client sent no ``timeout_nano``; its clock is the server's (see the
    subclasses).
    """

    __slots__ = ("deadline", "metadata", "method", "peer", "service", "stream_id")

    def __init__(
        self,
        *,
        service: str,
        method: str,
        stream_id: int,
        metadata: Mapping[str, tuple[str, ...]],
        deadline: float | None,
        peer: PeerCredentials | None,
    ) -> None:
        self.service = service
        self.method = method
        self.stream_id = stream_id
        self.metadata = metadata
        self.deadline = deadline
        self.peer = peer

    def get(self, key: str) -> str | None:
        """First value for ``key`` (exact, else lower-cased like Go's MD.Get)."""
        values = self.metadata.get(key) or self.metadata.get(key.lower())
        return values[0] if values else None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} /{self.service}/{self.method} stream={self.stream_id}>"


class ServerContext(CallContext):
    """Per-call context of the anyio :class:`ttrpc.Server`, handed to every handler as ``ctx``.

    When the client sent ``timeout_nano``, ``deadline`` is the anyio clock
    time at which ``cancel_scope`` cancels the handler (the Go server wraps
    the context with that timeout); the call then answers
    DEADLINE_EXCEEDED. Without a timeout both are None.
    """

    __slots__ = ("cancel_scope",)

    def __init__(
        self,
        *,
        service: str,
        method: str,
        stream_id: int,
        metadata: Mapping[str, tuple[str, ...]],
        deadline: float | None,
        cancel_scope: anyio.CancelScope | None,
        peer: PeerCredentials | None,
    ) -> None:
        super().__init__(
            service=service,
            method=method,
            stream_id=stream_id,
            metadata=metadata,
            deadline=deadline,
            peer=peer,
        )
        self.cancel_scope = cancel_scope

    def time_remaining(self) -> float | None:
        """Seconds left before the deadline (None without one)."""
        if self.deadline is None:
            return None
        import anyio  # loaded already: this context only exists under anyio

        return max(0.0, self.deadline - anyio.current_time())


def metadata_from_request(
    request: ttrpc_pb2.Request | Request,
) -> dict[str, tuple[str, ...]]:
    """Group the request's repeated KeyValue pairs by key."""
    grouped: dict[str, list[str]] = {}
    for kv in request.metadata:
        grouped.setdefault(kv.key, []).append(kv.value)
    return {key: tuple(values) for key, values in grouped.items()}


# Set while a handler runs, so Server.shutdown() called from inside a handler
# (e.g. the shim's Shutdown RPC) does not wait for itself.
in_handler: contextvars.ContextVar[bool] = contextvars.ContextVar("ttrpc_in_handler", default=False)


def handshake_allows(
    handshake: Callable[[PeerCredentials], bool], peer: PeerCredentials | None
) -> bool:
    """Whether a server's handshake hook admits ``peer`` (a connection
    whose credentials could not be read never is); refusals are logged."""
    log = logging.getLogger("ttrpc.server")
    try:
        allowed = peer is not None and handshake(peer)
    except Exception:
        log.exception("ttrpc: handshake hook failed")
        allowed = False
    if not allowed:
        log.warning("ttrpc: refusing connection from %s", peer)
    return bool(allowed)
