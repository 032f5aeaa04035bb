"""Implements Linux syscalls sysinfo(2), times(2) and getrusage(2)
(kernel/sys.c)."""

from __future__ import annotations

import os
import struct

from sentry.abi import sysno
from sentry.abi.errors import EINVAL
from sentry.abi.mm import PAGE_SIZE
from sentry.kernel import SyscallArgs, Task
from sentry.kernel.clocks import CLOCK_MONOTONIC, now_ns, thread_cputime_ns
from sentry.syscalls._util import s32
from sentry.syscalls.table import Support, syscall

#: struct sysinfo: uptime, loads[3], total/free/shared/buffer ram, total/free
#: swap, procs (u16) + padding, total/free high, mem_unit (u32) + padding.
SYSINFO = struct.Struct("<q3Q6QH6xQQI4x")
USER_HZ = 100
RUSAGE_SELF = 0
RUSAGE_CHILDREN = -1
RUSAGE_THREAD = 1


@syscall(sysno.SYSINFO, "sysinfo", Support.PARTIAL, "no load average or swap; host memory totals")
def sys_sysinfo(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall sysinfo(2)."""
    total = os.sysconf("SC_PHYS_PAGES") * PAGE_SIZE
    free = os.sysconf("SC_AVPHYS_PAGES") * PAGE_SIZE
    uptime = t.kernel.uptime_ns() // 1_000_000_000
    data = SYSINFO.pack(uptime, 0, 0, 0, total, free, 0, 0, 0, 0, len(t.kernel.tasks), 0, 0, 1)
    t.mm.copy_out(args[0], data)
    return 0


@syscall(sysno.TIMES, "times", Support.PARTIAL, "system time is the Sentry's time serving the task")
def sys_times(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall times(2).

    Clock ticks; returns ticks since an arbitrary point (boot)."""
    stime = thread_cputime_ns() * USER_HZ // 1_000_000_000
    if args[0]:
        t.mm.copy_out(args[0], struct.pack("<4q", 0, stime, 0, 0))
    return now_ns(CLOCK_MONOTONIC) * USER_HZ // 1_000_000_000


@syscall(sysno.GETRUSAGE, "getrusage", Support.PARTIAL, "times and maxrss only")
def sys_getrusage(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall getrusage(2)."""
    who = s32(args[0])
    if who not in (RUSAGE_SELF, RUSAGE_CHILDREN, RUSAGE_THREAD):
        raise EINVAL
    if who == RUSAGE_CHILDREN:
        data = bytes(144)
    else:
        us = thread_cputime_ns() // 1000
        maxrss_kb = t.mm.resident_pages() * PAGE_SIZE // 1024
        data = struct.pack("<qqqq14q", 0, 0, us // 1_000_000, us % 1_000_000, maxrss_kb, *[0] * 13)
    t.mm.copy_out(args[1], data)
    return 0
