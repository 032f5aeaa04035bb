"""The CPUs the Sentry may run on, and putting a thread back on all of them.

The ptrace platform pins each tracer thread to the CPU it runs on for a
while (``PIN_STICKY`` in ``sentry.platform.ptrace``), so that a round trip
to its stub never crosses CPUs. A thread started by a pinned thread
inherits that one-CPU mask (sched_setaffinity(2) is per thread and
copied by clone), so the Sentry's long-lived helper threads call
``unpin_thread`` before they start their work.
"""

from __future__ import annotations

import contextlib
import os

#: The CPU set of the process when the Sentry was imported, before any
#: tracer pinned itself.
ALLOWED = frozenset(os.sched_getaffinity(0))


def unpin_thread() -> None:
    """Let the calling thread run on every CPU in ``ALLOWED`` again."""
    # EINVAL if the cpuset shrank since import: keep the mask the kernel
    # gave this thread rather than fail a helper thread.
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, ALLOWED)


def move_thread(cpu: int) -> None:
    """Pin the calling thread to ``cpu`` (a new tracer thread, before its
    first switch pins it there for a lease)."""
    os.sched_setaffinity(0, (cpu,))
