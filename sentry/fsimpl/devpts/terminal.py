"""One pseudo-terminal pair: the line discipline, its two queues, window
size, the lock flag of unlockpt(3), job-control state, and the blocking
(drivers/tty/pty.c, n_tty.c).

Both ends are FileImpls of the same :class:`Terminal`. Every change of state
notifies the terminal's wait queue (``sentry.kernel.waiter``), on which
blocked reads and writes and poll/select sleep; a blocked read or write gives
up with ERESTARTSYS when its task is interrupted (a signal or a kill), so the
dispatcher restarts it or fails it with EINTR per SA_RESTART.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from sentry.abi.errors import EINVAL, EIO, ENOTTY
from sentry.fsimpl.devpts import termios as tio_abi
from sentry.fsimpl.devpts.ldisc import LineDiscipline
from sentry.kernel.sessions import SIGWINCH, JobControl
from sentry.kernel.waiter import WaitQueue, wait_for
from sentry.vfs.context import current_task

#: Output the master has not read yet beyond which a replica write blocks
#: (Linux's tty buffer is about this size per pty).
OUTPUT_MAX = 64 * 1024

POLLIN = 0x1
POLLOUT = 0x4
POLLERR = 0x8
POLLHUP = 0x10
POLLRDNORM = 0x40
POLLWRNORM = 0x100


class Terminal:
    """The shared state of ``/dev/pts/<index>`` and its master."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.ldisc = LineDiscipline()
        self.winsize = tio_abi.WinSize()
        self.locked = True  # TIOCSPTLCK: a new pty is locked until unlockpt()
        self.job = JobControl(f"pts/{index}", os.makedev(136, index))  # UNIX98_PTY_SLAVE_MAJOR
        self.job.terminal = self
        self.cond = threading.Lock()
        #: sleepers of both ends (reads, writes, poll): woken on every change
        self.queue = WaitQueue()
        self.master_open = 0
        self.replica_open = 0
        self._replica_was_open = False
        self.owner = (0, 0)

    # -- open and close -----------------------------------------------------------
    def open_end(self, master: bool) -> None:
        with self.cond:
            if master:
                self.master_open += 1
            else:
                self.replica_open += 1
                self._replica_was_open = True
        self._changed()

    def close_end(self, master: bool) -> None:
        with self.cond:
            if master:
                self.master_open -= 1
            else:
                self.replica_open -= 1
        self._changed()
        if master and self.master_open == 0:
            # pty_close: the master going away hangs the replica up.
            self.job.hangup_session()

    @property
    def hung_up(self) -> bool:
        return self.master_open == 0

    @property
    def replicas_gone(self) -> bool:
        """Every replica that was opened is closed again: the master reads EIO."""
        return self._replica_was_open and self.replica_open == 0

    # -- waiting -----------------------------------------------------------------------
    def _changed(self) -> None:
        """Wake every sleeper; each re-checks its own condition."""
        self.queue.notify(POLLIN | POLLOUT | POLLHUP | POLLERR | POLLRDNORM | POLLWRNORM)

    # -- the master ------------------------------------------------------------------------
    def master_read(self, n: int, nonblock: bool) -> bytes:
        """pty master read: processed output and echoes; EIO once every
        replica that was opened is closed and nothing is left (pty_close)."""

        def attempt() -> bytes | None:
            with self.cond:
                lq = self.ldisc
                if lq.to_master:
                    out = bytes(lq.to_master[:n])
                    del lq.to_master[:n]
                    return out
                if self.replicas_gone:
                    raise EIO
                return None

        out = wait_for(attempt, [(self.queue, POLLIN | POLLHUP)], current_task(),
                       nonblock=nonblock)  # fmt: skip
        assert out is not None
        self._changed()  # room for blocked replica writers
        return out

    def master_write(self, data: bytes) -> int:
        """Typing: the line discipline runs, then its signals go to the foreground group."""
        with self.cond:
            signals = self.ldisc.receive(data)
        self._changed()
        for sig in signals:
            self.job.signal_foreground(sig)
        return len(data)

    # -- the replica ----------------------------------------------------------------------
    def replica_read(self, n: int, nonblock: bool) -> bytes:
        task = current_task()
        if task is not None:
            self.job.check_read(task)

        def attempt() -> bytes | None:
            with self.cond:
                data = self.ldisc.read(n)
                if data is None and self.hung_up:
                    return b""  # hung up: end of file
                return data

        out = wait_for(attempt, [(self.queue, POLLIN | POLLHUP)], task, nonblock=nonblock)
        assert out is not None
        return out

    def replica_write(self, data: bytes, nonblock: bool) -> int:
        task = current_task()
        if task is not None and self.ldisc.termios.lflag & tio_abi.TOSTOP:
            self.job.check_change(task)

        def attempt() -> int | None:
            with self.cond:
                if self.hung_up:
                    raise EIO
                if len(self.ldisc.to_master) >= OUTPUT_MAX:
                    return None
                return self.ldisc.output(data)

        n = wait_for(attempt, [(self.queue, POLLOUT | POLLHUP)], task, nonblock=nonblock)
        assert n is not None
        self._changed()
        return n

    # -- readiness -----------------------------------------------------------------------
    def readiness(self, master: bool, mask: int) -> int:
        with self.cond:
            ev = 0
            if master:
                if self.ldisc.to_master:
                    ev |= POLLIN | POLLRDNORM
                ev |= POLLOUT | POLLWRNORM
                if self._replica_was_open and self.replica_open == 0:
                    ev |= POLLHUP
            else:
                if self.ldisc.readable():
                    ev |= POLLIN | POLLRDNORM
                if len(self.ldisc.to_master) < OUTPUT_MAX:
                    ev |= POLLOUT | POLLWRNORM
                if self.hung_up:
                    ev |= POLLHUP | POLLIN
            return ev & (mask | POLLERR | POLLHUP)

    def set_winsize(self, new: tio_abi.WinSize) -> bool:
        """tty_do_resize: a new size makes SIGWINCH for the foreground
        group; the same size again changes nothing. Whether it changed."""
        if new == self.winsize:
            return False
        self.winsize = new
        self.job.signal_foreground(SIGWINCH)
        return True

    # -- ioctl ----------------------------------------------------------------------------
    def ioctl(self, request: int, arg: int, io: Any, *, master: bool) -> int:
        """The tty ioctls of drivers/tty/tty_io.c, tty_ioctl.c and pty.c."""
        task = current_task()
        if request == tio_abi.TCGETS:
            io.copy_out(arg, self.ldisc.termios.pack())
            return 0
        if request in (tio_abi.TCSETS, tio_abi.TCSETSW, tio_abi.TCSETSF):
            new = tio_abi.Termios.unpack(io.copy_in(arg, tio_abi.TERMIOS_SIZE))
            if task is not None and not master:
                self.job.check_change(task)
            with self.cond:
                if request == tio_abi.TCSETSF:
                    self.ldisc.flush_input()
                self.ldisc.set_termios(new)
            self._changed()
            return 0
        if request == tio_abi.TIOCGWINSZ:
            io.copy_out(arg, self.winsize.pack())
            return 0
        if request == tio_abi.TIOCSWINSZ:
            self.set_winsize(tio_abi.WinSize.unpack(io.copy_in(arg, tio_abi.WINSIZE_SIZE)))
            return 0
        if request == tio_abi.TIOCOUTQ:
            with self.cond:
                out = 0 if master else len(self.ldisc.to_master)
            io.copy_out(arg, out.to_bytes(4, "little"))
            return 0
        if request == tio_abi.TCFLSH:
            with self.cond:
                if arg not in (0, 1, 2):
                    raise EINVAL
                if arg in (0, 2):
                    self.ldisc.flush_input()
                if arg in (1, 2):
                    self.ldisc.flush_output()
            self._changed()
            return 0
        if request in (tio_abi.TCSBRK, tio_abi.TCXONC):
            return 0
        if request == tio_abi.TIOCGETD:
            io.copy_out(arg, (0).to_bytes(4, "little"))  # N_TTY
            return 0
        if request == tio_abi.TIOCSETD:
            if int.from_bytes(io.copy_in(arg, 4), "little") != 0:
                raise EINVAL
            return 0
        if master:
            if request == tio_abi.TIOCGPTN:
                io.copy_out(arg, self.index.to_bytes(4, "little"))
                return 0
            if request == tio_abi.TIOCSPTLCK:
                self.locked = int.from_bytes(io.copy_in(arg, 4), "little") != 0
                return 0
            if request == tio_abi.TIOCGPTLCK:
                io.copy_out(arg, int(self.locked).to_bytes(4, "little"))
                return 0
        if task is None:
            raise ENOTTY
        return self._session_ioctl(task, request, arg, io, master=master)

    def _session_ioctl(self, task: Any, request: int, arg: int, io: Any, *, master: bool) -> int:
        job = self.job
        if request == tio_abi.TIOCSCTTY:
            job.tiocsctty(task, arg)
            return 0
        if request == tio_abi.TIOCNOTTY:
            job.tiocnotty(task)
            return 0
        if request == tio_abi.TIOCGPGRP:
            io.copy_out(arg, job.tiocgpgrp(task, master=master).to_bytes(4, "little"))
            return 0
        if request == tio_abi.TIOCSPGRP:
            pgid = int.from_bytes(io.copy_in(arg, 4), "little", signed=True)
            job.tiocspgrp(task, pgid, master=master)
            return 0
        if request == tio_abi.TIOCGSID:
            io.copy_out(arg, job.tiocgsid(task, master=master).to_bytes(4, "little"))
            return 0
        raise ENOTTY
