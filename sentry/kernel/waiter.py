"""Wait queues: how a blocked task learns that a file became ready (Linux
``wait_queue_head_t`` in include/linux/wait.h, gVisor ``waiter.Queue``).

A file with a wait queue (a pipe, an eventfd) calls ``notify(events)`` after
every state change; a task blocked in read, write, poll or select registers
an entry with the events it cares about and sleeps in ``Task.block``. The
notification only wakes the sleeper, which re-checks its condition itself,
so spurious wake-ups are harmless and no wake-up is lost (the condition is
checked after registering, before the first sleep).

Nothing here polls: a sleeper is woken by ``notify``, by a signal or kill
(``Task.block`` returns True) or by its deadline.

Lock order: a file's own lock, then the queue's lock (``notify`` may be
called with the file's lock held; wake callbacks never take file locks).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from sentry.abi.errors import EAGAIN, ERESTARTSYS, LinuxError

_R = TypeVar("_R")


class WaitEntry:
    """One registration: wake ``callback`` when any of ``mask`` happens."""

    __slots__ = ("callback", "mask")

    def __init__(self, callback: Callable[[], None], mask: int) -> None:
        self.callback = callback
        self.mask = mask


class WaitQueue:
    """The sleepers of one file (or one end of a pipe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[WaitEntry] = []

    def add(self, callback: Callable[[], None], mask: int) -> WaitEntry:
        """Register ``callback`` for ``mask``; pass the result to ``remove``."""
        entry = WaitEntry(callback, mask)
        with self._lock:
            self._entries.append(entry)
        return entry

    def remove(self, entry: WaitEntry) -> None:
        with self._lock:
            try:
                self._entries.remove(entry)
            except ValueError:
                pass

    def notify(self, events: int) -> None:
        """Wake every sleeper interested in one of ``events``."""
        if not self._entries:  # unlocked peek: the common case has no sleeper
            return
        with self._lock:
            wake = [e.callback for e in self._entries if e.mask & events]
        for callback in wake:
            callback()

    def __len__(self) -> int:
        return len(self._entries)


class Waiter:
    """A sleeping thread: a task (interruptible by signals and kills) or,
    outside any task (unit tests, kernel threads), a plain event."""

    def __init__(self, task: Any | None) -> None:
        self.task = task
        self._event = threading.Event()

    def wake(self) -> None:
        if self.task is not None:
            self.task.wake()
        else:
            self._event.set()

    def sleep(self, timeout: float | None) -> bool:
        """Sleep until woken or ``timeout``; True if the task was interrupted."""
        if self.task is not None:
            return bool(self.task.block(timeout))
        self._event.wait(timeout)
        self._event.clear()
        return False


def wait_for(
    attempt: Callable[[], _R | None],
    queues: Iterable[tuple[WaitQueue, int]],
    task: Any | None,
    *,
    deadline: float | None = None,
    nonblock: bool = False,
    interrupted: type[LinuxError] = ERESTARTSYS,
) -> _R | None:
    """Call ``attempt`` until it returns something other than None.

    ``attempt`` runs first without registering (the fast path); if it would
    block, the caller is EAGAIN with ``nonblock``, else it sleeps on
    ``queues`` (each with its event mask) until ``attempt`` succeeds (its
    result), ``deadline`` (a ``time.monotonic()`` value) passes (None) or the
    task is interrupted (``interrupted`` is raised; the syscall layer turns
    the restart codes into a restart or EINTR)."""
    result = attempt()
    if result is not None:
        return result
    if nonblock:
        raise EAGAIN
    waiter = Waiter(task)
    entries = [(q, q.add(waiter.wake, mask)) for q, mask in queues]
    try:
        while True:
            result = attempt()
            if result is not None:
                return result
            timeout = None
            if deadline is not None:
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    return None
            if waiter.sleep(timeout):
                raise interrupted
    finally:
        for q, entry in entries:
            q.remove(entry)
