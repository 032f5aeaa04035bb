"""Futex wait queues (kernel/futex/core.c, waitwake.c, requeue.c; gVisor
``kernel/futex``).

A futex is a 32-bit word in application memory; the kernel only keeps the
queues of tasks sleeping on it, keyed by what identifies the word:

* private futexes (FUTEX_PRIVATE_FLAG, or any word in a private mapping):
  ``(id(mm), address)``, so only threads sharing that mm meet;
* shared futexes in MAP_SHARED memory: ``("shared", MemoryFile offset)``,
  the physical page backing the word, so two processes that share a page
  (anonymous MAP_SHARED across fork, or the same file mapped twice) meet
  whatever address each maps it at (Linux keys by inode/page offset, gVisor
  by the mappable and offset; the MemoryFile offset is both here because
  ``mm`` keeps one copy of every shared page).

Atomicity: a waiter reads the word and enqueues itself under the table's
lock; a waker changes the word in user memory *before* it takes the lock to
wake. So either the waiter sees the new value (EAGAIN) or it is already
queued when the waker looks (futex_wait_setup's ordering). Sleeping is the
task's own ``block`` (woken by ``Waiter.wake``), so signals interrupt it at
once.

Lock order: ``FutexTable._lock`` before an mm's lock (the value check reads
user memory under it); nothing here takes the tree lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Protocol

FUTEX_BITSET_MATCH_ANY = 0xFFFFFFFF


class Sleeper(Protocol):
    """What a waiter needs of a task: a way to make its ``block`` return."""

    def wake(self) -> None: ...


class Waiter:
    """One task queued on a futex (Linux ``struct futex_q``)."""

    __slots__ = ("bitset", "key", "sleeper", "woken")

    def __init__(self, sleeper: Sleeper, key: Hashable, bitset: int = FUTEX_BITSET_MATCH_ANY):
        self.sleeper = sleeper
        self.key = key
        self.bitset = bitset
        #: Set (under the table's lock) when a waker took it off its queue.
        self.woken = False


class FutexTable:
    """All futex queues of one kernel."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[Hashable, list[Waiter]] = {}

    def queue_if(self, waiter: Waiter, value: Callable[[], int], expected: int) -> bool:
        """Enqueue ``waiter`` if ``value()`` (read under the lock) still equals
        ``expected``; False if it does not (the caller fails with EAGAIN).
        ``value`` may raise (EFAULT): nothing is queued then."""
        with self._lock:
            if value() != expected:
                return False
            self._queues.setdefault(waiter.key, []).append(waiter)
            return True

    def dequeue(self, waiter: Waiter) -> bool:
        """Take ``waiter`` off its queue (timeout, signal); returns whether it
        had been woken meanwhile (a wake that raced wins, as in Linux's
        unqueue_me returning 0)."""
        with self._lock:
            if waiter.woken:
                return True
            self._remove(waiter)
            return False

    def _remove(self, waiter: Waiter) -> None:
        queue = self._queues.get(waiter.key)
        if queue is not None and waiter in queue:
            queue.remove(waiter)
            if not queue:
                del self._queues[waiter.key]

    def _wake_locked(self, key: Hashable, n: int, bitset: int) -> int:
        queue = self._queues.get(key)
        if not queue or n <= 0:
            return 0
        woken = 0
        keep: list[Waiter] = []
        for w in queue:
            if woken < n and w.bitset & bitset:
                w.woken = True
                w.sleeper.wake()
                woken += 1
            else:
                keep.append(w)
        if keep:
            self._queues[key] = keep
        else:
            del self._queues[key]
        return woken

    def wake(self, key: Hashable, n: int, bitset: int = FUTEX_BITSET_MATCH_ANY) -> int:
        """FUTEX_WAKE(_BITSET): wake up to ``n`` waiters whose bitset
        intersects ``bitset``, oldest first; returns how many. Like Linux,
        ``n`` below one still wakes one (futex_wake counts after waking)."""
        with self._lock:
            return self._wake_locked(key, max(n, 1), bitset)

    def requeue(
        self,
        key: Hashable,
        key2: Hashable,
        n_wake: int,
        n_requeue: int,
        check: Callable[[], bool] | None = None,
    ) -> int:
        """FUTEX_(CMP_)REQUEUE: wake ``n_wake`` waiters of ``key`` and move up
        to ``n_requeue`` more to ``key2``; returns woken + moved. ``check``
        (CMP_REQUEUE's value test, under the lock) returning False makes it
        return -1 with nothing done (the caller raises EAGAIN)."""
        with self._lock:
            if check is not None and not check():
                return -1
            woken = self._wake_locked(key, n_wake, FUTEX_BITSET_MATCH_ANY)
            queue = self._queues.get(key)
            moved = 0
            if queue and n_requeue > 0 and key != key2:
                movers, rest = queue[:n_requeue], queue[n_requeue:]
                if rest:
                    self._queues[key] = rest
                else:
                    del self._queues[key]
                target = self._queues.setdefault(key2, [])
                for w in movers:
                    w.key = key2
                    target.append(w)
                moved = len(movers)
            elif queue and n_requeue > 0:
                # Requeue onto the same futex: they stay queued and count.
                moved = min(n_requeue, len(queue))
            return woken + moved

    def wake_op(
        self, key: Hashable, key2: Hashable, n: int, n2: int, op: Callable[[], bool]
    ) -> int:
        """FUTEX_WAKE_OP: run ``op`` (atomically updates the second word and
        says whether its old value passed the comparison) under the lock,
        wake ``n`` waiters of ``key`` and, if it passed, ``n2`` of ``key2``."""
        with self._lock:
            passed = op()
            woken = self._wake_locked(key, max(n, 1), FUTEX_BITSET_MATCH_ANY)
            if passed:
                woken += self._wake_locked(key2, max(n2, 1), FUTEX_BITSET_MATCH_ANY)
            return woken

    def waiters(self, key: Hashable) -> int:
        """How many tasks wait on ``key`` (tests, /proc)."""
        with self._lock:
            return len(self._queues.get(key, ()))
