"""Peer credentials of a unix socket connection (SO_PEERCRED, unix(7)).

No anyio at import time: the threaded server uses :func:`socket_credentials`.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from ttrpc._context import PeerCredentials

if TYPE_CHECKING:
    import anyio.abc

_UCRED = struct.Struct("iII")  # struct ucred {pid_t pid; uid_t uid; gid_t gid;}

Handshake = Callable[[PeerCredentials], bool]


def socket_credentials(sock: socket.socket) -> PeerCredentials | None:
    """The peer's pid/uid/gid, or None when ``sock`` is not an AF_UNIX socket."""
    if sock.family != socket.AF_UNIX:
        return None
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    pid, uid, gid = _UCRED.unpack(raw)
    return PeerCredentials(pid=pid, uid=uid, gid=gid)


def peer_credentials(stream: anyio.abc.ByteStream) -> PeerCredentials | None:
    """The peer's pid/uid/gid, or None when ``stream`` is not an AF_UNIX socket."""
    from anyio.abc import SocketAttribute  # loaded already: the stream is anyio's

    sock = stream.extra(SocketAttribute.raw_socket, None)
    return None if sock is None else socket_credentials(sock)


def require_same_user() -> Handshake:
    """Accept only peers with our effective uid and gid.

    The check containerd's shims install (ttrpc ``UnixSocketRequireSameUser``,
    unixcreds_linux.go): both uid and gid must equal the server's euid/egid.
    """
    uid, gid = os.geteuid(), os.getegid()

    def check(creds: PeerCredentials) -> bool:
        return creds.uid == uid and creds.gid == gid

    return check
