"""The control listener of a sandbox, receiving FDs passed with a call.

ttrpc has no FD passing; ``runtime.controlclient`` sends them in a
preamble before the ttrpc frames (one sendmsg(2) of ``FD_MAGIC`` + token
with SCM_RIGHTS). This listener accepts a connection, peeks at its first
bytes, takes the preamble and its FDs when there is one, and files the FDs
under the token for the handler (``FDStore.take``); the connection then
goes to the ttrpc server (``ttrpc.SyncServer.serve_listener``) as usual.
FDs never claimed are closed after ``STALE_AFTER`` seconds.
"""

from __future__ import annotations

import array
import logging
import os
import select
import socket
import threading
import time

from runtime.controlsock import FD_MAGIC, FD_TOKEN_LEN, MAX_FDS

log = logging.getLogger("pysandbox.boot")

PREAMBLE_LEN = len(FD_MAGIC) + FD_TOKEN_LEN
#: How long a new connection may take to send its first bytes.
FIRST_BYTES_TIMEOUT = 5.0
STALE_AFTER = 60.0


class FDStore:
    """FDs received in preambles, by token, until a handler takes them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fds: dict[str, tuple[float, list[int]]] = {}

    def put(self, token: str, fds: list[int]) -> None:
        now = time.monotonic()
        with self._lock:
            stale = [t for t, (at, _) in self._fds.items() if now - at > STALE_AFTER]
            old = [self._fds.pop(t)[1] for t in stale]
            previous = self._fds.pop(token, None)
            self._fds[token] = (now, fds)
        for group in [*old, *([previous[1]] if previous else [])]:
            _close_all(group)

    def take(self, token: str | None) -> list[int]:
        """The FDs sent under ``token`` (now the caller's to close); [] if none."""
        if not token:
            return []
        with self._lock:
            entry = self._fds.pop(token, None)
        return entry[1] if entry else []

    def close(self) -> None:
        with self._lock:
            groups = [fds for _, fds in self._fds.values()]
            self._fds.clear()
        for fds in groups:
            _close_all(fds)


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def _recv_preamble(sock: socket.socket) -> tuple[str, list[int]] | None:
    """Read a preamble if the connection starts with one (never blocks)."""
    try:
        head = sock.recv(len(FD_MAGIC), socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return None
    if head != FD_MAGIC:
        return None
    fds = array.array("i")
    data, ancdata, flags, _ = sock.recvmsg(
        PREAMBLE_LEN, socket.CMSG_SPACE(MAX_FDS * fds.itemsize), socket.MSG_DONTWAIT
    )
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    received = list(fds)
    if len(data) != PREAMBLE_LEN or flags & socket.MSG_CTRUNC:
        _close_all(received)
        raise OSError("malformed or truncated FD preamble")
    return data[len(FD_MAGIC) :].decode("ascii", "replace"), received


class FDListener:
    """A ``ttrpc.SyncListener`` that files preamble FDs.

    ``accept`` waits at most ``FIRST_BYTES_TIMEOUT`` for a new connection's
    first bytes (a client with a preamble sends it before anything else);
    a connection that sends nothing by then is served as a plain one.
    Connections are taken one at a time, so that wait holds up the next
    accept (and a shutdown) by as much, as it did under anyio.
    """

    def __init__(self, sock: socket.socket, store: FDStore) -> None:
        sock.setblocking(False)
        self._sock = sock
        self.store = store

    def fileno(self) -> int:
        return self._sock.fileno()

    def accept(self) -> socket.socket | None:
        """The next connection, preamble taken; None if none is pending or
        its preamble was malformed (then it is dropped)."""
        try:
            conn, _ = self._sock.accept()
        except BlockingIOError:
            return None
        conn.setblocking(True)
        try:
            poller = select.poll()
            poller.register(conn.fileno(), select.POLLIN)
            poller.poll(FIRST_BYTES_TIMEOUT * 1000)
            got = _recv_preamble(conn)
        except OSError as exc:
            log.warning("control connection dropped: %s", exc)
            conn.close()
            return None
        if got is not None:
            self.store.put(*got)
        return conn

    def close(self) -> None:
        self._sock.close()
        self.store.close()
