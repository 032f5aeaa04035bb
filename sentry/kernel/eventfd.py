"""eventfd objects (fs/eventfd.c): a 64-bit counter that read drains and
write adds to, with a wait queue so read, write, poll and select block and
wake like Linux's (eventfd(2))."""

from __future__ import annotations

import itertools
import struct
import threading

from sentry.abi.errors import EINVAL
from sentry.kernel.waiter import WaitQueue, wait_for
from sentry.vfs.context import current_task
from sentry.vfs.file import FileDescription
from sentry.vfs.flags import O_NONBLOCK, O_RDWR
from sentry.vfs.inode import POLLERR, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM, FileImpl
from sentry.vfs.stat import Stat

EFD_SEMAPHORE = 1
#: The counter never holds more than this (ULLONG_MAX is the error value).
EVENTFD_MAX = (1 << 64) - 2
_U64 = struct.Struct("<Q")
#: fs/anon_inodes.c: every anonymous-inode file shares one inode.
ANON_INODE_STAT = Stat(dev=0, ino=1, mode=0o600, blksize=4096)
_ids = itertools.count(1)


class EventFD(FileImpl):
    """The counter and its waiters (``struct eventfd_ctx``)."""

    seekable = False

    def __init__(self, initval: int, semaphore: bool) -> None:
        self.lock = threading.Lock()
        self.wait_queue = WaitQueue()
        self.count = initval
        self.semaphore = semaphore
        self.id = next(_ids)

    def read_stream(self, length: int, flags: int) -> bytes:
        """eventfd_read: the whole counter (or 1 in semaphore mode); blocks at 0."""
        if length < _U64.size:
            raise EINVAL

        def attempt() -> int | None:
            with self.lock:
                if self.count == 0:
                    return None
                value = 1 if self.semaphore else self.count
                self.count -= value
            self.wait_queue.notify(POLLOUT | POLLWRNORM)
            return value

        value = wait_for(
            attempt,
            ((self.wait_queue, POLLIN | POLLRDNORM),),
            current_task(),
            nonblock=bool(flags & O_NONBLOCK),
        )
        assert value is not None
        return _U64.pack(value)

    def write_stream(self, data: bytes, flags: int) -> int:
        """eventfd_write: add the value; blocks while it would overflow."""
        if len(data) < _U64.size:
            raise EINVAL
        (value,) = _U64.unpack_from(data)
        if value == (1 << 64) - 1:
            raise EINVAL

        def attempt() -> int | None:
            with self.lock:
                if EVENTFD_MAX - self.count < value:
                    return None
                self.count += value
            if value:
                self.wait_queue.notify(POLLIN | POLLRDNORM)
            return _U64.size

        written = wait_for(
            attempt,
            ((self.wait_queue, POLLOUT | POLLWRNORM),),
            current_task(),
            nonblock=bool(flags & O_NONBLOCK),
        )
        assert written is not None
        return written

    def read(self, offset: int, length: int) -> bytes:
        return self.read_stream(length, 0)

    def write(self, offset: int, data: bytes) -> int:
        return self.write_stream(data, 0)

    def readiness(self, mask: int) -> int:
        """fs/eventfd.c eventfd_poll."""
        with self.lock:
            count = self.count
        ready = 0
        if count > 0:
            ready |= POLLIN | POLLRDNORM
        if count == (1 << 64) - 1:
            ready |= POLLERR
        if count < EVENTFD_MAX:
            ready |= POLLOUT | POLLWRNORM
        return ready & (mask | POLLERR)


def new_eventfd(initval: int, flags: int) -> FileDescription:
    """An eventfd description; ``flags`` may hold O_NONBLOCK and EFD_SEMAPHORE."""
    impl = EventFD(initval, bool(flags & EFD_SEMAPHORE))
    return FileDescription(
        impl,
        O_RDWR | (flags & O_NONBLOCK),
        name="anon_inode:[eventfd]",
        stat=lambda: ANON_INODE_STAT,
    )
