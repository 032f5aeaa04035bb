"""Implements Linux syscalls sched_yield(2), sched_getaffinity(2),
sched_setaffinity(2), getcpu(2), sched_getscheduler(2), sched_getparam(2),
sched_get_priority_max(2)/min(2) (kernel/sched/core.c)."""

from __future__ import annotations

import os
import struct

from sentry.abi import sysno
from sentry.abi.errors import EINVAL, ESRCH
from sentry.kernel import SyscallArgs, Task
from sentry.syscalls._util import s32
from sentry.syscalls.table import Support, syscall

SCHED_OTHER = 0


def _check_pid(t: Task, pid: int) -> None:
    if pid < 0:
        raise EINVAL
    if pid not in (0, t.tid) and pid not in t.kernel.tasks:
        raise ESRCH


def _mask_bytes() -> int:
    # cpumask_size(): nr_cpu_ids bits rounded up to longs.
    ncpu = os.cpu_count() or 1
    return (ncpu + 63) // 64 * 8


@syscall(sysno.SCHED_YIELD, "sched_yield")
def sys_sched_yield(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall sched_yield(2)."""
    os.sched_yield()
    return 0


@syscall(sysno.SCHED_GETAFFINITY, "sched_getaffinity", Support.PARTIAL, "the Sentry's own CPU set")
def sys_sched_getaffinity(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall sched_getaffinity(2): returns the mask size copied."""
    _check_pid(t, s32(args[0]))
    length = args[1] & 0xFFFFFFFF
    size = _mask_bytes()
    if length * 8 < (os.cpu_count() or 1) or length & 7:
        raise EINVAL
    mask = 0
    for cpu in os.sched_getaffinity(0):
        mask |= 1 << cpu
    t.mm.copy_out(args[2], mask.to_bytes(size, "little"))
    return size


@syscall(sysno.SCHED_SETAFFINITY, "sched_setaffinity", Support.PARTIAL, "accepted and ignored")
def sys_sched_setaffinity(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall sched_setaffinity(2).

    Validated, then ignored (the Sentry schedules)."""
    _check_pid(t, s32(args[0]))
    t.mm.copy_in(args[2], min(args[1] & 0xFFFFFFFF, 1024))
    return 0


@syscall(sysno.GETCPU, "getcpu", Support.PARTIAL, "always CPU 0, node 0")
def sys_getcpu(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall getcpu(2)."""
    if args[0]:
        t.mm.copy_out(args[0], struct.pack("<I", 0))
    if args[1]:
        t.mm.copy_out(args[1], struct.pack("<I", 0))
    return 0


@syscall(sysno.SCHED_GETSCHEDULER, "sched_getscheduler")
def sys_sched_getscheduler(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall sched_getscheduler(2): every task is SCHED_OTHER."""
    _check_pid(t, s32(args[0]))
    return SCHED_OTHER


@syscall(sysno.SCHED_GETPARAM, "sched_getparam")
def sys_sched_getparam(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall sched_getparam(2): priority 0."""
    _check_pid(t, s32(args[0]))
    t.mm.copy_out(args[1], struct.pack("<i", 0))
    return 0


@syscall(sysno.SCHED_GET_PRIORITY_MAX, "sched_get_priority_max")
def sys_sched_get_priority_max(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall sched_get_priority_max(2)."""
    policy = s32(args[0])
    if policy in (1, 2):  # SCHED_FIFO, SCHED_RR
        return 99
    if policy in (0, 3, 5, 6):
        return 0
    raise EINVAL


@syscall(sysno.SCHED_GET_PRIORITY_MIN, "sched_get_priority_min")
def sys_sched_get_priority_min(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall sched_get_priority_min(2)."""
    policy = s32(args[0])
    if policy in (1, 2):
        return 1
    if policy in (0, 3, 5, 6):
        return 0
    raise EINVAL
