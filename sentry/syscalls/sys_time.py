"""Implements Linux syscalls clock_gettime(2), clock_getres(2),
gettimeofday(2), time(2), nanosleep(2), clock_nanosleep(2) and refuses
clock_settime(2)/settimeofday(2) (kernel/time/posix-timers.c, time.c,
hrtimer.c)."""

from __future__ import annotations

from sentry.abi import sysno
from sentry.abi.errors import EINVAL, EPERM, ERESTART_RESTARTBLOCK, ERESTARTNOHAND
from sentry.kernel import SyscallArgs, Task
from sentry.kernel.clocks import (
    CLOCK_MONOTONIC,
    CLOCK_MONOTONIC_COARSE,
    CLOCK_REALTIME,
    CLOCK_REALTIME_COARSE,
    COARSE_RESOLUTION_NS,
    HOST_CLOCKS,
    now_ns,
)
from sentry.kernel.cpu_timers import CPUTimer
from sentry.kernel.cputime import CPUCLOCK_SCHED, CPUClock, decode_clock, is_cpu_clock, lookup_clock
from sentry.kernel.timers import Timer, timer_service
from sentry.syscalls._util import NSEC_PER_SEC, TIMESPEC, TIMEVAL, ns_timespec, s32, timespec_ns
from sentry.syscalls.table import Support, syscall

TIMER_ABSTIME = 1


def _clock_ns(t: Task, clock: int) -> int:
    if clock in HOST_CLOCKS:
        return now_ns(clock)
    if is_cpu_clock(clock):
        return lookup_clock(t, clock, gettime=True).now_ns()
    raise EINVAL


@syscall(
    sysno.CLOCK_GETTIME,
    "clock_gettime",
    Support.FULL,
    "host-backed clocks; CPU clocks (own, clock_getcpuclockid, pthread_getcpuclockid) count "
    "time in application code as user and time in the Sentry as system time",
)
def sys_clock_gettime(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall clock_gettime(2)."""
    t.mm.copy_out(args[1], ns_timespec(_clock_ns(t, s32(args[0]))))
    return 0


@syscall(sysno.CLOCK_GETRES, "clock_getres")
def sys_clock_getres(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall clock_getres(2).

    1 ns for high-resolution clocks, one tick for coarse ones and for the
    PROF/VIRT CPU clocks (kernel/time/posix-cpu-timers.c posix_cpu_clock_getres)."""
    clock = s32(args[0])
    res = COARSE_RESOLUTION_NS if clock in (CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE) else 1
    if is_cpu_clock(clock):
        if lookup_clock(t, clock, gettime=False).which != CPUCLOCK_SCHED:
            res = COARSE_RESOLUTION_NS
    elif clock not in HOST_CLOCKS:
        raise EINVAL
    if args[1]:
        t.mm.copy_out(args[1], ns_timespec(res))
    return 0


@syscall(sysno.GETTIMEOFDAY, "gettimeofday", Support.PARTIAL, "the timezone argument reads as UTC")
def sys_gettimeofday(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall gettimeofday(2)."""
    if args[0]:
        sec, nsec = divmod(now_ns(CLOCK_REALTIME), NSEC_PER_SEC)
        t.mm.copy_out(args[0], TIMEVAL.pack(sec, nsec // 1000))
    if args[1]:
        t.mm.copy_out(args[1], bytes(8))  # struct timezone {0, 0}
    return 0


@syscall(sysno.TIME, "time")
def sys_time(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall time(2)."""
    now = now_ns(CLOCK_REALTIME) // NSEC_PER_SEC
    if args[0]:
        t.mm.copy_out(args[0], now.to_bytes(8, "little", signed=True))
    return now


def _sleep_until(t: Task, clock: int, deadline_ns: int) -> bool:
    """Sleep until ``deadline_ns`` on ``clock``; False if interrupted first."""
    while True:
        left = deadline_ns - now_ns(clock)
        if left <= 0:
            return True
        if t.block(left / NSEC_PER_SEC):
            return False


def _relative_sleep(t: Task, clock: int, deadline_ns: int, rem_addr: int) -> int:
    """A relative nanosleep/clock_nanosleep until ``deadline_ns``.

    Interrupted, it writes the time left to ``rem_addr`` and fails with
    ERESTART_RESTARTBLOCK: a signal handler makes that EINTR; otherwise
    restart_syscall(2) sleeps on to the same deadline (kernel/time/hrtimer.c
    hrtimer_nanosleep, nanosleep_copyout, hrtimer_nanosleep_restart)."""
    if _sleep_until(t, clock, deadline_ns):
        return 0
    if rem_addr:
        t.mm.copy_out(rem_addr, ns_timespec(max(0, deadline_ns - now_ns(clock))))
    t.restart_block = lambda rt: _relative_sleep(rt, clock, deadline_ns, rem_addr)
    raise ERESTART_RESTARTBLOCK


@syscall(
    sysno.NANOSLEEP,
    "nanosleep",
    note="interruptible; restarts with the time left (restart_syscall) unless a handler ran",
)
def sys_nanosleep(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall nanosleep(2) on CLOCK_MONOTONIC."""
    ns = timespec_ns(t.mm.copy_in(args[0], TIMESPEC.size))
    return _relative_sleep(t, CLOCK_MONOTONIC, now_ns(CLOCK_MONOTONIC) + ns, args[1])


def _cpu_sleep_until(t: Task, clock: CPUClock, deadline_ns: int) -> bool:
    """Sleep until CPU clock ``clock`` reaches ``deadline_ns`` (other
    threads or processes must run it); False if interrupted first. A
    one-shot CPU timer wakes the task (kernel/time/posix-cpu-timers.c
    do_cpu_nanosleep)."""
    if clock.now_ns() >= deadline_ns:
        return True
    service = timer_service(t.kernel)
    timer = CPUTimer(lambda check: Timer(service, check), lambda _timer: t.wake(), clock)
    timer.arm(deadline_ns, 0)
    try:
        while clock.now_ns() < deadline_ns:
            if t.block(None):
                return False
        return True
    finally:
        timer.arm(0, 0)


def _cpu_nanosleep(t: Task, clock_id: int, flags: int, ns: int, rem_addr: int) -> int:
    """clock_nanosleep(2) on a CPU clock. The caller's own thread clock
    cannot advance while it sleeps: EINVAL (posix_cpu_nsleep)."""
    pid, per_thread, _ = decode_clock(clock_id)
    if per_thread and pid in (0, t.tid):
        raise EINVAL
    clock = lookup_clock(t, clock_id, gettime=False)
    if flags & TIMER_ABSTIME:
        if not _cpu_sleep_until(t, clock, ns):
            raise ERESTARTNOHAND
        return 0
    return _cpu_relative_sleep(t, clock, clock.now_ns() + ns, rem_addr)


def _cpu_relative_sleep(t: Task, clock: CPUClock, deadline_ns: int, rem_addr: int) -> int:
    """The relative form: the CPU time left goes to ``rem_addr`` and
    restart_syscall(2) sleeps on to the same deadline."""
    if _cpu_sleep_until(t, clock, deadline_ns):
        return 0
    if rem_addr:
        t.mm.copy_out(rem_addr, ns_timespec(max(0, deadline_ns - clock.now_ns())))
    t.restart_block = lambda rt: _cpu_relative_sleep(rt, clock, deadline_ns, rem_addr)
    raise ERESTART_RESTARTBLOCK


@syscall(
    sysno.CLOCK_NANOSLEEP,
    "clock_nanosleep",
    note="CPU clocks (a process's, another thread's) sleep until that clock reaches the time; "
    "interruptible with Linux's restart rules",
)
def sys_clock_nanosleep(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall clock_nanosleep(2); TIMER_ABSTIME sleeps until
    an absolute time and, interrupted, restarts whole unless a handler ran
    (ERESTARTNOHAND, kernel/time/hrtimer.c do_nanosleep)."""
    clock, flags = s32(args[0]), args[1]
    if is_cpu_clock(clock):
        ns = timespec_ns(t.mm.copy_in(args[2], TIMESPEC.size))
        return _cpu_nanosleep(t, clock, flags, ns, args[3])
    if clock not in HOST_CLOCKS:
        raise EINVAL
    ns = timespec_ns(t.mm.copy_in(args[2], TIMESPEC.size))
    if flags & TIMER_ABSTIME:
        if not _sleep_until(t, clock, ns):
            raise ERESTARTNOHAND
        return 0
    return _relative_sleep(t, clock, now_ns(clock) + ns, args[3])


@syscall(
    sysno.CLOCK_SETTIME,
    "clock_settime",
    Support.ERROR,
    "EPERM: the sandbox cannot set the host clock",
)
def sys_clock_settime(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall clock_settime(2) is refused."""
    raise EPERM


@syscall(
    sysno.SETTIMEOFDAY,
    "settimeofday",
    Support.ERROR,
    "EPERM: the sandbox cannot set the host clock",
)
def sys_settimeofday(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall settimeofday(2) is refused."""
    raise EPERM
