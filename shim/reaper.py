"""Child-subreaper duties: reap orphans without stealing tracked children.

The shim is a child subreaper (prctl(2) PR_SET_CHILD_SUBREAPER, as
containerd's shims, shim_linux.go), so processes orphaned below it are
reparented to it and must be reaped. Children some other code waits for
(a backend's ``Popen``, the sandbox process) are *protected*: the reaper
only collects zombies listed in /proc/self/task/*/children (proc(5)) whose
pid is not protected, one ``waitpid(pid, WNOHANG)`` each, never
``waitpid(-1)``.
"""

from __future__ import annotations

import contextlib
import os
import threading

_protected: set[int] = set()
_lock = threading.Lock()

PR_SET_CHILD_SUBREAPER = 36


def protect(pid: int) -> None:
    """Leave ``pid`` to whoever spawned it."""
    with _lock:
        _protected.add(pid)


def unprotect(pid: int) -> None:
    with _lock:
        _protected.discard(pid)


def _children() -> set[int]:
    found: set[int] = set()
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return found
    for tid in tids:
        with contextlib.suppress(OSError), open(f"/proc/self/task/{tid}/children") as f:
            found.update(int(x) for x in f.read().split())
    return found


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    # The state follows the last ')' (the comm may contain parentheses).
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] == b"Z"


def reap_orphans() -> list[int]:
    """Reap every unprotected zombie child; returns their pids."""
    reaped = []
    with _lock:
        protected = set(_protected)
    for pid in _children() - protected:
        if not _is_zombie(pid):
            continue
        with contextlib.suppress(ChildProcessError):
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                reaped.append(pid)
    return reaped
