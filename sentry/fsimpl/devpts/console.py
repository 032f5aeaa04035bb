"""A sandbox terminal whose master end is a host tty: a container's console.

With ``process.terminal`` the runtime makes a host pty, hands its master to
whoever drives the terminal (the console socket's owner, the shim, or the
``pysandbox run -t`` relay) and gives the sandbox the replica. Here that
replica becomes the master side of one of the container's own devpts
terminals (``/dev/pts/N`` of its /dev/pts): bytes the host sends are typed
into the Terminal, what the Terminal has for its master is written back.

Why the Sentry's line discipline and not the host's: the host's N_TTY would
turn ^C, ^\\ and ^Z into SIGINT, SIGQUIT and SIGTSTP for *host* process
groups (the sandbox process), and the host knows nothing of the sandbox's
sessions, process groups and foreground group. So the host pty is put in
raw mode (cfmakeraw(3): no ISIG, ICANON, ECHO, IEXTEN, OPOST and no input
translation) and carries bytes only; the devpts Terminal's line discipline
(``ldisc``) does signals for the sandbox's foreground group, line editing,
echo and output processing, once, and the application's termios ioctls
(TCGETS/TCSETS, TIOCSPGRP, TIOCSCTTY...) act on it as on any devpts pty.
gVisor's host TTY keeps the host's line discipline instead and forwards
the signals the sandbox process receives; that only works for one terminal
per sandbox process (the one it controls), not for every exec's.

The window size lives in the Terminal: the host pty's size is its initial
value (the runtime set it from ``process.consoleSize``), and :meth:`resize`
(the control API's ResizeTerminal, or :meth:`host_resized` after the host's
SIGWINCH) changes it, which sends SIGWINCH to the foreground group.

Two threads per console pump the bytes; both block with the GIL released
(poll, read, write, the Terminal's wait queue). The console ends when the
host side hangs up (its master closed: the sandbox's session gets SIGHUP,
as from a closed pty master) or when no sandbox process holds the terminal
any more and its output is written out; the host FD is closed then.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import select
import termios
import threading
import time
from typing import Any

from sentry.abi.errors import EIO
from sentry.fsimpl.devpts import termios as tio_abi
from sentry.fsimpl.devpts.fs import O_NOCTTY, DevptsFilesystem
from sentry.fsimpl.devpts.terminal import POLLHUP, POLLIN, Terminal
from sentry.hostsys.cpus import unpin_thread
from sentry.kernel.waiter import wait_for
from sentry.vfs import FSContext, VirtualDentry
from sentry.vfs.file import FileDescription
from sentry.vfs.flags import O_RDWR

log = logging.getLogger(__name__)

#: Largest chunk moved in one read or write.
CHUNK = 65536


class _SetupCreds:
    """The Sentry's own credentials while it opens the console (all capabilities)."""

    fsuid = 0
    fsgid = 0
    groups: tuple[int, ...] = ()

    def has_capability(self, cap: int) -> bool:
        return True


def make_raw(fd: int) -> None:
    """cfmakeraw(3) on a host tty: bytes pass unchanged both ways."""
    attrs = termios.tcgetattr(fd)
    attrs[0] &= ~(
        termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP
        | termios.INLCR | termios.IGNCR | termios.ICRNL | termios.IXON
    )  # fmt: skip
    attrs[1] &= ~termios.OPOST
    attrs[2] = (attrs[2] & ~(termios.CSIZE | termios.PARENB)) | termios.CS8
    attrs[3] &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
    attrs[6][termios.VMIN] = 1
    attrs[6][termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


def host_window_size(fd: int) -> tio_abi.WinSize:
    raw = fcntl.ioctl(fd, termios.TIOCGWINSZ, bytes(tio_abi.WINSIZE_SIZE))
    return tio_abi.WinSize.unpack(raw)


class HostConsole:
    """One container terminal driven through host tty ``host_fd`` (owned)."""

    def __init__(self, host_fd: int, terminal: Terminal, devpts: DevptsFilesystem) -> None:
        self.host_fd = host_fd
        self.terminal = terminal
        self._devpts = devpts
        make_raw(host_fd)
        self._host_size = host_window_size(host_fd)
        terminal.winsize = self._host_size
        terminal.locked = False
        terminal.open_end(master=True)  # the host side is the master's holder
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._lock = threading.Condition()
        self._writing = False
        self._closed = False
        self._pumps_left = 2
        self._input = threading.Thread(target=self._pump_input, name="console-in", daemon=True)
        self._output = threading.Thread(target=self._pump_output, name="console-out", daemon=True)

    # -- making one -----------------------------------------------------------------
    @classmethod
    def open(
        cls, host_fd: int, vfs: Any, root: VirtualDentry, owner: tuple[int, int]
    ) -> tuple[HostConsole, FileDescription]:
        """A new terminal in the devpts mounted at ``root``'s /dev/pts, driven
        by ``host_fd``; returns it with an open replica (O_RDWR|O_NOCTTY),
        whose owner is ``owner`` (uid, gid), as runc chowns the console."""
        creds = _SetupCreds()
        ctx = FSContext(root, root)
        pts = vfs.resolve(ctx, b"/dev/pts", creds)
        devpts = pts.mount.fs
        if not isinstance(devpts, DevptsFilesystem):
            raise RuntimeError("process.terminal needs the Sentry's devpts on /dev/pts")
        term = devpts.allocate()
        term.owner = owner
        try:
            console = cls(host_fd, term, devpts)
            path = b"/dev/pts/%d" % term.index
            replica = vfs.open_path(ctx, path, O_RDWR | O_NOCTTY, 0, creds)
        except BaseException:
            term.close_end(master=True)
            devpts.forget(term)
            raise
        console.start()
        return console, replica

    def start(self) -> None:
        self._input.start()
        self._output.start()

    # -- window size --------------------------------------------------------------------
    def resize(self, rows: int, cols: int) -> bool:
        """A new window size from the host side; SIGWINCH if it changed.
        The host pty gets it too, so both ends agree."""
        size = tio_abi.WinSize(rows, cols, 0, 0)
        try:
            fcntl.ioctl(self.host_fd, termios.TIOCSWINSZ, size.pack())
            self._host_size = size
        except OSError as exc:
            log.debug("console: TIOCSWINSZ on the host tty: %s", exc)
        return self.terminal.set_winsize(size)

    def host_resized(self) -> bool:
        """The host tty may have a new size (the sandbox process got SIGWINCH):
        apply it if it differs from the last one seen there."""
        try:
            size = host_window_size(self.host_fd)
        except OSError:
            return False
        if size == self._host_size:
            return False
        self._host_size = size
        return self.terminal.set_winsize(size)

    # -- pumping ----------------------------------------------------------------------------
    def _pump_input(self) -> None:
        """Host → Terminal: what is typed goes through the line discipline."""
        unpin_thread()  # a tracer may have started this thread: drop its CPU pin
        try:
            self._input_loop()
        finally:
            self._pump_done()

    def _input_loop(self) -> None:
        poller = select.poll()
        poller.register(self.host_fd, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        while True:
            try:
                events = dict(poller.poll())
            except InterruptedError:
                continue
            if self._wake_r in events:
                return
            try:
                data = os.read(self.host_fd, CHUNK)
            except BlockingIOError:
                continue
            except OSError as exc:
                if exc.errno != errno.EIO:
                    log.warning("console: read from the host tty: %s", exc)
                data = b""
            if not data:
                # EIO: the host master is closed everywhere (pty(7)): hang up.
                self.close()
                return
            self.terminal.master_write(data)

    def _pump_output(self) -> None:
        """Terminal → host: echoes and processed output, until no sandbox
        process holds the terminal and all of it is written."""
        unpin_thread()  # a tracer may have started this thread: drop its CPU pin
        term = self.terminal

        def take() -> bytes | None:
            with term.cond:
                lq = term.ldisc
                if lq.to_master:
                    out = bytes(lq.to_master[:CHUNK])
                    del lq.to_master[:CHUNK]
                    with self._lock:
                        self._writing = True
                    return out
                if term.replicas_gone or term.hung_up:
                    raise EIO
                return None

        try:
            while True:
                try:
                    data = wait_for(take, [(term.queue, POLLIN | POLLHUP)], None)
                except EIO:
                    return
                assert data is not None
                term._changed()  # room for blocked replica writers
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(self.host_fd, view) :]
                except OSError as exc:
                    if exc.errno != errno.EIO:
                        log.warning("console: write to the host tty: %s", exc)
                    return
                finally:
                    with self._lock:
                        self._writing = False
                        self._lock.notify_all()
        finally:
            with self._lock:
                self._writing = False
                self._lock.notify_all()
            self.close()
            self._pump_done()

    def drain(self, timeout: float) -> bool:
        """Wait until what the sandbox wrote reached the host tty (before the
        sandbox process exits); False if ``timeout`` seconds passed first."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._output.is_alive() and (self._writing or self.terminal.ldisc.to_master):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(min(left, 0.05))
        return True

    def close(self) -> None:
        """Hang the terminal up from the host side and stop both pumps;
        idempotent. The session on it gets SIGHUP (pty_close); the host FD
        is closed by the last pump to stop, so no read or write of one
        thread can hit a reused descriptor number."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._lock.notify_all()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        self.terminal.close_end(master=True)
        self._devpts.forget(self.terminal)

    def _pump_done(self) -> None:
        with self._lock:
            self._pumps_left -= 1
            last = self._pumps_left == 0
        if last:
            for fd in (self.host_fd, self._wake_r, self._wake_w):
                try:
                    os.close(fd)
                except OSError:
                    pass


__all__ = ["HostConsole", "host_window_size", "make_raw"]
