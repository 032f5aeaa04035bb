"""Implements Linux syscall futex(2) (kernel/futex/syscalls.c): WAIT, WAKE,
WAIT_BITSET and WAKE_BITSET."""

from __future__ import annotations

import struct
import time

from sentry.abi import sysno
from sentry.abi.errors import EAGAIN, EINVAL, ENOSYS, ERESTARTSYS, ETIMEDOUT
from sentry.kernel import SyscallArgs, Task
from sentry.kernel.clocks import CLOCK_MONOTONIC, CLOCK_REALTIME, now_ns
from sentry.syscalls._util import TIMESPEC, timespec_ns
from sentry.syscalls.table import Support, syscall

FUTEX_WAIT = 0
FUTEX_WAKE = 1
FUTEX_WAIT_BITSET = 9
FUTEX_WAKE_BITSET = 10
FUTEX_PRIVATE_FLAG = 128
FUTEX_CLOCK_REALTIME = 256
FUTEX_CMD_MASK = ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)


#: How often a futex waiter checks whether its task was interrupted.
_POLL_S = 0.1


def _wait(t: Task, key: tuple[int, int], timeout: float | None) -> int:
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        step = _POLL_S if deadline is None else min(_POLL_S, deadline - time.monotonic())
        if step <= 0:
            raise ETIMEDOUT
        if t.kernel.futexes.wait(key, step):
            return 0
        if t.interrupted():
            raise ERESTARTSYS


@syscall(
    sysno.FUTEX,
    "futex",
    Support.PARTIAL,
    "WAIT, WAKE, WAIT_BITSET, WAKE_BITSET (bitsets ignored); no PI or requeue",
)
def sys_futex(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall futex(2)."""
    uaddr, op, val, timeout_addr = args[0], args[1] & 0xFFFFFFFF, args[2] & 0xFFFFFFFF, args[3]
    cmd = op & FUTEX_CMD_MASK
    if uaddr & 3:
        raise EINVAL
    key = (id(t.mm), uaddr)
    if cmd in (FUTEX_WAIT, FUTEX_WAIT_BITSET):
        if cmd == FUTEX_WAIT_BITSET and args[5] & 0xFFFFFFFF == 0:
            raise EINVAL
        (current,) = struct.unpack("<I", t.mm.copy_in(uaddr, 4))
        if current != val:
            raise EAGAIN
        timeout = None
        if timeout_addr:
            ns = timespec_ns(t.mm.copy_in(timeout_addr, TIMESPEC.size))
            if cmd == FUTEX_WAIT_BITSET:
                # FUTEX_WAIT_BITSET takes an absolute time on the chosen clock.
                clock = CLOCK_REALTIME if op & FUTEX_CLOCK_REALTIME else CLOCK_MONOTONIC
                ns -= now_ns(clock)
            timeout = max(ns, 0) / 1e9
        return _wait(t, key, timeout)
    if cmd in (FUTEX_WAKE, FUTEX_WAKE_BITSET):
        if cmd == FUTEX_WAKE_BITSET and args[5] & 0xFFFFFFFF == 0:
            raise EINVAL
        return t.kernel.futexes.wake(key, min(val, 1 << 31))
    raise ENOSYS
