"""OOM kills in the sandbox's cgroup, for ``/tasks/oom`` before ``/tasks/exit``.

cgroup v1: an eventfd registered through ``cgroup.event_control`` on
``memory.oom_control`` fires on every OOM in the cgroup, and once more when
the cgroup is removed (cgroup-v1/memory.rst §9 "OOM Control"). cgroup v2:
the ``oom_kill`` counter of ``memory.events`` (cgroup-v2.rst). In both cases
the counter (v1 ``oom_kill`` in memory.oom_control, kernel ≥ 4.13) is also
read when a container's init exits, so an OOM is reported before the exit
even if the notification thread has not run yet (CRI marks the container
OOMKilled only when TaskOOM arrives first; gVisor #12838).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable

from runtime.cgroups import Cgroup

log = logging.getLogger("pysandbox.shim.oom")


def _counter(text: str, key: str) -> int:
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key:
            return int(parts[1])
    return 0


def _memory_dir(cgroup: Cgroup) -> str | None:
    """The directory holding the memory controller's files, if it exists."""
    if cgroup.version == 2:
        d = cgroup.dirs()[0]
    else:
        d = os.path.join(cgroup.root, "memory", cgroup.path.lstrip("/"))
    return d if os.path.isdir(d) else None


class OOMWatcher:
    """Counts OOM kills of one cgroup; optionally notifies as they happen."""

    def __init__(self, cgroup: Cgroup) -> None:
        self.cgroup = cgroup
        self.dir = _memory_dir(cgroup)
        self._seen = self.kills()
        self._lock = threading.Lock()
        self._efd: int | None = None

    def kills(self) -> int:
        """The cgroup's OOM kill counter (0 when unreadable)."""
        if self.dir is None:
            return 0
        name = "memory.events" if self.cgroup.version == 2 else "memory.oom_control"
        try:
            with open(os.path.join(self.dir, name)) as f:
                return _counter(f.read(), "oom_kill")
        except (OSError, ValueError):
            return 0

    def new_kills(self) -> int:
        """How many OOM kills happened since the last call (or construction)."""
        with self._lock:
            now = self.kills()
            fresh, self._seen = max(0, now - self._seen), max(now, self._seen)
            return fresh

    def watch(self, on_oom: Callable[[], None]) -> bool:
        """Start a v1 eventfd thread calling ``on_oom`` on each notification
        (``on_oom`` checks :meth:`new_kills`); False if unsupported.

        On v2 there is no eventfd; callers rely on :meth:`new_kills` at exit.
        """
        if self.cgroup.version != 1 or self.dir is None:
            return False
        control = os.path.join(self.dir, "memory.oom_control")
        try:
            efd = os.eventfd(0, os.EFD_CLOEXEC)
            cfd = os.open(control, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            log.warning("cannot watch OOM of %s: %s", self.dir, exc)
            return False
        try:
            with open(os.path.join(self.dir, "cgroup.event_control"), "w") as f:
                f.write(f"{efd} {cfd}")
        except OSError as exc:
            log.warning("cannot register OOM eventfd for %s: %s", self.dir, exc)
            os.close(efd)
            return False
        finally:
            os.close(cfd)
        self._efd = efd
        threading.Thread(target=self._run, args=(efd, on_oom), daemon=True, name="oom").start()
        return True

    def _run(self, efd: int, on_oom: Callable[[], None]) -> None:
        try:
            while True:
                try:
                    os.eventfd_read(efd)
                except OSError:
                    return
                if not os.path.exists(self.dir or ""):
                    return  # the cgroup was removed: the kernel's last notification
                # The counter is consumed by ``on_oom`` on the event loop, the
                # same thread as the exit path's check: whichever runs first
                # publishes the OOM, and always before the exit.
                on_oom()
        finally:
            with contextlib.suppress(OSError):
                os.close(efd)
