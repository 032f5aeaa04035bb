"""ttrpc for Python: containerd's lightweight RPC over unix sockets.

A sans-I/O codec (:mod:`ttrpc._codec`, :mod:`ttrpc._connection`) plus thin
anyio transports (:class:`Server`, :class:`Client`, loaded on first use)
and the blocking :class:`SyncClient`. Unary and streaming calls; see docs/ttrpc.md for the
exact protocol coverage. Depends on protobuf and anyio
and on nothing else.
"""

from typing import TYPE_CHECKING, Any

from ttrpc._codec import (
    HEADER_LENGTH,
    MAX_MESSAGE_LENGTH,
    Flags,
    Frame,
    FrameDecoder,
    FrameError,
    MessageType,
    OversizedFrame,
    OversizedMessage,
    encode_frame,
)
from ttrpc._connection import ClientConnection, ServerConnection
from ttrpc._status import Code, ConnectionClosed, TTRPCError
from ttrpc.sync import SyncClient

if TYPE_CHECKING:
    from ttrpc._calls import ClientStream
    from ttrpc._context import PeerCredentials, ServerContext
    from ttrpc._peercred import peer_credentials, require_same_user
    from ttrpc._server_stream import ServerStream
    from ttrpc.client import Client
    from ttrpc.server import Server

# The anyio transports, imported on first use: a program that only needs
# the codec or the blocking client (a CLI) does not pay for anyio and
# asyncio (tens of milliseconds and several MiB).
_LAZY = {
    "Client": "ttrpc.client",
    "ClientStream": "ttrpc._calls",
    "PeerCredentials": "ttrpc._context",
    "Server": "ttrpc.server",
    "ServerContext": "ttrpc._context",
    "ServerStream": "ttrpc._server_stream",
    "peer_credentials": "ttrpc._peercred",
    "require_same_user": "ttrpc._peercred",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ttrpc' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "HEADER_LENGTH",
    "MAX_MESSAGE_LENGTH",
    "Client",
    "ClientConnection",
    "ClientStream",
    "Code",
    "ConnectionClosed",
    "Flags",
    "Frame",
    "FrameDecoder",
    "FrameError",
    "MessageType",
    "OversizedFrame",
    "OversizedMessage",
    "PeerCredentials",
    "Server",
    "ServerConnection",
    "ServerContext",
    "ServerStream",
    "SyncClient",
    "TTRPCError",
    "encode_frame",
    "peer_credentials",
    "require_same_user",
]
