"""cgroupfs rendering (sentry.fsimpl.cgroupfs): the v1 and v2 layouts with
the spec's limits or Linux's defaults, usage from the Sentry's accounting,
and /proc/PID/cgroup lines from the registry."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from sentry.fsimpl.cgroupfs import V1_UNLIMITED, CgroupFilesystem
from sentry.kernel.cgroup import CgroupLimits, CgroupRegistry
from sentry.vfs.inode import Inode

LIMITS = CgroupLimits(
    memory_limit=100_000_000, memory_reservation=4096 * 10, cpu_shares=512,
    cpu_quota=50_000, cpu_period=200_000, pids_limit=64,
)  # fmt: skip


def kernel() -> SimpleNamespace:
    task = SimpleNamespace
    return SimpleNamespace(
        memory_file=SimpleNamespace(allocated_pages=3, peak_pages=8),
        tasks={1: task(tgid=1), 2: task(tgid=1), 5: task(tgid=5)},
        cgroups=CgroupRegistry(),
        tree_lock=threading.Lock(),
        thread_groups={},
    )


def read(fs: CgroupFilesystem, path: str) -> str:
    node: Inode = fs.root()
    for name in path.split("/"):
        node = node.lookup(name.encode())
    data: bytes = node.open(0, None).read(0, 4096)  # type: ignore[arg-type]
    return data.decode()


def names(node: Inode) -> list[str]:
    return sorted(d.name.decode() for d in node.readdir())


def test_v1_layout_shows_the_limits_and_usage():
    k = kernel()
    fs = CgroupFilesystem(k, LIMITS, 1)
    assert names(fs.root()) == ["cpu", "cpu,cpuacct", "cpuacct", "memory", "pids"]
    assert fs.root().lookup(b"cpu").readlink() == b"cpu,cpuacct"
    # Linux keeps memory limits in pages.
    assert read(fs, "memory/memory.limit_in_bytes") == "99999744\n"
    assert read(fs, "memory/memory.soft_limit_in_bytes") == "40960\n"
    assert read(fs, "memory/memory.usage_in_bytes") == f"{3 * 4096}\n"
    assert read(fs, "memory/memory.max_usage_in_bytes") == f"{8 * 4096}\n"
    assert read(fs, "cpu,cpuacct/cpu.shares") == "512\n"
    assert read(fs, "cpu,cpuacct/cpu.cfs_quota_us") == "50000\n"
    assert read(fs, "cpu,cpuacct/cpu.cfs_period_us") == "200000\n"
    assert read(fs, "cpu,cpuacct/cpuacct.usage") == "0\n"
    assert read(fs, "pids/pids.max") == "64\n"
    assert read(fs, "pids/pids.current") == "3\n"
    assert read(fs, "pids/cgroup.procs") == "1\n5\n"
    assert read(fs, "memory/tasks") == "1\n2\n5\n"
    assert k.cgroups.proc_cgroup() == b"3:pids:/\n2:memory:/\n1:cpu,cpuacct:/\n"


def test_v1_defaults_without_limits():
    fs = CgroupFilesystem(kernel(), CgroupLimits(), 1)
    assert read(fs, "memory/memory.limit_in_bytes") == f"{V1_UNLIMITED}\n"
    assert read(fs, "cpu,cpuacct/cpu.shares") == "1024\n"
    assert read(fs, "cpu,cpuacct/cpu.cfs_quota_us") == "-1\n"
    assert read(fs, "cpu,cpuacct/cpu.cfs_period_us") == "100000\n"
    assert read(fs, "pids/pids.max") == "max\n"


def test_v2_layout():
    k = kernel()
    fs = CgroupFilesystem(k, LIMITS, 2)
    assert "memory.max" in names(fs.root())
    assert read(fs, "cgroup.controllers") == "cpu memory pids\n"
    assert read(fs, "memory.max") == "99999744\n"
    assert read(fs, "memory.current") == f"{3 * 4096}\n"
    assert read(fs, "memory.peak") == f"{8 * 4096}\n"
    assert read(fs, "cpu.max") == "50000 200000\n"
    assert read(fs, "cpu.weight") == f"{1 + (510 * 9999) // 262142}\n"
    assert read(fs, "pids.max") == "64\n"
    assert read(fs, "pids.current") == "3\n"
    assert read(fs, "cgroup.procs") == "1\n5\n"
    assert k.cgroups.proc_cgroup() == b"0::/\n"
    default = CgroupFilesystem(kernel(), CgroupLimits(), 2)
    assert read(default, "memory.max") == "max\n"
    assert read(default, "cpu.max") == "max 100000\n"
    assert read(default, "cpu.weight") == "100\n"


def test_files_cannot_be_opened_for_writing():
    from sentry.abi.errors import EACCES

    fs = CgroupFilesystem(kernel(), LIMITS, 2)
    with pytest.raises(EACCES):
        fs.root().lookup(b"pids.max").open(1, None)  # type: ignore[arg-type]


def test_proc_cgroup_is_empty_until_a_mount():
    assert CgroupRegistry().proc_cgroup() == b""


def test_cpu_usage_is_the_sandboxs_accounted_time():
    from sentry.kernel.cputime import Usage

    def thread(user: int, system: int) -> SimpleNamespace:
        return SimpleNamespace(cpu=SimpleNamespace(sample_at=lambda now: (user, system)))

    k = kernel()
    k.tree_lock = threading.Lock()
    k.thread_groups = {
        # live threads + dead threads' time + reaped children
        1: SimpleNamespace(
            tasks=[thread(1000, 20), thread(3000, 40)],
            dead_cpu=(500, 5),
            children_usage=Usage(user_ns=7000, sys_ns=700),
        ),
        5: SimpleNamespace(tasks=[thread(2_000_000, 1_000_000)], dead_cpu=(0, 0),
                           children_usage=Usage()),
    }  # fmt: skip
    user = 1000 + 3000 + 500 + 7000 + 2_000_000
    system = 20 + 40 + 5 + 700 + 1_000_000
    v1 = CgroupFilesystem(k, LIMITS, 1)
    assert read(v1, "cpu,cpuacct/cpuacct.usage") == f"{user + system}\n"
    v2 = CgroupFilesystem(k, LIMITS, 2)
    assert read(v2, "cpu.stat") == (
        f"usage_usec {user // 1000 + system // 1000}\nuser_usec {user // 1000}\n"
        f"system_usec {system // 1000}\n"
    )
