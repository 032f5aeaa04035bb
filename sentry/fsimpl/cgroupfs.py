"""cgroupfs: a read-only view of the container's cgroup (gVisor ``fsimpl/cgroupfs``).

Enough for runtimes that size themselves from their cgroup (the JVM, Go,
CPython's CPU-count logic): the limits come from the container's spec
(``CgroupLimits``), the usage from the Sentry's own accounting, the member
lists from its tasks. Two layouts, mounted read-only:

- cgroup v1 (``cgroup`` mounts): ``cpu,cpuacct/``, ``memory/`` and
  ``pids/`` with ``cpu`` and ``cpuacct`` symlinks, as runc lays out
  /sys/fs/cgroup;
- cgroup v2 (``cgroup2`` mounts): the files of one unified directory.

Usage: memory is the MemoryFile's allocated pages (all of the sandbox's
application memory) and their peak, pids the live tasks, CPU time the
Sentry's per-task accounting (``sentry.kernel.cputime``: time in
application code is user time, time serving it system time).
The limits are the whole sandbox's view: every container of a pod sees
the same usage.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from sentry.fsimpl.proc.nodes import ProcDir, ProcFile, ProcLink
from sentry.kernel.cgroup import V1_HIERARCHIES, CgroupLimits
from sentry.kernel.cputime import group_cputime
from sentry.vfs.inode import Filesystem, Inode, StatFS

CGROUP_SUPER_MAGIC = 0x27E0EB
CGROUP2_SUPER_MAGIC = 0x63677270
PAGE_SIZE = 4096
#: mm/memcontrol.c: an unlimited v1 memory.limit_in_bytes (PAGE_COUNTER_MAX pages).
V1_UNLIMITED = 9223372036854771712
#: kernel/sched/core.c: the default and bounds of cpu.shares.
DEFAULT_SHARES = 1024
MIN_SHARES = 2
MAX_SHARES = 262144
DEFAULT_PERIOD_US = 100000


def _line(value: object) -> bytes:
    return f"{value}\n".encode()


def _pages(limit: int) -> int:
    """Linux keeps memory limits in pages (page_counter): round down."""
    return limit // PAGE_SIZE * PAGE_SIZE


class Accounting:
    """What the Sentry knows of the sandbox's usage."""

    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel

    def memory_bytes(self) -> int:
        return int(self.kernel.memory_file.allocated_pages) * PAGE_SIZE

    def memory_peak_bytes(self) -> int:
        mf = self.kernel.memory_file
        return int(getattr(mf, "peak_pages", mf.allocated_pages)) * PAGE_SIZE

    def cpu_ns(self) -> tuple[int, int]:
        """(user_ns, sys_ns) of the whole sandbox: every live process's own
        time plus what it collected from the children it reaped (a reaped
        process is counted once, in its reaper)."""
        k = self.kernel
        lock = k.tree_lock
        with lock:
            groups = list(k.thread_groups.values())
        user = system = 0
        for tg in groups:
            u, s = group_cputime(tg, lock)
            user += u + tg.children_usage.user_ns
            system += s + tg.children_usage.sys_ns
        return user, system

    def tids(self) -> list[int]:
        return sorted(self.kernel.tasks)

    def tgids(self) -> list[int]:
        return sorted({t.tgid for t in list(self.kernel.tasks.values())})


class Render:
    """The text of each cgroup file (kernel/cgroup, mm/memcontrol.c,
    kernel/sched/core.c and kernel/cgroup/pids.c formats)."""

    def __init__(self, limits: CgroupLimits, usage: Accounting) -> None:
        self.limits = limits
        self.usage = usage

    # -- shared -------------------------------------------------------------------
    def procs(self) -> bytes:
        return b"".join(_line(p) for p in self.usage.tgids())

    def tasks(self) -> bytes:
        return b"".join(_line(p) for p in self.usage.tids())

    def pids_max(self) -> bytes:
        limit = self.limits.pids_limit
        return _line(limit if limit is not None and limit > 0 else "max")

    def pids_current(self) -> bytes:
        return _line(len(self.usage.tids()))

    def memory_usage(self) -> bytes:
        return _line(self.usage.memory_bytes())

    def memory_peak(self) -> bytes:
        return _line(self.usage.memory_peak_bytes())

    def shares(self) -> int:
        shares = self.limits.cpu_shares
        if not shares:
            return DEFAULT_SHARES
        return max(MIN_SHARES, min(MAX_SHARES, shares))

    def period(self) -> int:
        return self.limits.cpu_period or DEFAULT_PERIOD_US

    # -- v1 ---------------------------------------------------------------------------
    def v1_memory_limit(self) -> bytes:
        limit = self.limits.memory_limit
        return _line(_pages(limit) if limit is not None and limit > 0 else V1_UNLIMITED)

    def v1_soft_limit(self) -> bytes:
        soft = self.limits.memory_reservation
        return _line(_pages(soft) if soft is not None and soft > 0 else V1_UNLIMITED)

    def v1_quota(self) -> bytes:
        quota = self.limits.cpu_quota
        return _line(quota if quota is not None and quota > 0 else -1)

    # -- v2 ---------------------------------------------------------------------------
    def v2_memory_max(self) -> bytes:
        limit = self.limits.memory_limit
        return _line(_pages(limit) if limit is not None and limit > 0 else "max")

    def v2_memory_low(self) -> bytes:
        low = self.limits.memory_reservation
        return _line(_pages(low) if low is not None and low > 0 else 0)

    def v2_cpu_max(self) -> bytes:
        quota = self.limits.cpu_quota
        shown = quota if quota is not None and quota > 0 else "max"
        return _line(f"{shown} {self.period()}")

    def v2_cpu_stat(self) -> bytes:
        user, system = (ns // 1000 for ns in self.usage.cpu_ns())
        return f"usage_usec {user + system}\nuser_usec {user}\nsystem_usec {system}\n".encode()

    def v2_cpu_weight(self) -> bytes:
        # The conversion runc and crun use: shares [2, 262144] -> weight [1, 10000].
        if not self.limits.cpu_shares:
            return _line(100)
        return _line(1 + ((self.shares() - 2) * 9999) // 262142)


def v1_tree(r: Render) -> dict[str, dict[str, Callable[[], bytes]]]:
    """The controllers' directories of the v1 layout and their files."""
    common: dict[str, Callable[[], bytes]] = {
        "cgroup.procs": r.procs, "tasks": r.tasks,
        "notify_on_release": lambda: b"0\n", "cgroup.clone_children": lambda: b"0\n",
    }  # fmt: skip
    return {
        "cpu,cpuacct": {
            **common,
            "cpu.shares": lambda: _line(r.shares()),
            "cpu.cfs_period_us": lambda: _line(r.period()),
            "cpu.cfs_quota_us": r.v1_quota,
            "cpuacct.usage": lambda: _line(sum(r.usage.cpu_ns())),
        },
        "memory": {
            **common,
            "memory.limit_in_bytes": r.v1_memory_limit,
            "memory.soft_limit_in_bytes": r.v1_soft_limit,
            "memory.usage_in_bytes": r.memory_usage,
            "memory.max_usage_in_bytes": r.memory_peak,
        },
        "pids": {**common, "pids.max": r.pids_max, "pids.current": r.pids_current},
    }


def v2_files(r: Render) -> dict[str, Callable[[], bytes]]:
    """The files of the v2 unified directory."""
    return {
        "cgroup.controllers": lambda: b"cpu memory pids\n",
        "cgroup.subtree_control": lambda: b"\n",
        "cgroup.type": lambda: b"domain\n",
        "cgroup.procs": r.procs,
        "cgroup.threads": r.tasks,
        "cpu.max": r.v2_cpu_max,
        "cpu.weight": r.v2_cpu_weight,
        "cpu.stat": r.v2_cpu_stat,
        "memory.max": r.v2_memory_max,
        "memory.low": r.v2_memory_low,
        "memory.current": r.memory_usage,
        "memory.peak": r.memory_peak,
        "pids.max": r.pids_max,
        "pids.current": r.pids_current,
    }


class CgroupFilesystem(Filesystem):
    """One read-only cgroupfs mount (``version`` 1 or 2)."""

    name = "cgroup"

    def __init__(self, kernel: Any, limits: CgroupLimits, version: int = 1) -> None:
        super().__init__()
        if version not in (1, 2):
            raise ValueError(f"cgroup version {version}")
        self.version = version
        self.name = "cgroup" if version == 1 else "cgroup2"
        self.magic = CGROUP_SUPER_MAGIC if version == 1 else CGROUP2_SUPER_MAGIC
        self.render = Render(limits, Accounting(kernel))
        if version == 1:
            self._root = self._v1_root()
        else:
            self._root = self._dir("/", v2_files(self.render))
        registry = getattr(kernel, "cgroups", None)
        if registry is not None:
            registry.register(version)

    def _file(self, key: str, fn: Callable[[], bytes]) -> Inode:
        return ProcFile(self, key, fn, mode=0o644)

    def _dir(self, key: str, files: dict[str, Callable[[], bytes]]) -> Inode:
        entries: dict[bytes, Callable[[], Inode]] = {
            name.encode(): functools.partial(self._file, f"{key.rstrip('/')}/{name}", fn)
            for name, fn in files.items()
        }
        return ProcDir(self, key, lambda: entries, mode=0o755)

    def _v1_root(self) -> Inode:
        entries: dict[bytes, Callable[[], Inode]] = {}
        for name, files in v1_tree(self.render).items():
            entries[name.encode()] = functools.partial(self._dir, f"/{name}", files)
        for link in ("cpu", "cpuacct"):
            entries[link.encode()] = functools.partial(
                ProcLink, self, f"/{link}", lambda: b"cpu,cpuacct"
            )
        assert {name for _, name in V1_HIERARCHIES} <= {k.decode() for k in entries}
        return ProcDir(self, "/", lambda: entries, mode=0o755)

    def root(self) -> Inode:
        return self._root

    def statfs(self) -> StatFS:
        return StatFS(type=self.magic)

    def source(self) -> str:
        return self.name
