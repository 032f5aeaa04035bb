"""Clocks (kernel/time/posix-timers.c, posix-cpu-timers.c).

Realtime, monotonic and boot time come from the host's clocks. CPU-time
clocks measure the task's host thread: the time the Sentry spends serving the
task, which is the task's system time in this model."""

from __future__ import annotations

import time

CLOCK_REALTIME = 0
CLOCK_MONOTONIC = 1
CLOCK_PROCESS_CPUTIME_ID = 2
CLOCK_THREAD_CPUTIME_ID = 3
CLOCK_MONOTONIC_RAW = 4
CLOCK_REALTIME_COARSE = 5
CLOCK_MONOTONIC_COARSE = 6
CLOCK_BOOTTIME = 7
CLOCK_REALTIME_ALARM = 8
CLOCK_BOOTTIME_ALARM = 9
CLOCK_TAI = 11

#: Clocks read straight from the host clock with the same id.
HOST_CLOCKS = frozenset(
    {
        CLOCK_REALTIME,
        CLOCK_MONOTONIC,
        CLOCK_MONOTONIC_RAW,
        CLOCK_REALTIME_COARSE,
        CLOCK_MONOTONIC_COARSE,
        CLOCK_BOOTTIME,
        CLOCK_TAI,
    }
)

#: Resolution reported by clock_getres (hrtimers: 1 ns; coarse clocks: one tick).
COARSE_RESOLUTION_NS = 4_000_000


def now_ns(clock: int) -> int:
    """Nanoseconds on a host-backed clock."""
    return time.clock_gettime_ns(clock)


def thread_cputime_ns() -> int:
    """CPU time of the calling host thread."""
    return time.thread_time_ns()
