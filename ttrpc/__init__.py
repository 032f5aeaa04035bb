"""ttrpc for Python: containerd's lightweight RPC over unix sockets.

A sans-I/O codec (:mod:`ttrpc._codec`, :mod:`ttrpc._connection`) plus thin
anyio transports (:class:`Server`, :class:`Client`, plus the blocking
:class:`SyncClient`). Unary and streaming calls; see docs/ttrpc.md for the
exact protocol coverage. Depends on protobuf and anyio
and on nothing else.
"""

from ttrpc._calls import ClientStream
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
from ttrpc._context import PeerCredentials, ServerContext
from ttrpc._peercred import peer_credentials, require_same_user
from ttrpc._server_stream import ServerStream
from ttrpc._status import Code, ConnectionClosed, TTRPCError
from ttrpc.client import Client
from ttrpc.server import Server
from ttrpc.sync import SyncClient

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
