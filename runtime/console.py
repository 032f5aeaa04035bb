"""``--console-socket``: hand the pty master to whoever asked for a terminal.

OCI (runtime.md, "console socket" in runc's docs/terminals.md): when
``process.terminal`` is true, the runtime creates a pseudo-terminal, sends
the master over the AF_UNIX socket named by ``--console-socket`` with
SCM_RIGHTS, and gives the replica to the container as its controlling
terminal and stdio. The seed does the same (``console.NewWithSocket``). The
message carries the pty's name, as runc sends it, which go-runc ignores
and other clients may log. ``process.consoleSize`` sets the window size
(tty_ioctl(4), TIOCSWINSZ) before the container sees it.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
import termios

from runtime.errors import RuntimeFailure
from runtime.spec import ConsoleSize


def set_window_size(fd: int, size: ConsoleSize) -> None:
    """TIOCSWINSZ: rows, columns (struct winsize, pixels left 0)."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", size.height, size.width, 0, 0))


def get_window_size(fd: int) -> ConsoleSize:
    rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    return ConsoleSize(rows, cols)


def open_pty(size: ConsoleSize | None = None) -> tuple[int, int]:
    """A new host pty (master, replica), both close-on-exec, sized ``size``.

    For callers that keep the master themselves (``pysandbox run`` and
    ``exec`` relaying their own terminal) and donate the replica."""
    master, replica = os.openpty()
    os.set_inheritable(master, False)
    os.set_inheritable(replica, False)
    if size is not None:
        try:
            set_window_size(master, size)
        except OSError:
            os.close(master)
            os.close(replica)
            raise
    return master, replica


def new_with_socket(console_socket: str, size: ConsoleSize | None = None) -> int:
    """Create a pty, send its master to ``console_socket``; returns the replica FD.

    Our copy of the master is closed once sent: only the receiver holds it.
    """
    master, replica = os.openpty()
    try:
        os.set_inheritable(replica, False)
        if size is not None:
            set_window_size(master, size)
        name = os.ttyname(replica)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.connect(console_socket)
                socket.send_fds(sock, [name.encode()], [master])
        except OSError as exc:
            raise RuntimeFailure(
                f"cannot send the console to {console_socket}: {exc.strerror or exc}"
            ) from None
    except BaseException:
        os.close(replica)
        raise
    finally:
        os.close(master)
    return replica
