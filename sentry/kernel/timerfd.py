"""timerfd objects (fs/timerfd.c, timerfd_create(2)).

A timerfd is a timer whose expiries are counted in the file instead of
being signalled: read returns the count (and resets it), poll reports
POLLIN while it is non-zero. The timer runs on the kernel's
``TimerService`` (sentry.kernel.timers), so deadlines live on the host's
CLOCK_MONOTONIC: a CLOCK_REALTIME (or absolute) expiry is converted when
armed, and a later change of the wall clock does not move it. The sandbox
cannot set the clock, so TFD_TIMER_CANCEL_ON_SET is accepted and never
cancels (read never fails with ECANCELED).
"""

from __future__ import annotations

import struct
import threading
import time
from typing import Any

from sentry.abi.errors import EINVAL
from sentry.kernel.clocks import CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_REALTIME, now_ns
from sentry.kernel.eventfd import ANON_INODE_STAT
from sentry.kernel.timers import Timer, timer_service
from sentry.kernel.waiter import WaitQueue, wait_for
from sentry.vfs.context import current_task
from sentry.vfs.file import FileDescription
from sentry.vfs.flags import O_NONBLOCK, O_RDWR
from sentry.vfs.inode import POLLIN, POLLRDNORM, FileImpl

TFD_TIMER_ABSTIME = 1
TFD_TIMER_CANCEL_ON_SET = 2
TFD_SETTIME_FLAGS = TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET
#: Clocks a timerfd may use without CAP_WAKE_ALARM.
TIMERFD_CLOCKS = frozenset({CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME})
_U64 = struct.Struct("<Q")


class TimerFD(FileImpl):
    """The timer, its expiry count and its waiters (``struct timerfd_ctx``)."""

    seekable = False

    def __init__(self, kernel: Any, clock: int) -> None:
        self.lock = threading.Lock()
        self.wait_queue = WaitQueue()
        self.clock = clock
        self.ticks = 0
        self._service = timer_service(kernel)
        self._timer = Timer(self._service, self._fired)

    def _fired(self, timer: Timer) -> None:
        """On the timer thread: count the expiry (and the periods missed)."""
        with self.lock:
            if timer is not self._timer:
                return  # re-armed since this expiry was taken off the heap
            self.ticks += timer.overrun + 1 if timer.interval_ns else 1
        self.wait_queue.notify(POLLIN | POLLRDNORM)

    def gettime(self) -> tuple[int, int]:
        """(time to the next expiry, interval) in ns; (0, 0) when disarmed."""
        timer = self._timer
        deadline = timer.deadline_ns
        if not deadline:
            return 0, timer.interval_ns
        return max(0, deadline - time.monotonic_ns()), timer.interval_ns

    def settime(self, flags: int, value_ns: int, interval_ns: int) -> tuple[int, int]:
        """Arm (``value_ns`` relative, or on the file's clock with
        TFD_TIMER_ABSTIME) or disarm (0); returns the old setting. The
        expiry count starts again from zero (timerfd_setup)."""
        with self.lock:
            old = self.gettime()
            self._timer.arm(0, 0)
            self._timer = Timer(self._service, self._fired)
            self.ticks = 0
            if value_ns:
                if flags & TFD_TIMER_ABSTIME:
                    deadline = time.monotonic_ns() + (value_ns - now_ns(self.clock))
                else:
                    deadline = time.monotonic_ns() + value_ns
                # An absolute time already past expires at once; 0 would disarm.
                self._timer.arm(max(deadline, 1), interval_ns)
        return old

    def read_stream(self, length: int, flags: int) -> bytes:
        """timerfd_read: the expiry count as a u64, then zero; blocks at 0."""
        if length < _U64.size:
            raise EINVAL

        def attempt() -> int | None:
            with self.lock:
                ticks, self.ticks = self.ticks, 0
            return ticks or None

        ticks = wait_for(
            attempt,
            ((self.wait_queue, POLLIN | POLLRDNORM),),
            current_task(),
            nonblock=bool(flags & O_NONBLOCK),
        )
        assert ticks is not None
        return _U64.pack(ticks)

    def write_stream(self, data: bytes, flags: int) -> int:
        raise EINVAL  # fs/timerfd.c has no write

    def read(self, offset: int, length: int) -> bytes:
        return self.read_stream(length, 0)

    def readiness(self, mask: int) -> int:
        """timerfd_poll."""
        with self.lock:
            ready = POLLIN | POLLRDNORM if self.ticks else 0
        return ready & mask

    def release(self) -> None:
        with self.lock:
            self._timer.arm(0, 0)


def new_timerfd(kernel: Any, clock: int, flags: int) -> FileDescription:
    """A timerfd description; ``flags`` may hold O_NONBLOCK."""
    return FileDescription(
        TimerFD(kernel, clock),
        O_RDWR | (flags & O_NONBLOCK),
        name="anon_inode:[timerfd]",
        stat=lambda: ANON_INODE_STAT,
    )
