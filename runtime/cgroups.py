"""Cgroup placement, limits and statistics for the sandbox (v1 and v2).

The sandbox process (and with it every container of the pod) is placed in
the cgroup named by ``linux.cgroupsPath``; the OCI ``resources`` (memory,
cpu, pids) become controller files. As in runsc, an empty ``cgroupsPath``
means no cgroup is created.

Host side effects go through ``CgroupFS`` (youki-style), so the logic is
tested against a fake tree; ``CgroupFS`` itself is the real one. Sources for the file
formats: Documentation/admin-guide/cgroup-v1/{memory,cpuacct,pids}.rst,
Documentation/scheduler/sched-bwc.rst, Documentation/admin-guide/cgroup-v2.rst.

``--systemd-cgroup``: ``cgroupsPath`` is then read in systemd's
``slice:prefix:name`` form and mapped to the cgroupfs path systemd would give
the scope (``a-b.slice`` → ``a.slice/a-b.slice``, ``prefix-name.scope``); the
files are written directly, without asking systemd over D-Bus.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import time
from abc import ABC, abstractmethod
from typing import Any

from runtime.errors import RuntimeFailure
from runtime.spec import Resources

log = logging.getLogger("pysandbox.cgroups")

CGROUP_ROOT = "/sys/fs/cgroup"
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "cpuset", "pids")
V2_CONTROLLERS = ("cpu", "cpuset", "memory", "pids")


class CgroupFS:
    """The file operations a cgroup manager needs, on the real host."""

    def read(self, path: str) -> str:
        with open(path) as f:
            return f.read()

    def write(self, path: str, value: str) -> None:
        # One write(2) per value: cgroup files parse each write separately.
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def makedirs(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def rmdir(self, path: str) -> None:
        # A cgroup directory is removed with rmdir(2) even though it lists
        # control files; it fails with EBUSY while processes remain.
        os.rmdir(path)

    def listdir(self, path: str) -> list[str]:
        return os.listdir(path)


class CPUStats:
    """CPU usage of a cgroup (plain classes, as the other records on a
    start's path: defining a dataclass costs every start ~0.5 ms)."""

    usage_total: int  # ns
    usage_user: int  # ns
    usage_kernel: int  # ns
    percpu: list[int]
    throttling_periods: int
    throttled_periods: int
    throttled_time: int  # ns

    def __init__(  # noqa: PLR0917 - positional, as the dataclass's were
        self,
        usage_total: int = 0,
        usage_user: int = 0,
        usage_kernel: int = 0,
        percpu: list[int] | None = None,
        throttling_periods: int = 0,
        throttled_periods: int = 0,
        throttled_time: int = 0,
    ) -> None:
        self.usage_total = usage_total
        self.usage_user = usage_user
        self.usage_kernel = usage_kernel
        self.percpu = [] if percpu is None else percpu
        self.throttling_periods = throttling_periods
        self.throttled_periods = throttled_periods
        self.throttled_time = throttled_time


class MemoryStats:
    """Memory usage of a cgroup."""

    usage: int
    max_usage: int
    limit: int
    failcnt: int
    raw: dict[str, int]

    def __init__(
        self,
        usage: int = 0,
        max_usage: int = 0,
        limit: int = 0,
        failcnt: int = 0,
        raw: dict[str, int] | None = None,
    ) -> None:
        self.usage = usage
        self.max_usage = max_usage
        self.limit = limit
        self.failcnt = failcnt
        self.raw = {} if raw is None else raw


class PidsStats:
    """Task count of a cgroup."""

    current: int
    limit: int  # 0: no limit

    def __init__(self, current: int = 0, limit: int = 0) -> None:
        self.current = current
        self.limit = limit


class Stats:
    """A cgroup's statistics, as runc's ``events --stats`` reports them."""

    cpu: CPUStats
    memory: MemoryStats
    pids: PidsStats

    def __init__(
        self,
        cpu: CPUStats | None = None,
        memory: MemoryStats | None = None,
        pids: PidsStats | None = None,
    ) -> None:
        self.cpu = CPUStats() if cpu is None else cpu
        self.memory = MemoryStats() if memory is None else memory
        self.pids = PidsStats() if pids is None else pids

    def to_runc_json(self) -> dict[str, Any]:
        """The ``data`` of runc's ``events --stats`` (libcontainer/types)."""
        return {
            "cpu": {
                "usage": {
                    "total": self.cpu.usage_total,
                    "percpu": self.cpu.percpu,
                    "kernel": self.cpu.usage_kernel,
                    "user": self.cpu.usage_user,
                },
                "throttling": {
                    "periods": self.cpu.throttling_periods,
                    "throttledPeriods": self.cpu.throttled_periods,
                    "throttledTime": self.cpu.throttled_time,
                },
            },
            "memory": {
                "usage": {
                    "limit": self.memory.limit,
                    "usage": self.memory.usage,
                    "max": self.memory.max_usage,
                    "failcnt": self.memory.failcnt,
                },
                "raw": self.memory.raw,
            },
            "pids": {"current": self.pids.current, "limit": self.pids.limit},
        }


def systemd_path(cgroups_path: str, container_id: str) -> str:
    """Map systemd's ``slice:prefix:name`` to the cgroupfs path of that scope."""
    parts = cgroups_path.split(":")
    if len(parts) != 3:
        raise RuntimeFailure(
            f'expected cgroupsPath to be of format "slice:prefix:name" for systemd '
            f"cgroups, got {cgroups_path!r} instead"
        )
    slice_name, prefix, name = parts
    slice_name = slice_name or "system.slice"
    if not slice_name.endswith(".slice") or "/" in slice_name:
        raise RuntimeFailure(f"invalid systemd slice {slice_name!r} in cgroupsPath")
    # systemd.slice(5): "a-b-c.slice" lives in a.slice/a-b.slice/a-b-c.slice.
    stem = slice_name[: -len(".slice")]
    dirs = []
    if stem != "-":
        words = stem.split("-")
        dirs = ["-".join(words[: i + 1]) + ".slice" for i in range(len(words))]
    scope = f"{prefix}-{name or container_id}.scope" if prefix else f"{name or container_id}.scope"
    return "/" + "/".join([*dirs, scope])


def cgroup_path(cgroups_path: str, container_id: str, systemd: bool) -> str:
    """The cgroup of a container, relative to each hierarchy's root."""
    if systemd:
        return systemd_path(cgroups_path, container_id)
    if ".." in cgroups_path.split("/"):
        raise RuntimeFailure(f"cgroupsPath {cgroups_path!r} must not contain '..'")
    return "/" + cgroups_path.strip("/")


class Cgroup(ABC):
    """One container/sandbox cgroup, on every hierarchy it spans."""

    version: int

    def __init__(self, path: str, root: str = CGROUP_ROOT, fs: CgroupFS | None = None) -> None:
        self.path = path
        self.root = root
        self.fs = fs or CgroupFS()

    @abstractmethod
    def dirs(self) -> list[str]:
        """The directories this cgroup owns (one per hierarchy)."""

    @abstractmethod
    def create(self) -> None:
        """Create the directories (idempotent)."""

    @abstractmethod
    def apply(self, resources: Resources) -> None:
        """Write the OCI limits."""

    @abstractmethod
    def stats(self) -> Stats:
        """Read CPU, memory and pids statistics."""

    def add(self, pid: int) -> None:
        """Move ``pid`` (all its threads) into the cgroup."""
        for d in self.dirs():
            self.fs.write(os.path.join(d, "cgroup.procs"), str(pid))

    def pids(self) -> list[int]:
        """Processes in the cgroup (its first hierarchy)."""
        text = self._read(os.path.join(self.dirs()[0], "cgroup.procs"), "")
        return [int(p) for p in text.split()]

    def destroy(self, timeout: float = 5.0) -> None:
        """Remove the directories; retries while dying processes leave (EBUSY)."""
        deadline = time.monotonic() + timeout
        for d in self.dirs():
            while True:
                try:
                    self.fs.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                        raise RuntimeFailure(f"cannot remove cgroup {d}: {exc.strerror}") from None
                    time.sleep(0.01)

    def to_json(self) -> dict[str, Any]:
        """Enough to find this cgroup again from another invocation."""
        return {"version": self.version, "path": self.path, "root": self.root}

    def _read(self, path: str, default: str) -> str:
        try:
            return self.fs.read(path).strip()
        except (FileNotFoundError, ProcessLookupError):
            return default

    def _int(self, path: str) -> int:
        text = self._read(path, "0")
        return 0 if text == "max" else int(text)

    def _kv(self, path: str) -> dict[str, int]:
        out = {}
        for line in self._read(path, "").splitlines():
            key, _, value = line.partition(" ")
            with contextlib.suppress(ValueError):
                out[key] = int(value)
        return out


class CgroupV1(Cgroup):
    """cgroup v1: one hierarchy per controller (``/sys/fs/cgroup/<controller>``)."""

    version = 1

    def _controller(self, name: str) -> str:
        return os.path.join(self.root, name, self.path.lstrip("/"))

    def _available(self) -> list[str]:
        return [c for c in V1_CONTROLLERS if self.fs.exists(os.path.join(self.root, c))]

    def dirs(self) -> list[str]:
        return [self._controller(c) for c in self._available()]

    def create(self) -> None:
        for c in self._available():
            d = self._controller(c)
            self.fs.makedirs(d)
            if c == "cpuset":
                self._init_cpuset(d)

    def _init_cpuset(self, d: str) -> None:
        """A new cpuset has empty cpus/mems; tasks cannot join until they are set
        (cgroup-v1/cpusets.rst). Copy them down from the nearest ancestor."""
        top = os.path.join(self.root, "cpuset")
        chain = []
        cur = d
        while cur != top and cur.startswith(top):
            chain.append(cur)
            cur = os.path.dirname(cur)
        for sub in reversed(chain):
            parent = os.path.dirname(sub)
            for name in ("cpuset.cpus", "cpuset.mems"):
                if not self._read(os.path.join(sub, name), ""):
                    self.fs.write(
                        os.path.join(sub, name), self._read(os.path.join(parent, name), "")
                    )

    def apply(self, resources: Resources) -> None:
        mem = resources.memory
        if mem is not None:
            d = self._controller("memory")
            if mem.limit is not None:
                self._set_memory(d, mem.limit, mem.swap)
            elif mem.swap is not None:
                self._write_memsw(d, mem.swap)
            if mem.reservation is not None:
                self.fs.write(os.path.join(d, "memory.soft_limit_in_bytes"), str(mem.reservation))
            if mem.swappiness is not None:
                self.fs.write(os.path.join(d, "memory.swappiness"), str(mem.swappiness))
            if mem.disable_oom_killer:
                self.fs.write(os.path.join(d, "memory.oom_control"), "1")
        cpu = resources.cpu
        if cpu is not None:
            d = self._controller("cpu")
            if cpu.shares:
                self.fs.write(os.path.join(d, "cpu.shares"), str(cpu.shares))
            # sched-bwc.rst: the period must be valid before a quota uses it.
            if cpu.period:
                self.fs.write(os.path.join(d, "cpu.cfs_period_us"), str(cpu.period))
            if cpu.quota is not None and cpu.quota != 0:
                self.fs.write(os.path.join(d, "cpu.cfs_quota_us"), str(cpu.quota))
            s = self._controller("cpuset")
            if cpu.cpus:
                self.fs.write(os.path.join(s, "cpuset.cpus"), cpu.cpus)
            if cpu.mems:
                self.fs.write(os.path.join(s, "cpuset.mems"), cpu.mems)
        if resources.pids is not None:
            limit = resources.pids.limit
            value = "max" if limit <= 0 else str(limit)
            self.fs.write(os.path.join(self._controller("pids"), "pids.max"), value)

    def _set_memory(self, d: str, limit: int, swap: int | None) -> None:
        """memory.limit_in_bytes must stay <= memory.memsw.limit_in_bytes, so
        the order of the two writes depends on the direction of the change."""
        lim = os.path.join(d, "memory.limit_in_bytes")
        value = "-1" if limit < 0 else str(limit)
        if swap is None:
            self.fs.write(lim, value)
            return
        try:
            self.fs.write(lim, value)
            self._write_memsw(d, swap)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            self._write_memsw(d, swap)
            self.fs.write(lim, value)

    def _write_memsw(self, d: str, swap: int) -> None:
        path = os.path.join(d, "memory.memsw.limit_in_bytes")
        if not self.fs.exists(path):
            raise RuntimeFailure(
                "linux.resources.memory.swap is set but the kernel has no swap accounting "
                "(memory.memsw.limit_in_bytes is missing)"
            )
        self.fs.write(path, "-1" if swap < 0 else str(swap))

    def stats(self) -> Stats:
        s = Stats()
        acct = self._controller("cpuacct")
        s.cpu.usage_total = self._int(os.path.join(acct, "cpuacct.usage"))
        s.cpu.percpu = [
            int(x) for x in self._read(os.path.join(acct, "cpuacct.usage_percpu"), "").split()
        ]
        # cpuacct.stat is in USER_HZ ticks; runc reports nanoseconds.
        ticks = self._kv(os.path.join(acct, "cpuacct.stat"))
        ns_per_tick = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
        s.cpu.usage_user = ticks.get("user", 0) * ns_per_tick
        s.cpu.usage_kernel = ticks.get("system", 0) * ns_per_tick
        cpu_stat = self._kv(os.path.join(self._controller("cpu"), "cpu.stat"))
        s.cpu.throttling_periods = cpu_stat.get("nr_periods", 0)
        s.cpu.throttled_periods = cpu_stat.get("nr_throttled", 0)
        s.cpu.throttled_time = cpu_stat.get("throttled_time", 0)
        mem = self._controller("memory")
        s.memory.usage = self._int(os.path.join(mem, "memory.usage_in_bytes"))
        s.memory.max_usage = self._int(os.path.join(mem, "memory.max_usage_in_bytes"))
        s.memory.limit = self._int(os.path.join(mem, "memory.limit_in_bytes"))
        s.memory.failcnt = self._int(os.path.join(mem, "memory.failcnt"))
        s.memory.raw = self._kv(os.path.join(mem, "memory.stat"))
        pids = self._controller("pids")
        s.pids.current = self._int(os.path.join(pids, "pids.current"))
        s.pids.limit = self._int(os.path.join(pids, "pids.max"))
        return s


class CgroupV2(Cgroup):
    """cgroup v2: one unified hierarchy; controllers enabled top-down."""

    version = 2

    def _dir(self) -> str:
        return os.path.join(self.root, self.path.lstrip("/"))

    def dirs(self) -> list[str]:
        return [self._dir()]

    def create(self) -> None:
        d = self._dir()
        self.fs.makedirs(d)
        # cgroup-v2.rst "Enabling and Disabling": a controller is usable in a
        # cgroup only if every ancestor lists it in cgroup.subtree_control.
        available = self._read(os.path.join(self.root, "cgroup.controllers"), "").split()
        wanted = [c for c in V2_CONTROLLERS if c in available]
        cur = self.root
        for part in self.path.strip("/").split("/")[:-1] if self.path.strip("/") else []:
            self._enable(cur, wanted)
            cur = os.path.join(cur, part)
        self._enable(cur, wanted)

    def _enable(self, d: str, controllers: list[str]) -> None:
        if not controllers:
            return
        enabled = self._read(os.path.join(d, "cgroup.subtree_control"), "").split()
        missing = [c for c in controllers if c not in enabled]
        if missing:
            self.fs.write(
                os.path.join(d, "cgroup.subtree_control"), " ".join(f"+{c}" for c in missing)
            )

    def _require(self, name: str) -> str:
        path = os.path.join(self._dir(), name)
        if not self.fs.exists(path):
            controller = name.split(".", maxsplit=1)[0]
            raise RuntimeFailure(
                f"cgroup v2 controller {controller!r} is not enabled for {self._dir()} "
                f"({name} is missing)"
            )
        return path

    def apply(self, resources: Resources) -> None:
        mem = resources.memory
        if mem is not None:
            if mem.limit is not None:
                self.fs.write(
                    self._require("memory.max"), "max" if mem.limit < 0 else str(mem.limit)
                )
            if mem.swap is not None:
                # OCI swap is memory+swap (v1 semantics); v2 limits swap alone.
                if mem.swap < 0:
                    swap = "max"
                else:
                    swap = str(max(mem.swap - (mem.limit or 0), 0))
                self.fs.write(self._require("memory.swap.max"), swap)
            if mem.reservation is not None:
                self.fs.write(self._require("memory.low"), str(mem.reservation))
            if mem.disable_oom_killer:
                raise RuntimeFailure("disableOOMKiller is not supported on cgroup v2")
        cpu = resources.cpu
        if cpu is not None:
            if cpu.shares:
                # The conversion runc and crun use: shares [2, 262144] → weight [1, 10000].
                weight = 1 + ((cpu.shares - 2) * 9999) // 262142
                self.fs.write(self._require("cpu.weight"), str(weight))
            if cpu.quota or cpu.period:
                quota = "max" if not cpu.quota or cpu.quota < 0 else str(cpu.quota)
                self.fs.write(self._require("cpu.max"), f"{quota} {cpu.period or 100000}")
            if cpu.cpus:
                self.fs.write(self._require("cpuset.cpus"), cpu.cpus)
            if cpu.mems:
                self.fs.write(self._require("cpuset.mems"), cpu.mems)
        if resources.pids is not None:
            limit = resources.pids.limit
            self.fs.write(self._require("pids.max"), "max" if limit <= 0 else str(limit))

    def stats(self) -> Stats:
        s = Stats()
        d = self._dir()
        cpu = self._kv(os.path.join(d, "cpu.stat"))
        s.cpu.usage_total = cpu.get("usage_usec", 0) * 1000
        s.cpu.usage_user = cpu.get("user_usec", 0) * 1000
        s.cpu.usage_kernel = cpu.get("system_usec", 0) * 1000
        s.cpu.throttling_periods = cpu.get("nr_periods", 0)
        s.cpu.throttled_periods = cpu.get("nr_throttled", 0)
        s.cpu.throttled_time = cpu.get("throttled_usec", 0) * 1000
        s.memory.usage = self._int(os.path.join(d, "memory.current"))
        s.memory.max_usage = self._int(os.path.join(d, "memory.peak"))
        s.memory.limit = self._int(os.path.join(d, "memory.max"))
        s.memory.failcnt = self._kv(os.path.join(d, "memory.events")).get("max", 0)
        s.memory.raw = self._kv(os.path.join(d, "memory.stat"))
        s.pids.current = self._int(os.path.join(d, "pids.current"))
        s.pids.limit = self._int(os.path.join(d, "pids.max"))
        return s


def detect_version(root: str = CGROUP_ROOT, fs: CgroupFS | None = None) -> int:
    """2 on a pure unified hierarchy (cgroup.controllers at the root), else 1.

    A hybrid host (v1 controllers plus an empty ``unified`` mount, like this
    one) is v1: the controllers live in the v1 hierarchies.
    """
    fs = fs or CgroupFS()
    return 2 if fs.exists(os.path.join(root, "cgroup.controllers")) else 1


def new(
    path: str, root: str = CGROUP_ROOT, fs: CgroupFS | None = None, version: int | None = None
) -> Cgroup:
    """The cgroup manager for ``path`` on this host's hierarchy."""
    version = version or detect_version(root, fs)
    cls: type[Cgroup] = CgroupV2 if version == 2 else CgroupV1
    return cls(path, root, fs)


def from_json(data: dict[str, Any], fs: CgroupFS | None = None) -> Cgroup:
    """Rebuild a manager saved with ``Cgroup.to_json``."""
    return new(data["path"], data.get("root", CGROUP_ROOT), fs, data["version"])


def set_oom_score_adj(pid: int, value: int, proc: str = "/proc") -> int:
    """Set a process's oom_score_adj; returns the value in effect.

    Lowering it below the process's minimum needs CAP_SYS_RESOURCE
    (proc(5), /proc/pid/oom_score_adj; fs/proc/base.c returns EACCES). Without
    that capability the value is clamped to the current one and logged, not
    treated as a failure: the sandbox is still confined by its cgroup.
    """
    path = f"{proc}/{pid}/oom_score_adj"
    try:
        with open(path, "w") as f:
            f.write(str(value))
        return value
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM):
            raise
    with open(path) as f:
        current = int(f.read())
    log.warning(
        "cannot set oom_score_adj of %d to %d without CAP_SYS_RESOURCE; keeping %d",
        pid,
        value,
        current,
    )
    return current
