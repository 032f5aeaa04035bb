"""Driving a command through a REAL host pseudo-terminal (python's ``pty``),
as a person at a terminal would: the tests of ``pysandbox run -t``,
``exec -t`` and ``ctr run -t``.

The command runs as the session leader of a new pty (``pty.fork``), so the
pty is its controlling terminal and a resize of the test's master side
reaches it as SIGWINCH. Every wait is on output appearing (``expect``) or
the process exiting, with a deadline only as a failure guard.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import termios
import time
from collections.abc import Mapping

#: How long to wait for an expected piece of output.
TIMEOUT = 60.0


class PtyDriver:
    """The test's side (master) of a pty whose replica runs ``argv``."""

    def __init__(
        self,
        argv: list[str],
        *,
        rows: int = 24,
        cols: int = 80,
        env: Mapping[str, str] | None = None,
        cwd: str = "/",
    ) -> None:
        environ = dict(os.environ if env is None else env)
        # busybox stty prefers $LINES/$COLUMNS (pytest sets them) to the ioctl.
        environ.pop("LINES", None)
        environ.pop("COLUMNS", None)
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: a session leader on the pty's replica
            try:
                # Sized before the command starts: a resize later would be
                # a SIGWINCH the test did not ask for.
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
                os.chdir(cwd)
                os.execve(argv[0], argv, environ)
            finally:
                os._exit(127)
        self.seen = b""
        self.status: int | None = None

    def resize(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def expect(self, marker: bytes, timeout: float = TIMEOUT) -> bytes:
        """Read until ``marker`` appears; returns everything read before it
        (and consumes both)."""
        end = time.monotonic() + timeout
        while marker not in self.seen:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {marker!r}; got {self.seen!r}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:  # EIO: the command closed the terminal
                chunk = b""
            if not chunk:
                raise AssertionError(f"terminal closed waiting for {marker!r}; got {self.seen!r}")
            self.seen += chunk
        before, _, self.seen = self.seen.partition(marker)
        return before

    def wait(self, timeout: float = TIMEOUT) -> int:
        """The command's exit status (reading the pty meanwhile, so it never
        blocks on a full terminal)."""
        end = time.monotonic() + timeout
        while self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > end:
                raise AssertionError(f"the command did not exit; output {self.seen!r}")
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    self.seen += os.read(self.fd, 4096)
                except OSError:
                    pass
        return self.status

    def close(self) -> None:
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.status = -9
        os.close(self.fd)
