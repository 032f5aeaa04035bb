"""The task on whose behalf the current host thread runs a file operation.

procfs needs the caller to answer ``/proc/self`` and ``/proc/thread-self``.
Each task runs on its own host thread, so a thread-local is exact; the file
syscall handlers set it before walking a path (``set_current_task``), and
the kernel may set it once when a task thread starts.
"""

from __future__ import annotations

import threading
from typing import Any

_local = threading.local()


def set_current_task(task: Any) -> None:
    """Record ``task`` as the caller of file operations on this thread."""
    _local.task = task


def current_task() -> Any | None:
    """The task set on this thread, or None outside a task."""
    return getattr(_local, "task", None)
