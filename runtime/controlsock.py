"""The sandbox's control socket: a filesystem AF_UNIX socket, never abstract.

Seed ``createControlSocket``: the parent binds and listens on
``pysandbox-<id>.sock``, trying the state root, then /var/run, /run and
/tmp, and donates the listening FD to the sandbox. Abstract sockets are not
used because any user could connect to them: a file's permissions protect
this one. sun_path holds at most 107 bytes (unix(7)); for a longer path
the client connects through an O_PATH FD of the socket file, as the seed's
``sandboxConnect`` does (``/proc/self/fd/N`` is short).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket

from runtime.errors import RuntimeFailure

# The FD preamble (``runtime.controlclient`` sends it, boot's FD listener
# files it): ttrpc has no FD passing, so FDs travel before the frames, as
# ``FD_MAGIC`` and a ``FD_TOKEN_LEN``-byte token in one sendmsg(2) carrying
# them as SCM_RIGHTS (unix(7)); the request names the token in its
# ``FD_TOKEN_KEY`` metadata and the FDs by their index in that list.
# ``FD_MAGIC`` read as a ttrpc frame length is over 1 GB, far above any
# frame, so the server tells a preamble from a plain ttrpc client by peeking.
FD_MAGIC = b"PSFD"
FD_TOKEN_LEN = 16
FD_TOKEN_KEY = "pysandbox-fd-token"
#: At most this many FDs in one preamble (stdio plus a few mounts).
MAX_FDS = 64

log = logging.getLogger("pysandbox.control")

FALLBACK_DIRS = ("/var/run", "/run", "/tmp")
UNIX_PATH_MAX = 108


def socket_name(sandbox_id: str) -> str:
    return f"pysandbox-{sandbox_id}.sock"


def _bind(sock: socket.socket, path: str) -> None:
    if len(os.fsencode(path)) < UNIX_PATH_MAX:
        sock.bind(path)
        return
    # Too long for sun_path: bind relative to an O_PATH FD of the directory.
    dfd = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        sock.bind(f"/proc/self/fd/{dfd}/{os.path.basename(path)}")
    finally:
        os.close(dfd)


def create(root: str, sandbox_id: str) -> tuple[str, socket.socket]:
    """Bind and listen; returns (path, listening socket) for donation."""
    name = socket_name(sandbox_id)
    for directory in (root, *FALLBACK_DIRS):
        path = os.path.join(os.path.abspath(directory), name)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            _bind(sock, path)
            os.chmod(path, 0o600)
            sock.listen(16)
        except OSError as exc:
            sock.close()
            log.debug("cannot create control socket %s: %s", path, exc)
            continue
        return path, sock
    raise RuntimeFailure("unable to find a location to write the control socket file")


def connect(path: str) -> socket.socket:
    """Connect to a sandbox's control socket, however long its path."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        if len(os.fsencode(path)) < UNIX_PATH_MAX:
            sock.connect(path)
        else:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                sock.connect(f"/proc/self/fd/{fd}")
            finally:
                os.close(fd)
    except OSError as exc:
        sock.close()
        raise RuntimeFailure(
            f"cannot connect to sandbox control socket {path}: {exc.strerror}"
        ) from None
    return sock


def remove(path: str) -> None:
    """Remove the socket file (destroy); a missing file is fine."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
