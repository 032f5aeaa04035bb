"""runtime/boot/specmounts: every spec mount type becomes a Sentry file
system on a real VFS (over a temporary host directory)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from runtime import spec as ocispec
from runtime.boot.gofermounts import SpecMount
from runtime.boot.specmounts import cgroup_limits, mount_all
from runtime.errors import RuntimeFailure
from sentry.fsimpl import setup_root
from sentry.kernel.cgroup import CgroupLimits, CgroupRegistry
from sentry.kernel.mq import Registry
from sentry.vfs import FSContext, VirtualFilesystem
from tests.vfs.fakes import FakeCreds

OPTS = ("nosuid", "noexec", "nodev")


@pytest.fixture
def tree(tmp_path: Path):
    for d in ("dev", "proc", "sys", "tmp", "mnt"):
        (tmp_path / d).mkdir()
    vfs = VirtualFilesystem()
    kernel = SimpleNamespace(
        mq_registry=Registry(),
        cgroups=CgroupRegistry(),
        memory_file=SimpleNamespace(allocated_pages=0),
        tasks={},
    )
    root = setup_root(vfs, str(tmp_path), kernel=kernel)
    return vfs, kernel, root


def by_path(vfs: VirtualFilesystem, root) -> dict[bytes, object]:
    return {vfs.path_of(vfs.root_of(m), root): m for m in vfs.mounts() if m.mountpoint}


def test_every_type_is_a_sentry_file_system(tree):
    vfs, kernel, root = tree
    resources = ocispec.Resources(
        memory=ocispec.MemoryResources(limit=1 << 30), pids=ocispec.PidsResources(limit=10)
    )
    mounts = [
        SpecMount("/proc", "proc", OPTS),
        SpecMount("/dev/mqueue", "mqueue", OPTS),
        SpecMount("/sys", "sysfs", (*OPTS, "ro")),
        SpecMount("/dev/pts", "devpts", ("gid=5", "mode=0620")),
        SpecMount("/sys/fs/cgroup", "cgroup", (*OPTS, "ro")),
        SpecMount("/mnt/cg2", "cgroup2", OPTS),
        SpecMount("/mnt/sys", "sysfs", OPTS),
        SpecMount("/mnt/proc", "proc", OPTS),
        SpecMount("/mnt/t", "tmpfs", ("mode=700",)),
    ]
    mount_all(vfs, kernel, root, mounts, resources)
    table = by_path(vfs, root)
    assert table[b"/dev/mqueue"].fs.name == "mqueue"  # type: ignore[attr-defined]
    assert table[b"/dev/mqueue"].fs is kernel.mq_registry.fs  # type: ignore[attr-defined]
    # The built-ins are remounted with the spec's flags, not duplicated.
    assert [p for p in table if p == b"/sys"] == [b"/sys"]
    assert table[b"/sys"].readonly  # type: ignore[attr-defined]
    assert table[b"/dev/pts"].options == "gid=5,mode=0620"  # type: ignore[attr-defined]
    cg = table[b"/sys/fs/cgroup"]
    assert cg.fs.name == "cgroup" and cg.readonly  # type: ignore[attr-defined]
    assert table[b"/mnt/cg2"].fs.name == "cgroup2"  # type: ignore[attr-defined]
    assert table[b"/mnt/cg2"].readonly  # type: ignore[attr-defined]
    assert table[b"/mnt/sys"].fs.name == "sysfs"  # type: ignore[attr-defined]
    assert table[b"/mnt/proc"].fs.name == "proc"  # type: ignore[attr-defined]
    ctx = FSContext(root, root)
    limit = vfs.open_path(
        ctx, b"/sys/fs/cgroup/memory/memory.limit_in_bytes", 0, 0, FakeCreds.root()
    )
    assert limit.read(100) == b"1073741824\n"
    assert kernel.cgroups.proc_cgroup().endswith(b"1:cpu,cpuacct:/\n0::/\n")


def test_unknown_types_are_a_clear_error(tree):
    vfs, kernel, root = tree
    with pytest.raises(RuntimeFailure, match="type 'nfs' is not supported"):
        mount_all(vfs, kernel, root, [SpecMount("/mnt/x", "nfs", ())], None)


def test_cgroup_limits_from_resources():
    assert cgroup_limits(None) == CgroupLimits()
    r = ocispec.Resources(cpu=ocispec.CPUResources(shares=2048, quota=1000, period=5000))
    assert cgroup_limits(r) == CgroupLimits(cpu_shares=2048, cpu_quota=1000, cpu_period=5000)


def test_kernel_mounts_without_a_mount_point_in_a_readonly_root_are_skipped(tmp_path: Path):
    (tmp_path / "dev").mkdir()
    vfs = VirtualFilesystem()
    kernel = SimpleNamespace(mq_registry=Registry(), cgroups=CgroupRegistry())
    root = setup_root(vfs, str(tmp_path), readonly=True, kernel=kernel)
    mounts = [
        SpecMount("/sys", "sysfs", ("ro",)),
        SpecMount("/sys/fs/cgroup", "cgroup", ("ro",)),
        SpecMount("/dev/mqueue", "mqueue", ()),
    ]
    mount_all(vfs, kernel, root, mounts, None)
    table = by_path(vfs, root)
    assert b"/sys" not in table and b"/sys/fs/cgroup" not in table
    assert b"/dev/mqueue" in table  # /dev is the Sentry's own, writable
    with pytest.raises(RuntimeFailure, match="/data"):
        mount_all(vfs, kernel, root, [SpecMount("/data", "tmpfs", ())], None)
