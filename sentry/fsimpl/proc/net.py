"""/proc/PID/net: the sandbox's network namespace, as its tasks may see it.

Most files are the host namespace's own (``sentry.inet``: the boot process
lives in the sandbox's namespace). Two kinds need the Sentry's sockets:

- raw, tcp, udp (and their IPv6 twins): the host's rows, kept only for the host sockets
  the sandbox's tasks hold (hostinet), with each row's inode replaced by
  the Sentry socket's, the one fstat(2) and /proc/PID/fd show;
- unix: AF_UNIX lives in the Sentry, so its rows are made here, in the
  format of net/unix/af_unix.c ``unix_seq_show``.

Sockets are found through the tasks' FD tables (a socket only in flight
in an SCM_RIGHTS message is not listed).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from sentry.inet import SOCKET_TABLES, Stack, filter_socket_table
from sentry.socket.hostinet import HostSocket
from sentry.socket.socket import SocketImpl
from sentry.socket.unix.endpoint import UnixSocket

UNIX_HEADER = b"Num       RefCount Protocol Flags    Type St Inode Path\n"
# include/linux/net.h: __SO_ACCEPTCON (a listening socket) and socket_state.
SO_ACCEPTCON = 1 << 16
SS_UNCONNECTED = 1
SS_CONNECTED = 3


def sandbox_sockets(kernel: Any) -> Iterator[SocketImpl]:
    """Every socket an FD of a sandbox task refers to, once each."""
    seen: set[int] = set()
    for t in list(kernel.tasks.values()):
        table = getattr(t, "fd_table", None)
        for _fd, desc in list(table) if table is not None else []:
            impl = getattr(desc, "impl", None)
            if isinstance(impl, SocketImpl) and id(impl) not in seen:
                seen.add(id(impl))
                yield impl


def host_inodes(sockets: list[SocketImpl]) -> dict[int, int]:
    """Host socket inode -> the Sentry socket's inode, for hostinet sockets."""
    out = {}
    for s in sockets:
        if isinstance(s, HostSocket):
            try:
                out[os.fstat(s.fd).st_ino] = s.ino
            except OSError:
                continue  # closed under us
    return out


def unix_row(s: UnixSocket) -> bytes:
    """One line of /proc/net/unix (the kernel pointer hidden, as with
    kptr_restrict; the reference count is not tracked: 2)."""
    established = s.connected or (s.peer is not None and not s.released)
    row = b"0000000000000000: %08X %08X %08X %04X %02X %5d" % (
        2,
        0,
        SO_ACCEPTCON if s.listening else 0,
        s.type,
        SS_CONNECTED if established else SS_UNCONNECTED,
        s.ino,
    )
    if s.addr is not None:
        if s.addr.abstract:
            row += b" @" + s.addr.name.replace(b"\0", b"@")
        else:
            row += b" " + s.addr.name
    return row + b"\n"


def render(net: Stack, kernel: Any, name: str) -> bytes:
    """The content of /proc/net/``name``."""
    if name == "unix":
        rows = [unix_row(s) for s in sandbox_sockets(kernel) if isinstance(s, UnixSocket)]
        return UNIX_HEADER + b"".join(rows)
    text = net.proc_net(name)
    if name in SOCKET_TABLES:
        text = filter_socket_table(text, host_inodes(list(sandbox_sockets(kernel))))
    return text


def names(net: Stack) -> list[str]:
    """The files of /proc/PID/net."""
    return sorted({*net.proc_net_names(), "unix"})
