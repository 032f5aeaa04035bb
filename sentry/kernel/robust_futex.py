"""What a thread's exit does to the futexes it owns (kernel/futex/core.c
exit_robust_list, handle_futex_death; kernel/fork.c mm_release).

Robust futexes: glibc registers a per-thread list head with
set_robust_list(2) and links every robust mutex it holds into it. When the
thread dies (exit, exit_group, a fatal signal, execve) the kernel walks the
list and, for each futex word still holding the thread's TID, sets
FUTEX_OWNER_DIED (keeping FUTEX_WAITERS) and wakes one waiter, so the next
locker gets EOWNERDEAD instead of hanging.

CLONE_CHILD_CLEARTID: the word registered at clone or by set_tid_address(2)
is zeroed and one waiter woken when the thread exits while others share its
memory: this is what pthread_join waits on.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from sentry.abi.errors import LinuxError
from sentry.kernel.futex import FUTEX_BITSET_MATCH_ANY

if TYPE_CHECKING:
    from sentry.kernel.task import Task

FUTEX_WAITERS = 0x80000000
FUTEX_OWNER_DIED = 0x40000000
FUTEX_TID_MASK = 0x3FFFFFFF
#: include/uapi/linux/futex.h: how many entries the walk follows at most
#: (a corrupt or circular list cannot hang the exit).
ROBUST_LIST_LIMIT = 2048
#: struct robust_list_head { list.next; long futex_offset; list_op_pending; }
_HEAD = struct.Struct("<QqQ")
_PTR = struct.Struct("<Q")


def _wake_one(t: Task, addr: int) -> None:
    try:
        key = t.mm.futex_key(addr, private=False)
    except LinuxError:
        return
    t.kernel.futexes.wake(key, 1, FUTEX_BITSET_MATCH_ANY)


def _futex_death(t: Task, addr: int, *, pi: bool, pending: bool) -> bool:
    """handle_futex_death for the word at ``addr``; False stops the walk."""
    if addr & 3:
        return False
    tid = t.tid

    def mark(old: int) -> int:
        if old & FUTEX_TID_MASK != tid:
            return old
        return (old & FUTEX_WAITERS) | FUTEX_OWNER_DIED

    try:
        old = int.from_bytes(t.mm.copy_in(addr, 4), "little")
        if pending and not pi and old == 0:
            # The thread died between releasing the lock and unlinking it:
            # a waiter may still need the wake-up it would have sent.
            _wake_one(t, addr)
            return True
        if old & FUTEX_TID_MASK != tid:
            return True
        old = t.mm.update_u32(addr, mark)
    except LinuxError:
        return False
    if old & FUTEX_TID_MASK == tid and old & FUTEX_WAITERS and not pi:
        _wake_one(t, addr)
    return True


def exit_robust_list(t: Task) -> None:
    """Walk the thread's robust list (exit_robust_list); faults end it."""
    head = t.robust_list[0]
    if not head:
        return
    mm = t.mm
    try:
        entry, offset, pending = _HEAD.unpack(mm.copy_in(head, _HEAD.size))
    except LinuxError:
        return
    pending_addr = pending & ~1
    limit = ROBUST_LIST_LIMIT
    while entry & ~1 != head:
        addr = entry & ~1
        try:
            (next_entry,) = _PTR.unpack(mm.copy_in(addr, 8))
        except LinuxError:
            return
        if addr != pending_addr and not _futex_death(
            t, (addr + offset) & ((1 << 64) - 1), pi=bool(entry & 1), pending=False
        ):
            return
        entry = next_entry
        limit -= 1
        if not limit:
            break
    if pending_addr:
        addr = (pending_addr + offset) & ((1 << 64) - 1)
        _futex_death(t, addr, pi=bool(pending & 1), pending=True)


def mm_release(t: Task, *, shared: bool) -> None:
    """At exit or exec, while the mm is still alive: the robust list, then
    the clear_child_tid word if another thread shares the memory
    (``shared``: Linux checks mm_users > 1)."""
    if t.mm is None:
        return
    exit_robust_list(t)
    t.robust_list = (0, 0)
    addr, t.clear_child_tid = t.clear_child_tid, 0
    if addr and shared:
        try:
            t.mm.copy_out(addr, b"\0\0\0\0")
        except LinuxError:
            return
        _wake_one(t, addr)
