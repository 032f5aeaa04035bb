"""Futexes (kernel/futex/): wait queues keyed by address.

Part 1 serves single-threaded programs: glibc issues FUTEX_WAIT only when
another thread could wake it, so a wait whose value still matches with no
other task able to wake it would sleep forever; we let it time out or fail
with EAGAIN like a spurious value change, and FUTEX_WAKE wakes waiters of
other tasks in this kernel (there are none yet)."""

from __future__ import annotations

import threading
from collections import defaultdict


class FutexTable:
    """Waiters per (mm identity, address)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[tuple[int, int], list[threading.Event]] = defaultdict(list)

    def wait(self, key: tuple[int, int], timeout: float | None) -> bool:
        """Block until woken or ``timeout`` seconds; True if woken."""
        event = threading.Event()
        with self._lock:
            self._waiters[key].append(event)
        woken = event.wait(timeout)
        with self._lock:
            waiters = self._waiters.get(key)
            if waiters is not None and event in waiters:
                waiters.remove(event)
                if not waiters:
                    del self._waiters[key]
        return woken

    def wake(self, key: tuple[int, int], n: int) -> int:
        """Wake up to ``n`` waiters; returns how many were woken."""
        with self._lock:
            waiters = self._waiters.get(key)
            if not waiters:
                return 0
            woken = waiters[:n]
            del waiters[:n]
            if not waiters:
                del self._waiters[key]
        for event in woken:
            event.set()
        return len(woken)

    def waiters(self, key: tuple[int, int]) -> int:
        """How many tasks wait on ``key``."""
        with self._lock:
            return len(self._waiters.get(key, ()))
