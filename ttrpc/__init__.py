"""ttrpc for Python: containerd's lightweight RPC over unix sockets.

A sans-I/O codec (:mod:`ttrpc._codec`, :mod:`ttrpc._connection`) plus thin
anyio transports (:class:`Server`, :class:`Client`, loaded on first use),
the blocking :class:`SyncClient` and the threaded :class:`SyncServer`
(unary calls, no event loop). Unary and streaming calls; see docs/ttrpc.md
for the exact protocol coverage. Depends on protobuf and anyio and on
nothing else; only the anyio transports import anyio.
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
from ttrpc._context import CallContext, PeerCredentials, ServerContext
from ttrpc._peercred import peer_credentials, require_same_user
from ttrpc._status import Code, ConnectionClosed, TTRPCError
from ttrpc.sync_server import SocketListener, SyncListener, SyncServer, SyncServerContext

if TYPE_CHECKING:
    from ttrpc._calls import ClientStream
    from ttrpc._server_stream import ServerStream
    from ttrpc.client import Client
    from ttrpc.server import Server
    from ttrpc.sync import SyncClient

# The anyio transports, imported on first use: a program that only needs
# the codec or the blocking client (a CLI) does not pay for anyio and
# asyncio (tens of milliseconds and several MiB). The blocking client too:
# a SyncServer whose services need no protobuf (the sandbox process) then
# never imports protobuf.
_LAZY = {
    "SyncClient": "ttrpc.sync",
    "Client": "ttrpc.client",
    "ClientStream": "ttrpc._calls",
    "Server": "ttrpc.server",
    "ServerStream": "ttrpc._server_stream",
}
#: Submodules reachable as attributes (``ttrpc.ttrpc_pb2``) without being
#: imported by ``import ttrpc``: the protobuf messages, which only clients
#: that want protobuf's own classes load.
_LAZY_SUBMODULES = frozenset({"ttrpc_pb2"})


def __getattr__(name: str) -> Any:
    import importlib

    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"ttrpc.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ttrpc' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "HEADER_LENGTH",
    "MAX_MESSAGE_LENGTH",
    "CallContext",
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
    "SocketListener",
    "SyncClient",
    "SyncListener",
    "SyncServer",
    "SyncServerContext",
    "TTRPCError",
    "encode_frame",
    "peer_credentials",
    "require_same_user",
]
