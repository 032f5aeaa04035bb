"""Implements Linux syscalls sysinfo(2), times(2) and getrusage(2)
(kernel/sys.c)."""

from __future__ import annotations

import os
import struct

from sentry.abi import sysno
from sentry.abi.errors import EINVAL
from sentry.abi.mm import PAGE_SIZE
from sentry.kernel import SyscallArgs, Task
from sentry.kernel.clocks import CLOCK_MONOTONIC, now_ns
from sentry.kernel.cputime import (
    NS_PER_CLOCK_TICK,
    Usage,
    group_cputime,
    group_usage,
    thread_usage,
)
from sentry.syscalls._util import s32
from sentry.syscalls.table import Support, syscall

#: struct sysinfo: uptime, loads[3], total/free/shared/buffer ram, total/free
#: swap, procs (u16) + padding, total/free high, mem_unit (u32) + padding.
SYSINFO = struct.Struct("<q3Q6QH6xQQI4x")
USER_HZ = 100
RUSAGE_SELF = 0
RUSAGE_CHILDREN = -1
RUSAGE_THREAD = 1
#: struct rusage: ru_utime, ru_stime (timevals), then 14 longs from ru_maxrss.
RUSAGE = struct.Struct("<qqqq14q")


def pack_rusage(usage: Usage) -> bytes:
    """``struct rusage`` of ``usage``: times, maxrss (KiB) and minor faults;
    the other counters (block I/O, context switches...) are not kept and
    read as 0."""
    uus, sus = usage.user_ns // 1000, usage.sys_ns // 1000
    rest = [0] * 14
    rest[0] = usage.maxrss_kb
    rest[4] = usage.minflt
    return RUSAGE.pack(uus // 1_000_000, uus % 1_000_000, sus // 1_000_000, sus % 1_000_000, *rest)


def clock_ticks(ns: int) -> int:
    """Nanoseconds as USER_HZ clock ticks (kernel/time/time.c nsec_to_clock_t)."""
    return ns // NS_PER_CLOCK_TICK


@syscall(sysno.SYSINFO, "sysinfo", Support.PARTIAL, "no load average or swap; host memory totals")
def sys_sysinfo(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall sysinfo(2)."""
    total = os.sysconf("SC_PHYS_PAGES") * PAGE_SIZE
    free = os.sysconf("SC_AVPHYS_PAGES") * PAGE_SIZE
    uptime = t.kernel.uptime_ns() // 1_000_000_000
    data = SYSINFO.pack(uptime, 0, 0, 0, total, free, 0, 0, 0, 0, len(t.kernel.tasks), 0, 0, 1)
    t.mm.copy_out(args[0], data)
    return 0


@syscall(
    sysno.TIMES,
    "times",
    note="user time is time in application code, system time time in the Sentry",
)
def sys_times(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall times(2): the process's and its reaped
    children's CPU time in clock ticks; returns ticks since the host's boot."""
    if args[0]:
        tg = t.thread_group
        user, system = group_cputime(tg, t.kernel.tree_lock)
        with t.kernel.tree_lock:
            children = tg.children_usage
            cuser, csys = children.user_ns, children.sys_ns
        ticks = (clock_ticks(user), clock_ticks(system), clock_ticks(cuser), clock_ticks(csys))
        t.mm.copy_out(args[0], struct.pack("<4q", *ticks))
    return now_ns(CLOCK_MONOTONIC) // NS_PER_CLOCK_TICK


@syscall(
    sysno.GETRUSAGE,
    "getrusage",
    Support.PARTIAL,
    "times, maxrss (resident pages now or at exit, not the peak) and minflt (faults the "
    "Sentry served); the other counters read as 0",
)
def sys_getrusage(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall getrusage(2)."""
    who = s32(args[0])
    if who == RUSAGE_SELF:
        usage = group_usage(t.thread_group, t.kernel.tree_lock)
    elif who == RUSAGE_THREAD:
        usage = thread_usage(t)
    elif who == RUSAGE_CHILDREN:
        with t.kernel.tree_lock:
            c = t.thread_group.children_usage
            usage = Usage(c.user_ns, c.sys_ns, c.maxrss_kb, c.minflt)
    else:
        raise EINVAL
    t.mm.copy_out(args[1], pack_rusage(usage))
    return 0
