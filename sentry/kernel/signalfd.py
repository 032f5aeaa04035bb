"""signalfd objects (fs/signalfd.c, signalfd(2)).

A signalfd reads the *caller's* pending signals that are in its mask, as
``struct signalfd_siginfo`` records, instead of having them delivered; the
application normally blocks those signals so they stay pending. Like
Linux, readiness and reads look at the task that calls (``current``), and
the wait queue is the one of that task's signal handlers
(``SignalHandlers.signalfd_queue``, sighand->signalfd_wqh), which
``send_signal`` notifies for every queued signal.
"""

from __future__ import annotations

import struct
import threading
from typing import Any

from sentry.abi.errors import EINVAL
from sentry.kernel.eventfd import ANON_INODE_STAT
from sentry.kernel.signals import (
    SI_KERNEL,
    SI_TIMER,
    SIGBUS,
    SIGCHLD,
    SIGFPE,
    SIGILL,
    SIGSEGV,
    SIGTRAP,
    UNBLOCKABLE,
    SigInfo,
)
from sentry.kernel.waiter import WaitQueue, wait_for
from sentry.vfs.context import current_task
from sentry.vfs.file import FileDescription
from sentry.vfs.flags import O_NONBLOCK, O_RDWR
from sentry.vfs.inode import POLLIN, POLLRDNORM, FileImpl

#: si_code of SIGIO (include/uapi/asm-generic/siginfo.h).
SI_SIGIO = -5
SFD_CLOEXEC = 0o2000000
SFD_NONBLOCK = 0o4000
#: sizeof(struct signalfd_siginfo)
SIGNALFD_SIGINFO_SIZE = 128
# ssi_signo, errno, code, pid, uid, fd, tid, band, overrun, trapno, status,
# int, ptr, utime, stime, addr, addr_lsb, pad, syscall, call_addr, arch.
_SSI = struct.Struct("<IiiIIiIIIIiiQQQQHHiQI")
_FAULT_SIGNALS = frozenset({SIGILL, SIGFPE, SIGSEGV, SIGBUS, SIGTRAP})


def _field(info: SigInfo, fmt: str, offset: int) -> int:
    raw = info.fields.ljust(32, b"\0")
    return int(struct.unpack_from(fmt, raw, offset)[0])


def pack_siginfo(info: SigInfo) -> bytes:
    """``struct signalfd_siginfo`` from a siginfo, by its union layout
    (signalfd_copyinfo with kernel/signal.c siginfo_layout)."""
    pid = uid = fd = tid = band = overrun = status = value = utime = stime = addr = 0
    code = info.code
    if code == SI_KERNEL:
        pid, uid = _field(info, "<i", 0), _field(info, "<I", 4)
    elif code <= 0:
        if code == SI_TIMER:
            tid, overrun = _field(info, "<i", 0), _field(info, "<i", 4)
            value = _field(info, "<Q", 8)
        elif code == SI_SIGIO:
            band, fd = _field(info, "<q", 0), _field(info, "<i", 8)
        else:
            pid, uid = _field(info, "<i", 0), _field(info, "<I", 4)
            if code < 0:  # SIL_RT: si_value too
                value = _field(info, "<Q", 8)
    elif info.signo == SIGCHLD:
        pid, uid, status = _field(info, "<i", 0), _field(info, "<I", 4), _field(info, "<i", 8)
        utime, stime = _field(info, "<q", 16), _field(info, "<q", 24)
    elif info.signo in _FAULT_SIGNALS:
        addr = _field(info, "<Q", 0)
    else:
        pid, uid = _field(info, "<i", 0), _field(info, "<I", 4)
    ssi_int = value & 0xFFFFFFFF
    if ssi_int & 0x80000000:
        ssi_int -= 1 << 32
    return _SSI.pack(
        info.signo, info.errno, code, pid & 0xFFFFFFFF, uid, fd, tid & 0xFFFFFFFF,
        band & 0xFFFFFFFF, overrun & 0xFFFFFFFF, 0, status, ssi_int,
        value, utime & (2**64 - 1), stime & (2**64 - 1), addr, 0, 0, 0, 0, 0,
    ).ljust(SIGNALFD_SIGINFO_SIZE, b"\0")  # fmt: skip


class SignalFD(FileImpl):
    """The signal set a signalfd reads (``struct signalfd_ctx``)."""

    seekable = False

    def __init__(self, mask: int) -> None:
        self.lock = threading.Lock()
        self.mask = mask & ~UNBLOCKABLE

    def set_mask(self, mask: int) -> None:
        """signalfd(fd, ...) on an existing signalfd: replace the set and
        wake its waiters, who re-check against the new set."""
        with self.lock:
            self.mask = mask & ~UNBLOCKABLE
        task = current_task()
        if task is not None:
            task.sighand.signalfd_queue.notify(POLLIN | POLLRDNORM)

    @property
    def wait_queue(self) -> WaitQueue:
        """The calling task's sighand queue (Linux polls ``current``)."""
        task = current_task()
        if task is None:
            return _NO_TASK_QUEUE
        queue: WaitQueue = task.sighand.signalfd_queue
        return queue

    def _dequeue(self, task: Any) -> SigInfo | None:
        blocked = ~self.mask
        with task.kernel.tree_lock:
            info: SigInfo | None = task.pending.dequeue(blocked)
            if info is None:
                info = task.thread_group.shared_pending.dequeue(blocked)
            return info

    def read_stream(self, length: int, flags: int) -> bytes:
        """signalfd_read: as many records as fit, waiting for the first."""
        count = length // SIGNALFD_SIGINFO_SIZE
        if not count:
            raise EINVAL
        task = current_task()
        if task is None:
            raise EINVAL
        first = wait_for(
            lambda: self._dequeue(task),
            ((task.sighand.signalfd_queue, POLLIN | POLLRDNORM),),
            task,
            nonblock=bool(flags & O_NONBLOCK),
        )
        assert first is not None
        out = [pack_siginfo(first)]
        while len(out) < count:
            info = self._dequeue(task)
            if info is None:
                break
            out.append(pack_siginfo(info))
        return b"".join(out)

    def read(self, offset: int, length: int) -> bytes:
        return self.read_stream(length, 0)

    def readiness(self, mask: int) -> int:
        """signalfd_poll: readable while a signal of the set is pending for
        the calling task."""
        task = current_task()
        if task is None:
            return 0
        with task.kernel.tree_lock:
            pending = task.pending.mask | task.thread_group.shared_pending.mask
        return (POLLIN | POLLRDNORM) & mask if pending & self.mask else 0


_NO_TASK_QUEUE = WaitQueue()


def new_signalfd(mask: int, flags: int) -> FileDescription:
    """A signalfd description; ``flags`` may hold SFD_NONBLOCK."""
    return FileDescription(
        SignalFD(mask),
        O_RDWR | (flags & O_NONBLOCK),
        name="anon_inode:[signalfd]",
        stat=lambda: ANON_INODE_STAT,
    )
