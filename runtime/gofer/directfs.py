"""Directfs serving: donate each mount's root FD to the Sentry (SCM_RIGHTS).

In directfs mode the Sentry opens container files itself, walking from a
directory FD the gofer donates (seed: ``DonateMountPointFD``); the FD is an
O_PATH FD of the mount point inside the gofer's chroot, so it reaches only
that mount's tree (the Sentry walks with RESOLVE_BENEATH).

Protocol, one AF_UNIX SOCK_SEQPACKET connection per served mount (the
``--io-fds``), until the lisafs-like RPC protocol joins it in ``protos/``:

- request: one packet, JSON ``{"op": "root"}``;
- reply: one packet, JSON ``{"path": "/data", "readonly": true}`` carrying
  one FD in SCM_RIGHTS, or ``{"error": "..."}`` with no FD.

The gofer serves until every connection is closed by the Sentry (seed:
``server.Wait()``), then exits.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import selectors
import socket
import stat
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("pysandbox.gofer")

MAX_REQUEST = 4096


@dataclass
class Connection:
    """One served mount: its socket and the path it serves (in the chroot)."""

    sock: socket.socket
    mount_path: str
    readonly: bool


def _reply(conn: Connection, message: dict[str, Any], fds: list[int]) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(conn.sock, [data], fds)
    else:
        conn.sock.send(data)


def _mount_fd(conn: Connection) -> int:
    """The FD to donate: O_PATH for a directory (the Sentry walks beneath
    it); for a single-file mount (CRI's /etc/hosts) the open file itself,
    read-write unless the mount is read-only, since the Sentry has no parent
    directory to reopen it from."""
    fd = os.open(conn.mount_path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        os.close(fd)
        raise
    if not regular:
        return fd
    try:
        # The path is resolved and symlink-free inside the gofer's chroot.
        flags = os.O_NOFOLLOW | os.O_CLOEXEC
        if conn.readonly:
            return os.open(conn.mount_path, os.O_RDONLY | flags)
        try:
            return os.open(conn.mount_path, os.O_RDWR | flags)
        except OSError as exc:
            if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise
            # A read-only host file system or file: serve it read-only.
            return os.open(conn.mount_path, os.O_RDONLY | flags)
    finally:
        os.close(fd)


def handle(conn: Connection) -> bool:
    """Serve one request; False once the peer has closed the connection."""
    try:
        data = conn.sock.recv(MAX_REQUEST)
    except ConnectionResetError:
        return False
    if not data:
        return False
    try:
        request = json.loads(data)
        op = request.get("op") if isinstance(request, dict) else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        op = None
    if op != "root":
        _reply(conn, {"error": f"unknown request {data[:64]!r}"}, [])
        return True
    try:
        fd = _mount_fd(conn)
    except OSError as exc:
        _reply(conn, {"error": f"open {conn.mount_path}: {exc.strerror}"}, [])
        return True
    try:
        _reply(conn, {"path": conn.mount_path, "readonly": conn.readonly}, [fd])
    finally:
        os.close(fd)
    return True


def serve(conns: list[Connection]) -> None:
    """Answer requests on every connection until all are closed."""
    sel = selectors.DefaultSelector()
    for conn in conns:
        sel.register(conn.sock, selectors.EVENT_READ, conn)
    try:
        while sel.get_map():
            for key, _ in sel.select():
                conn = key.data
                try:
                    alive = handle(conn)
                except BrokenPipeError:
                    alive = False
                if not alive:
                    log.info("connection for %s closed", conn.mount_path)
                    sel.unregister(conn.sock)
                    conn.sock.close()
    finally:
        sel.close()


def request_root(sock: socket.socket) -> tuple[int, dict[str, Any]]:
    """Client side (the Sentry): ask for the mount's root FD."""
    sock.send(json.dumps({"op": "root"}).encode())
    data, fds, _, _ = socket.recv_fds(sock, MAX_REQUEST, 1)
    reply = json.loads(data)
    if "error" in reply:
        for fd in fds:
            os.close(fd)
        raise OSError(f"gofer: {reply['error']}")
    if len(fds) != 1:
        raise OSError(f"gofer: expected one FD, got {len(fds)}")
    return fds[0], reply
