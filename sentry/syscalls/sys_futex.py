"""Implements Linux syscall futex(2) (kernel/futex/syscalls.c, waitwake.c,
requeue.c): WAIT, WAKE, REQUEUE, CMP_REQUEUE, WAKE_OP, WAIT_BITSET and
WAKE_BITSET on private and shared futexes. The queues are
``sentry.kernel.futex.FutexTable``; PI futexes are refused with ENOSYS."""

from __future__ import annotations

from collections.abc import Hashable

from sentry.abi import sysno
from sentry.abi.errors import (
    EAGAIN,
    EINVAL,
    ENOSYS,
    ERESTART_RESTARTBLOCK,
    ERESTARTSYS,
    ETIMEDOUT,
)
from sentry.kernel import SyscallArgs, Task
from sentry.kernel.clocks import CLOCK_MONOTONIC, CLOCK_REALTIME, now_ns
from sentry.kernel.futex import FUTEX_BITSET_MATCH_ANY, Waiter
from sentry.syscalls._util import TIMESPEC, U32, s32, timespec_ns
from sentry.syscalls.table import Support, syscall

FUTEX_WAIT = 0
FUTEX_WAKE = 1
FUTEX_FD = 2
FUTEX_REQUEUE = 3
FUTEX_CMP_REQUEUE = 4
FUTEX_WAKE_OP = 5
FUTEX_LOCK_PI = 6
FUTEX_UNLOCK_PI = 7
FUTEX_TRYLOCK_PI = 8
FUTEX_WAIT_BITSET = 9
FUTEX_WAKE_BITSET = 10
FUTEX_WAIT_REQUEUE_PI = 11
FUTEX_CMP_REQUEUE_PI = 12
FUTEX_LOCK_PI2 = 13
FUTEX_PRIVATE_FLAG = 128
FUTEX_CLOCK_REALTIME = 256
FUTEX_CMD_MASK = ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)

#: include/uapi/linux/futex.h FUTEX_OP_*: the operation FUTEX_WAKE_OP applies.
FUTEX_OP_SET, FUTEX_OP_ADD, FUTEX_OP_OR, FUTEX_OP_ANDN, FUTEX_OP_XOR = range(5)
FUTEX_OP_OPARG_SHIFT = 8
#: FUTEX_OP_CMP_*: the comparison of the word's old value with cmparg.
_CMP = (
    lambda a, b: a == b,
    lambda a, b: a != b,
    lambda a, b: a < b,
    lambda a, b: a <= b,
    lambda a, b: a > b,
    lambda a, b: a >= b,
)

#: Commands that accept FUTEX_CLOCK_REALTIME (futex_cmd_has_timeout).
_CLOCK_CMDS = frozenset({FUTEX_WAIT, FUTEX_WAIT_BITSET, FUTEX_WAIT_REQUEUE_PI, FUTEX_LOCK_PI2})
_PI_CMDS = frozenset(
    {
        FUTEX_LOCK_PI,
        FUTEX_UNLOCK_PI,
        FUTEX_TRYLOCK_PI,
        FUTEX_WAIT_REQUEUE_PI,
        FUTEX_CMP_REQUEUE_PI,
        FUTEX_LOCK_PI2,
    }
)


def _read_u32(t: Task, addr: int) -> int:
    (value,) = U32.unpack(t.mm.copy_in(addr, 4))
    return int(value)


def _key(t: Task, addr: int, op: int) -> Hashable:
    if addr & 3:
        raise EINVAL
    return t.mm.futex_key(addr, private=bool(op & FUTEX_PRIVATE_FLAG))


def futex_wait(
    t: Task, addr: int, key: Hashable, *, val: int, bitset: int, deadline: tuple[int, int] | None
) -> int:
    """Sleep on ``key`` while ``*addr == val`` until woken (0), the deadline
    ``(clock, absolute ns)`` passes (ETIMEDOUT) or a signal comes: then
    ERESTARTSYS without a timeout, ERESTART_RESTARTBLOCK with one (resumed by
    restart_syscall with the same deadline), as futex_wait does."""
    table = t.kernel.futexes
    waiter = Waiter(t, key, bitset)
    if not table.queue_if(waiter, lambda: _read_u32(t, addr), val):
        raise EAGAIN
    try:
        while not waiter.woken:
            timeout = None
            if deadline is not None:
                left = deadline[1] - now_ns(deadline[0])
                if left <= 0:
                    raise ETIMEDOUT
                timeout = left / 1e9
            if t.block(timeout) and not waiter.woken:
                if deadline is None:
                    raise ERESTARTSYS
                t.restart_block = lambda rt: futex_wait(
                    rt, addr, key, val=val, bitset=bitset, deadline=deadline
                )
                raise ERESTART_RESTARTBLOCK
    finally:
        if table.dequeue(waiter):
            waiter.woken = True
    return 0


def _deadline(t: Task, cmd: int, op: int, timeout_addr: int) -> tuple[int, int] | None:
    """The absolute ``(clock, ns)`` a wait ends at (futex_init_timeout):
    FUTEX_WAIT's timeout is relative (measured on CLOCK_MONOTONIC), the
    bitset wait's absolute on CLOCK_MONOTONIC or, with
    FUTEX_CLOCK_REALTIME, CLOCK_REALTIME."""
    if not timeout_addr:
        return None
    ns = timespec_ns(t.mm.copy_in(timeout_addr, TIMESPEC.size))
    clock = CLOCK_REALTIME if op & FUTEX_CLOCK_REALTIME else CLOCK_MONOTONIC
    if cmd == FUTEX_WAIT:
        return (CLOCK_MONOTONIC, now_ns(CLOCK_MONOTONIC) + ns)
    return (clock, ns)


def _wake_op_update(encoded: int) -> tuple[int, int, int, int]:
    """Decode FUTEX_WAKE_OP's ``val3``: (op, cmp, oparg, cmparg); ENOSYS for
    an unknown op or comparison (futex_atomic_op_inuser)."""
    op = (encoded >> 28) & 0xF
    cmp = (encoded >> 24) & 0xF
    oparg = s32(((encoded >> 12) & 0xFFF) << 20) >> 20
    cmparg = s32((encoded & 0xFFF) << 20) >> 20
    if op & FUTEX_OP_OPARG_SHIFT:
        oparg = 1 << (oparg & 31)
        op &= ~FUTEX_OP_OPARG_SHIFT
    if op > FUTEX_OP_XOR or cmp >= len(_CMP):
        raise ENOSYS
    return op, cmp, oparg, cmparg


def _apply(op: int, old: int, oparg: int) -> int:
    if op == FUTEX_OP_SET:
        return oparg
    if op == FUTEX_OP_ADD:
        return old + oparg
    if op == FUTEX_OP_OR:
        return old | oparg
    if op == FUTEX_OP_ANDN:
        return old & ~oparg
    return old ^ oparg


@syscall(
    sysno.FUTEX,
    "futex",
    Support.PARTIAL,
    "WAIT, WAKE, REQUEUE, CMP_REQUEUE, WAKE_OP, WAIT_BITSET, WAKE_BITSET, private and "
    "shared (keyed by the MemoryFile page); PI futexes (LOCK_PI, UNLOCK_PI, TRYLOCK_PI, "
    "LOCK_PI2, *_REQUEUE_PI) and FUTEX_FD: ENOSYS; WAKE_OP's update is atomic against "
    "other futex calls, not against the application's own atomics on that word",
)
def sys_futex(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall futex(2)."""
    uaddr, op, val = args[0], args[1] & 0xFFFFFFFF, args[2] & 0xFFFFFFFF
    uaddr2, val3 = args[4], args[5] & 0xFFFFFFFF
    cmd = op & FUTEX_CMD_MASK
    if op & FUTEX_CLOCK_REALTIME and cmd not in _CLOCK_CMDS:
        raise ENOSYS
    if cmd in _PI_CMDS or cmd == FUTEX_FD:
        raise ENOSYS
    table = t.kernel.futexes
    if cmd in (FUTEX_WAIT, FUTEX_WAIT_BITSET):
        bitset = FUTEX_BITSET_MATCH_ANY if cmd == FUTEX_WAIT else val3
        if not bitset:
            raise EINVAL
        deadline = _deadline(t, cmd, op, args[3])
        key = _key(t, uaddr, op)
        return futex_wait(t, uaddr, key, val=val, bitset=bitset, deadline=deadline)
    if cmd in (FUTEX_WAKE, FUTEX_WAKE_BITSET):
        bitset = FUTEX_BITSET_MATCH_ANY if cmd == FUTEX_WAKE else val3
        if not bitset:
            raise EINVAL
        return table.wake(_key(t, uaddr, op), s32(val), bitset)
    if cmd in (FUTEX_REQUEUE, FUTEX_CMP_REQUEUE):
        n_wake, n_requeue = s32(val), s32(args[3])
        if n_wake < 0 or n_requeue < 0:
            raise EINVAL
        key, key2 = _key(t, uaddr, op), _key(t, uaddr2, op)
        check = None
        if cmd == FUTEX_CMP_REQUEUE:

            def check() -> bool:
                return _read_u32(t, uaddr) == val3

        done = table.requeue(key, key2, n_wake, n_requeue, check)
        if done < 0:
            raise EAGAIN
        return done
    if cmd == FUTEX_WAKE_OP:
        wop, cmp, oparg, cmparg = _wake_op_update(val3)
        key, key2 = _key(t, uaddr, op), _key(t, uaddr2, op)

        def update() -> bool:
            old = t.mm.update_u32(uaddr2, lambda v: _apply(wop, v, oparg))
            return _CMP[cmp](s32(old), cmparg)

        return table.wake_op(key, key2, s32(val), s32(args[3]), update)
    raise ENOSYS
