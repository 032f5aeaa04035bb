"""Timers on CPU clocks: ITIMER_VIRTUAL, ITIMER_PROF and timer_create(2)
on a CPU clock (kernel/time/posix-cpu-timers.c, itimer.c; gVisor
``kernel/task_acct.go`` and the CPU clock tickers).

A task spinning in application code never comes back to the Sentry on
its own, so nothing on the task's thread can notice an expiry. Instead a
wall-clock check timer (a ``timers.Timer`` on the kernel's timer thread)
is armed for the earliest moment the CPU clock could reach the deadline:
a clock driven by N running threads advances at most N ns per ns, so
``now + (deadline - cpu_now) / N``. At the check the clock is sampled
(``cputime`` snapshots include the time spent in the current state, so
no interruption is needed to read it); an expiry fires (the signal
interrupts the running task through ``notify_signal``), an early check
re-arms. When every thread of the process is blocked the clock stands
still: the timer parks on the thread group instead of polling, and the
first thread to wake (``cputime.leave_blocked``) restarts it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sentry.kernel.cputime import CPUClock, clock_ns

#: The shortest wall-clock wait between two checks of one timer: bounds
#: the checking rate of a timer that is almost due.
MIN_CHECK_NS = 100_000


class CPUTimer:
    """A timer whose deadline is a value of a CPU clock. Same surface as
    ``timers.Timer`` (``arm``, ``remaining_ns``, ``interval_ns``,
    ``overrun``, ``owner``), so POSIX timers hold either."""

    def __init__(
        self,
        new_timer: Callable[[Callable[[Any], None]], Any],
        fire: Callable[[CPUTimer], None],
        clock: CPUClock,
    ) -> None:
        self.fire = fire
        self.clock = clock
        #: CPU-clock deadline in ns, or 0 when disarmed.
        self.deadline_ns = 0
        self.interval_ns = 0
        #: Periods that passed between the deadline and the check that saw it.
        self.overrun = 0
        #: What the timer belongs to (a PosixTimer), for the callback.
        self.owner: object = None
        self._lock = threading.Lock()
        self._check_timer = new_timer(self._check)

    def now_ns(self) -> int:
        """The clock's current value (what deadlines are measured in)."""
        return self.clock.now_ns()

    def arm(self, deadline_ns: int, interval_ns: int) -> None:
        """Arm at a CPU-clock deadline (0 disarms)."""
        with self._lock:
            self.deadline_ns = deadline_ns
            self.interval_ns = interval_ns if deadline_ns else 0
        if deadline_ns:
            self._schedule()
        else:
            self._check_timer.arm(0, 0)

    def remaining_ns(self) -> int:
        """CPU time left to the next expiry (0 if disarmed)."""
        deadline = self.deadline_ns
        if not deadline:
            return 0
        # An armed timer never reads as 0 (kernel/time/itimer.c get_cpu_itimer).
        return max(1000, deadline - self.clock.now_ns())

    def unpark(self) -> None:
        """A thread of the clock's process runs again: check from now on."""
        self._schedule()

    def _schedule(self) -> None:
        deadline = self.deadline_ns
        if not deadline:
            return
        running = self.clock.running()
        if not running:
            group = self.clock.group
            group.park_cpu_timer(self)
            # A thread may have woken between the count and the parking
            # and found nothing parked: look once more (it published its
            # state before it looked, so one of the two sees the other).
            if self.clock.running():
                for timer in group.take_parked_cpu_timers():
                    timer.unpark()
            return
        left = deadline - self.clock.now_ns()
        delay = max(MIN_CHECK_NS, left // running)
        self._check_timer.arm(clock_ns() + delay, 0)

    def _check(self, _timer: Any) -> None:
        """The check timer went off: fire if the CPU clock got there."""
        now = self.clock.now_ns()
        with self._lock:
            deadline = self.deadline_ns
            if not deadline or now < deadline:
                due = False
            else:
                due = True
                self.overrun, self.deadline_ns = expiry(deadline, self.interval_ns, now)
                if not self.deadline_ns:
                    self.interval_ns = 0
        if due:
            self.fire(self)
        self._schedule()


def expiry(deadline_ns: int, interval_ns: int, now_ns: int) -> tuple[int, int]:
    """(overrun, next deadline or 0) of a timer found expired at ``now_ns``
    (kernel/time/posix-cpu-timers.c bump_cpu_timer: whole periods that
    passed are overruns, the next deadline is the first one after now)."""
    if not interval_ns:
        return 0, 0
    missed = (now_ns - deadline_ns) // interval_ns
    return missed, deadline_ns + (missed + 1) * interval_ns
