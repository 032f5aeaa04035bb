"""Pause and resume of a sandbox's tasks at system-call boundaries.

The Sentry has no task freezer yet (gVisor: ``Kernel.Pause``, which stops
every task at its next entry into the Sentry). This does the same at the
only entry our composition root controls, the syscall table: ``pause``
swaps every handler in place for one that first waits for ``resume``, so
a task stops at its next system call and no host process is signalled
(a SIGSTOP'd ptrace stub would be reported to the Sentry as a fatal
signal). While not paused the table holds the original handlers: no cost.

Limits: a task blocked inside a host call (a sleep, a read) finishes that
call first; a task computing without system calls keeps running until it
makes one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sentry.kernel import SyscallTable

Handler = Callable[[Any, Any], int]


class SyscallGate:
    """Holds tasks at their next system call while paused."""

    def __init__(self, table: SyscallTable) -> None:
        self._table = table
        self._original = list(table.handlers)
        self._running = threading.Event()
        self._running.set()
        self._lock = threading.Lock()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def _gated(self, handler: Handler) -> Handler:
        running = self._running

        def gated(t: Any, args: Any) -> int:
            running.wait()
            return handler(t, args)

        return gated

    def pause(self) -> None:
        with self._lock:
            if self.paused:
                return
            self._running.clear()
            handlers = self._table.handlers
            for nr, handler in enumerate(self._original):
                if handler is not None:
                    handlers[nr] = self._gated(handler)

    def resume(self) -> None:
        with self._lock:
            self._table.handlers[:] = self._original
            self._running.set()
