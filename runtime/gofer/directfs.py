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
``server.Wait()``), then exits. It serves from ``stub/gofer_serve.c``:
once the Python gofer has built the root, dropped its capabilities,
chrooted and installed its seccomp filter, it execs that program (through
an FD opened before the chroot), which narrows the filter further to the
dozen calls serving needs.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any, NoReturn

from runtime.errors import RuntimeFailure

MAX_REQUEST = 4096


class Connection:
    """One served mount: its socket and the path it serves (in the chroot).

    (A plain class: defining a dataclass costs every sandbox start ~0.5 ms.)"""

    sock: socket.socket
    mount_path: str
    readonly: bool

    def __init__(self, sock: socket.socket, mount_path: str, readonly: bool) -> None:
        self.sock = sock
        self.mount_path = mount_path
        self.readonly = readonly


#: The serving loop, a small static program (``stub/gofer_serve.c``, built
#: by setup.py): serving is a few system calls per request, and a Python
#: interpreter kept asleep for the sandbox's whole life costs it 6-12 MiB.
SERVER = os.path.join(os.path.dirname(__file__), "stub", "gofer_serve")


def open_server() -> int:
    """An O_PATH FD of the serving program, taken before the gofer chroots."""
    try:
        return os.open(SERVER, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        raise RuntimeFailure(
            f"gofer: {SERVER} is missing (rebuild: pip install -e . or setup.py build_ext)"
        ) from None


def server_args(conns: list[Connection]) -> list[str]:
    """``FD:R:PATH`` per connection, as gofer_serve.c parses them."""
    return [f"{c.sock.fileno()}:{int(c.readonly)}:{c.mount_path}" for c in conns]


def exec_server(server_fd: int, conns: list[Connection]) -> NoReturn:
    """Become the serving loop: the connections stay open across the exec
    (everything else is close-on-exec); it answers until all are closed."""
    args = ["gofer_serve", *server_args(conns)]
    for c in conns:
        os.set_inheritable(c.sock.fileno(), True)
    os.execve(server_fd, args, {})


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
