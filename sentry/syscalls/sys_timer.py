"""Implements Linux syscalls alarm(2), getitimer(2), setitimer(2),
timer_create(2), timer_settime(2), timer_gettime(2), timer_getoverrun(2)
and timer_delete(2) (kernel/time/itimer.c, posix-timers.c)."""

from __future__ import annotations

import struct
import time

from sentry.abi import sysno
from sentry.abi.errors import EINVAL
from sentry.kernel import SyscallArgs, Task
from sentry.kernel.clocks import now_ns
from sentry.kernel.cpu_timers import CPUTimer
from sentry.kernel.cputime import CPUCLOCK_PROF, CPUCLOCK_VIRT, is_cpu_clock, lookup_clock
from sentry.kernel.signals import NSIG, SIGALRM
from sentry.kernel.timers import (
    SIGEV_NONE,
    SIGEV_SIGNAL,
    SIGEV_THREAD,
    SIGEV_THREAD_ID,
    TIMER_CLOCKS,
    process_timers,
)
from sentry.syscalls._util import NSEC_PER_SEC, s32
from sentry.syscalls.table import Support, syscall

ITIMER_REAL = 0
ITIMER_VIRTUAL = 1
ITIMER_PROF = 2
TIMER_ABSTIME = 1
_ITIMERVAL = struct.Struct("<qqqq")  # it_interval, it_value as timevals
_ITIMERSPEC = struct.Struct("<qqqq")  # it_interval, it_value as timespecs
#: struct sigevent: sigval, signo, notify, then the union (the thread id first).
_SIGEVENT = struct.Struct("<qiii")
_SIGEVENT_SIZE = 64
_NSEC_PER_USEC = 1000


def _timeval_ns(sec: int, usec: int) -> int:
    # kernel/time/itimer.c get_itimerval: timeval_valid or EINVAL.
    if sec < 0 or not 0 <= usec < 1_000_000:
        raise EINVAL
    return sec * NSEC_PER_SEC + usec * _NSEC_PER_USEC


def _timespec_ns(sec: int, nsec: int) -> int:
    if sec < 0 or not 0 <= nsec < NSEC_PER_SEC:
        raise EINVAL
    return sec * NSEC_PER_SEC + nsec


def _timeval(ns: int) -> tuple[int, int]:
    # kernel/time/itimer.c: remaining time rounds up to a whole microsecond.
    usec = (ns + _NSEC_PER_USEC - 1) // _NSEC_PER_USEC
    return divmod(usec, 1_000_000)


#: setitimer's ``which`` -> the CPU clock of its timer.
_CPU_ITIMERS = {ITIMER_VIRTUAL: CPUCLOCK_VIRT, ITIMER_PROF: CPUCLOCK_PROF}


def _itimer_cpu(t: Task, which: int) -> tuple[int, int]:
    """(interval, value) of ITIMER_VIRTUAL/ITIMER_PROF in ns of CPU time."""
    timer = process_timers(t).cpu_itimer(_CPU_ITIMERS[which])
    return timer.interval_ns, timer.remaining_ns()


def _set_cpu(t: Task, which: int, interval_ns: int, value_ns: int) -> tuple[int, int]:
    """Arm ITIMER_VIRTUAL/ITIMER_PROF ``value_ns`` of the process's CPU
    time from now (kernel/time/itimer.c set_cpu_itimer)."""
    timers = process_timers(t)
    timer = timers.cpu_itimer(_CPU_ITIMERS[which])
    with timers.lock:
        old = (timer.interval_ns, timer.remaining_ns())
        timer.arm(timer.now_ns() + value_ns if value_ns else 0, interval_ns)
    return old


def _itimer_real(t: Task) -> tuple[int, int]:
    """(interval, value) of ITIMER_REAL in ns."""
    real = process_timers(t).real
    return real.interval_ns, real.remaining_ns()


def _set_real(t: Task, interval_ns: int, value_ns: int) -> tuple[int, int]:
    timers = process_timers(t)
    with timers.lock:
        old = _itimer_real(t)
        deadline = time.monotonic_ns() + value_ns if value_ns else 0
        timers.real.arm(deadline, interval_ns)
    return old


@syscall(sysno.ALARM, "alarm")
def sys_alarm(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall alarm(2): ITIMER_REAL for ``seconds``, no interval."""
    seconds = args[0] & 0xFFFFFFFF
    _, old = _set_real(t, 0, seconds * NSEC_PER_SEC)
    sec, usec = _timeval(old)
    # kernel/time/itimer.c alarm_setitimer: round to the nearest second, and
    # never report 0 for an alarm that was still pending.
    if (not sec and usec) or usec >= 500_000:
        sec += 1
    return sec


def _pack_itimerval(interval_ns: int, value_ns: int) -> bytes:
    return _ITIMERVAL.pack(*_timeval(interval_ns), *_timeval(value_ns))


@syscall(sysno.GETITIMER, "getitimer")
def sys_getitimer(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall getitimer(2)."""
    which = s32(args[0])
    if which == ITIMER_REAL:
        out = _pack_itimerval(*_itimer_real(t))
    elif which in (ITIMER_VIRTUAL, ITIMER_PROF):
        out = _pack_itimerval(*_itimer_cpu(t, which))
    else:
        raise EINVAL
    t.mm.copy_out(args[1], out)
    return 0


@syscall(
    sysno.SETITIMER,
    "setitimer",
    note="ITIMER_VIRTUAL counts time in application code, ITIMER_PROF that plus time in the "
    "Sentry; CPU timers are checked from the timer thread (at least 100 us apart)",
)
def sys_setitimer(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall setitimer(2). A NULL new value disarms (as
    Linux still accepts, kernel/time/itimer.c)."""
    which = s32(args[0])
    if which not in (ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF):
        raise EINVAL
    interval_ns = value_ns = 0
    if args[1]:
        isec, iusec, vsec, vusec = _ITIMERVAL.unpack(t.mm.copy_in(args[1], _ITIMERVAL.size))
        interval_ns, value_ns = _timeval_ns(isec, iusec), _timeval_ns(vsec, vusec)
    if which != ITIMER_REAL:
        old = _set_cpu(t, which, interval_ns, value_ns)
    else:
        old = _set_real(t, interval_ns, value_ns)
    if args[2]:
        t.mm.copy_out(args[2], _pack_itimerval(*old))
    return 0


# -- POSIX timers -----------------------------------------------------------------------
@syscall(
    sysno.TIMER_CREATE,
    "timer_create",
    Support.PARTIAL,
    "REALTIME, MONOTONIC, BOOTTIME, TAI and CPU clocks (own, another process's, a thread's); "
    "no *_ALARM clocks",
)
def sys_timer_create(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall timer_create(2)."""
    clock = s32(args[0])
    cpu_clock = None
    if is_cpu_clock(clock):
        cpu_clock = lookup_clock(t, clock, gettime=False)
    elif clock not in TIMER_CLOCKS:
        raise EINVAL(f"timer_create: clock {clock} is not supported")
    timers = process_timers(t)
    timer_id = timers.reserve_id()
    target = t
    if args[1]:
        raw = t.mm.copy_in(args[1], _SIGEVENT_SIZE)
        value, signo, notify, tid = _SIGEVENT.unpack_from(raw)
        # kernel/time/posix-timers.c good_sigevent.
        kind = notify & ~SIGEV_THREAD_ID
        if notify & SIGEV_THREAD_ID:
            if kind != SIGEV_SIGNAL:
                raise EINVAL
            thread = t.kernel.tasks.get(tid)
            if thread is None or thread.tgid != t.tgid:
                raise EINVAL
            target = thread
        elif kind not in (SIGEV_SIGNAL, SIGEV_THREAD, SIGEV_NONE):
            raise EINVAL
        if kind != SIGEV_NONE and not 0 < signo <= NSIG:
            raise EINVAL
        timers.create(timer_id, clock, signo, notify, value, target, cpu_clock)
    else:
        timers.create(timer_id, clock, SIGALRM, SIGEV_SIGNAL, None, target, cpu_clock)
    try:
        t.mm.copy_out(args[2], struct.pack("<i", timer_id))
    except BaseException:
        process_timers(t).delete(timer_id)
        raise
    return 0


def _pack_itimerspec(interval_ns: int, value_ns: int) -> bytes:
    return _ITIMERSPEC.pack(*divmod(interval_ns, NSEC_PER_SEC), *divmod(value_ns, NSEC_PER_SEC))


@syscall(sysno.TIMER_SETTIME, "timer_settime")
def sys_timer_settime(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall timer_settime(2) (TIMER_ABSTIME on the timer's clock)."""
    timers = process_timers(t)
    pt = timers.get(s32(args[0]))
    isec, insec, vsec, vnsec = _ITIMERSPEC.unpack(t.mm.copy_in(args[2], _ITIMERSPEC.size))
    interval_ns, value_ns = _timespec_ns(isec, insec), _timespec_ns(vsec, vnsec)
    timer = pt.timer
    with timers.lock:
        old = (timer.interval_ns, timer.remaining_ns())
        if not value_ns:
            timer.arm(0, 0)
        elif isinstance(timer, CPUTimer):
            # A CPU clock's absolute value is the deadline itself.
            deadline = value_ns if args[1] & TIMER_ABSTIME else timer.now_ns() + value_ns
            timer.overrun = 0
            timer.arm(max(deadline, 1), interval_ns)
        else:
            if args[1] & TIMER_ABSTIME:
                value_ns = max(0, value_ns - now_ns(pt.clock))
            timer.overrun = 0
            timer.arm(time.monotonic_ns() + max(value_ns, 1), interval_ns)
    if args[3]:
        t.mm.copy_out(args[3], _pack_itimerspec(*old))
    return 0


@syscall(sysno.TIMER_GETTIME, "timer_gettime")
def sys_timer_gettime(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall timer_gettime(2)."""
    timer = process_timers(t).get(s32(args[0])).timer
    t.mm.copy_out(args[1], _pack_itimerspec(timer.interval_ns, timer.remaining_ns()))
    return 0


@syscall(
    sysno.TIMER_GETOVERRUN,
    "timer_getoverrun",
    Support.PARTIAL,
    "counts periods missed by the timer thread, not signals still pending",
)
def sys_timer_getoverrun(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall timer_getoverrun(2)."""
    return min(process_timers(t).get(s32(args[0])).timer.overrun, 0x7FFFFFFF)


@syscall(sysno.TIMER_DELETE, "timer_delete")
def sys_timer_delete(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall timer_delete(2)."""
    process_timers(t).delete(s32(args[0]))
    return 0
