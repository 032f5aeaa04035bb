"""Peer credentials of a unix socket connection (SO_PEERCRED, unix(7))."""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Callable

import anyio.abc
from anyio.abc import SocketAttribute

from ttrpc._context import PeerCredentials

_UCRED = struct.Struct("iII")  # struct ucred {pid_t pid; uid_t uid; gid_t gid;}

Handshake = Callable[[PeerCredentials], bool]


def peer_credentials(stream: anyio.abc.ByteStream) -> PeerCredentials | None:
    """The peer's pid/uid/gid, or None when ``stream`` is not an AF_UNIX socket."""
    sock = stream.extra(SocketAttribute.raw_socket, None)
    if sock is None or sock.family != socket.AF_UNIX:
        return None
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    pid, uid, gid = _UCRED.unpack(raw)
    return PeerCredentials(pid=pid, uid=uid, gid=gid)


def require_same_user() -> Handshake:
    """Accept only peers with our effective uid and gid.

    The check containerd's shims install (ttrpc ``UnixSocketRequireSameUser``,
    unixcreds_linux.go): both uid and gid must equal the server's euid/egid.
    """
    uid, gid = os.geteuid(), os.getegid()

    def check(creds: PeerCredentials) -> bool:
        return creds.uid == uid and creds.gid == gid

    return check
