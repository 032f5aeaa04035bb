"""Cgroup hierarchies the sandbox shows (gVisor ``kernel.CgroupRegistry``).

The Sentry does not enforce cgroup limits itself (the host cgroup the
runtime put the sandbox in does); it shows the container's own limits and
the Sentry's usage through cgroupfs (``sentry.fsimpl.cgroupfs``). This
registry records which hierarchies a cgroupfs mount made visible, so that
/proc/PID/cgroup lists them, each with the path "/" (every process is in
its hierarchy's root, as gVisor shows).
"""

from __future__ import annotations

import threading
from typing import NamedTuple

#: The cgroup v1 hierarchies cgroupfs shows, by hierarchy ID (the names of
#: their directories and of their /proc/PID/cgroup lines).
V1_HIERARCHIES: tuple[tuple[int, str], ...] = ((1, "cpu,cpuacct"), (2, "memory"), (3, "pids"))


class CgroupLimits(NamedTuple):
    """A container's linux.resources as cgroupfs shows them (None: not set)."""

    memory_limit: int | None = None
    memory_reservation: int | None = None
    cpu_shares: int | None = None
    cpu_quota: int | None = None
    cpu_period: int | None = None
    pids_limit: int | None = None


class CgroupRegistry:
    """The hierarchies mounted so far (v1 controllers and/or the v2 tree)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.v1 = False
        self.v2 = False

    def register(self, version: int) -> None:
        """A cgroupfs of ``version`` (1 or 2) was mounted."""
        with self._lock:
            if version == 1:
                self.v1 = True
            else:
                self.v2 = True

    def proc_cgroup(self) -> bytes:
        """/proc/PID/cgroup (kernel/cgroup/cgroup.c proc_cgroup_show): one
        "ID:controllers:path" line per hierarchy, highest ID first, the v2
        tree as "0::/" last."""
        lines = []
        if self.v1:
            lines += [f"{hid}:{name}:/\n" for hid, name in reversed(V1_HIERARCHIES)]
        if self.v2:
            lines.append("0::/\n")
        return "".join(lines).encode()
