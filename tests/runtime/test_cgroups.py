"""Cgroup managers: limits written to the right files (fake tree) and for real (root)."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from runtime import cgroups
from runtime.errors import RuntimeFailure
from runtime.spec import CPUResources, MemoryResources, PidsResources, Resources


class FakeFS(cgroups.CgroupFS):
    """A cgroup tree in a temporary directory; rmdir drops the control files."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, str]] = []

    def write(self, path: str, value: str) -> None:
        self.writes.append((path, value))
        Path(path).write_text(value)

    def rmdir(self, path: str) -> None:
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            raise FileNotFoundError(path)


def v1_tree(tmp_path: Path) -> Path:
    for c in cgroups.V1_CONTROLLERS:
        (tmp_path / c).mkdir()
    (tmp_path / "cpuset" / "cpuset.cpus").write_text("0-3\n")
    (tmp_path / "cpuset" / "cpuset.mems").write_text("0\n")
    return tmp_path


def test_v1_create_apply_destroy(tmp_path: Path) -> None:
    root = v1_tree(tmp_path)
    fs = FakeFS()
    cg = cgroups.new("/pods/c1", str(root), fs)
    assert isinstance(cg, cgroups.CgroupV1)
    cg.create()
    # cpuset.cpus/mems are inherited down the whole new chain.
    assert (root / "cpuset/pods/cpuset.cpus").read_text() == "0-3"
    assert (root / "cpuset/pods/c1/cpuset.mems").read_text() == "0"
    (root / "memory/pods/c1/memory.memsw.limit_in_bytes").write_text("-1")
    cg.apply(
        Resources(
            memory=MemoryResources(limit=1 << 26, swap=1 << 27, reservation=1 << 25, swappiness=10),
            cpu=CPUResources(shares=512, quota=50000, period=100000, cpus="1"),
            pids=PidsResources(limit=32),
        )
    )
    c = root
    assert (c / "memory/pods/c1/memory.limit_in_bytes").read_text() == str(1 << 26)
    assert (c / "memory/pods/c1/memory.memsw.limit_in_bytes").read_text() == str(1 << 27)
    assert (c / "memory/pods/c1/memory.soft_limit_in_bytes").read_text() == str(1 << 25)
    assert (c / "memory/pods/c1/memory.swappiness").read_text() == "10"
    assert (c / "cpu/pods/c1/cpu.shares").read_text() == "512"
    assert (c / "cpu/pods/c1/cpu.cfs_quota_us").read_text() == "50000"
    assert (c / "cpuset/pods/c1/cpuset.cpus").read_text() == "1"
    assert (c / "pids/pods/c1/pids.max").read_text() == "32"
    names = [os.path.basename(p) for p, _ in fs.writes]
    assert names.index("cpu.cfs_period_us") < names.index("cpu.cfs_quota_us")
    cg.add(1234)
    assert (c / "pids/pods/c1/cgroup.procs").read_text() == "1234"
    assert cg.pids() == [1234]
    cg.destroy()
    assert not any((c / ctl / "pods/c1").exists() for ctl in cgroups.V1_CONTROLLERS)
    cg.destroy()  # idempotent


def test_v1_memsw_written_first_when_limit_rises(tmp_path: Path) -> None:
    """The kernel refuses memory > memsw with EINVAL; raising both needs memsw first."""
    root = v1_tree(tmp_path)

    class StrictFS(FakeFS):
        def write(self, path: str, value: str) -> None:
            d = os.path.dirname(path)
            if path.endswith("memory.limit_in_bytes"):
                memsw = Path(d, "memory.memsw.limit_in_bytes").read_text()
                if int(memsw) != -1 and int(value) > int(memsw):
                    raise OSError(errno.EINVAL, "Invalid argument")
            super().write(path, value)

    fs = StrictFS()
    cg = cgroups.CgroupV1("/c", str(root), fs)
    cg.create()
    (root / "memory/c/memory.memsw.limit_in_bytes").write_text("100")
    cg.apply(Resources(memory=MemoryResources(limit=1000, swap=2000)))
    assert (root / "memory/c/memory.limit_in_bytes").read_text() == "1000"
    assert (root / "memory/c/memory.memsw.limit_in_bytes").read_text() == "2000"


def test_v1_swap_without_accounting_is_clear(tmp_path: Path) -> None:
    cg = cgroups.CgroupV1("/c", str(v1_tree(tmp_path)), FakeFS())
    cg.create()
    with pytest.raises(RuntimeFailure, match="no swap accounting"):
        cg.apply(Resources(memory=MemoryResources(limit=10, swap=20)))


def test_v1_stats(tmp_path: Path) -> None:
    root = v1_tree(tmp_path)
    cg = cgroups.CgroupV1("/c", str(root), FakeFS())
    cg.create()
    files = {
        "cpuacct/c/cpuacct.usage": "5000\n",
        "cpuacct/c/cpuacct.usage_percpu": "2000 3000 \n",
        "cpuacct/c/cpuacct.stat": "user 2\nsystem 1\n",
        "cpu/c/cpu.stat": "nr_periods 7\nnr_throttled 2\nthrottled_time 99\n",
        "memory/c/memory.usage_in_bytes": "4096\n",
        "memory/c/memory.max_usage_in_bytes": "8192\n",
        "memory/c/memory.limit_in_bytes": "9223372036854771712\n",
        "memory/c/memory.failcnt": "0\n",
        "memory/c/memory.stat": "cache 10\nrss 20\n",
        "pids/c/pids.current": "3\n",
        "pids/c/pids.max": "max\n",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    s = cg.stats()
    tick = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    assert (s.cpu.usage_total, s.cpu.percpu) == (5000, [2000, 3000])
    assert (s.cpu.usage_user, s.cpu.usage_kernel) == (2 * tick, tick)
    assert (s.cpu.throttling_periods, s.cpu.throttled_periods, s.cpu.throttled_time) == (7, 2, 99)
    assert (s.memory.usage, s.memory.max_usage) == (4096, 8192)
    assert s.memory.raw == {"cache": 10, "rss": 20}
    assert (s.pids.current, s.pids.limit) == (3, 0)
    j = s.to_runc_json()
    assert j["cpu"]["usage"]["percpu"] == [2000, 3000]
    assert j["memory"]["usage"]["usage"] == 4096
    assert j["pids"] == {"current": 3, "limit": 0}


def v2_tree(tmp_path: Path, controllers: str = "cpuset cpu io memory pids") -> Path:
    (tmp_path / "cgroup.controllers").write_text(controllers + "\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    return tmp_path


def test_v2_create_enables_controllers_down_the_path(tmp_path: Path) -> None:
    root = v2_tree(tmp_path)
    fs = FakeFS()
    assert cgroups.detect_version(str(root), fs) == 2
    cg = cgroups.new("/a/b", str(root), fs)
    assert isinstance(cg, cgroups.CgroupV2)
    cg.create()
    assert (root / "cgroup.subtree_control").read_text() == "+cpu +cpuset +memory +pids"
    assert (root / "a/cgroup.subtree_control").read_text() == "+cpu +cpuset +memory +pids"
    assert not (root / "a/b/cgroup.subtree_control").exists()


def test_v2_apply_converts_units(tmp_path: Path) -> None:
    root = v2_tree(tmp_path)
    cg = cgroups.CgroupV2("/c", str(root), FakeFS())
    cg.create()
    for name in (
        "memory.max",
        "memory.swap.max",
        "memory.low",
        "cpu.weight",
        "cpu.max",
        "pids.max",
    ):
        (root / "c" / name).write_text("")
    cg.apply(
        Resources(
            memory=MemoryResources(limit=1000, swap=3000, reservation=500),
            cpu=CPUResources(shares=1024, quota=20000, period=100000),
            pids=PidsResources(limit=0),
        )
    )
    read = lambda n: (root / "c" / n).read_text()  # noqa: E731
    assert read("memory.max") == "1000"
    assert read("memory.swap.max") == "2000"  # OCI swap counts memory+swap
    assert read("memory.low") == "500"
    assert read("cpu.weight") == "39"  # 1 + (1024-2)*9999/262142
    assert read("cpu.max") == "20000 100000"
    assert read("pids.max") == "max"


def test_v2_missing_controller_is_named(tmp_path: Path) -> None:
    root = v2_tree(tmp_path, "")
    cg = cgroups.CgroupV2("/c", str(root), FakeFS())
    cg.create()
    with pytest.raises(RuntimeFailure, match="controller 'pids' is not enabled"):
        cg.apply(Resources(pids=PidsResources(limit=5)))


def test_v2_stats(tmp_path: Path) -> None:
    root = v2_tree(tmp_path)
    (root / "c").mkdir()
    (root / "c/cpu.stat").write_text("usage_usec 10\nuser_usec 6\nsystem_usec 4\n")
    (root / "c/memory.current").write_text("100\n")
    (root / "c/memory.max").write_text("max\n")
    (root / "c/pids.current").write_text("2\n")
    s = cgroups.CgroupV2("/c", str(root), FakeFS()).stats()
    assert (s.cpu.usage_total, s.cpu.usage_user, s.cpu.usage_kernel) == (10000, 6000, 4000)
    assert (s.memory.usage, s.memory.limit, s.pids.current) == (100, 0, 2)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("system.slice:docker:abc", "/system.slice/docker-abc.scope"),
        ("a-b.slice:cri:x", "/a.slice/a-b.slice/cri-x.scope"),
        (":pysandbox:x", "/system.slice/pysandbox-x.scope"),
        ("-.slice::", "/c1.scope"),
    ],
)
def test_systemd_paths(path: str, expected: str) -> None:
    assert cgroups.cgroup_path(path, "c1", systemd=True) == expected


def test_bad_paths() -> None:
    with pytest.raises(RuntimeFailure, match="slice:prefix:name"):
        cgroups.cgroup_path("/plain/path", "c1", systemd=True)
    with pytest.raises(RuntimeFailure, match=r"must not contain '\.\.'"):
        cgroups.cgroup_path("/a/../../etc", "c1", systemd=False)
    assert cgroups.cgroup_path("a/b/", "c1", systemd=False) == "/a/b"


def test_json_round_trip(tmp_path: Path) -> None:
    cg = cgroups.new("/x", str(v1_tree(tmp_path)), FakeFS())
    again = cgroups.from_json(cg.to_json(), FakeFS())
    assert (type(again), again.path, again.root) == (type(cg), cg.path, cg.root)


@pytest.fixture
def sleeper():
    p = subprocess.Popen(["sleep", "60"])
    try:
        yield p
    finally:
        p.kill()
        p.wait()


def test_oom_score_adj_raise_and_clamped_lowering(sleeper, caplog) -> None:
    assert cgroups.set_oom_score_adj(sleeper.pid, 500) == 500
    with open(f"/proc/{sleeper.pid}/oom_score_adj") as f:
        assert f.read().strip() == "500"
    with caplog.at_level(logging.WARNING, logger="pysandbox.cgroups"):
        got = cgroups.set_oom_score_adj(sleeper.pid, -5)
    with open(f"/proc/{sleeper.pid}/oom_score_adj") as f:
        now = int(f.read())
    assert got == now
    if got != -5:  # no CAP_SYS_RESOURCE: clamped, logged, not an error
        assert got == 500
        assert "without CAP_SYS_RESOURCE" in caplog.text


def _real_v1_available() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create cgroups"
    if cgroups.detect_version() != 1:
        return "host is not on cgroup v1"
    for c in ("memory", "pids", "cpu"):
        if not os.path.isdir(f"/sys/fs/cgroup/{c}"):
            return f"cgroup v1 controller {c} is not mounted"
    return None


@pytest.mark.root
def test_real_v1_limits_placement_and_removal(sleeper) -> None:
    reason = _real_v1_available()
    if reason:
        pytest.skip(reason)
    cg = cgroups.new(f"/pysandbox-test/{os.getpid()}")
    try:
        cg.create()
        cg.apply(
            Resources(
                memory=MemoryResources(limit=64 << 20),
                cpu=CPUResources(shares=256, quota=20000, period=100000),
                pids=PidsResources(limit=16),
            )
        )
        cg.add(sleeper.pid)
        assert cg.pids() == [sleeper.pid]
        base = cg.path.lstrip("/")
        with open(f"/sys/fs/cgroup/memory/{base}/memory.limit_in_bytes") as f:
            assert int(f.read()) == 64 << 20
        with open(f"/sys/fs/cgroup/pids/{base}/pids.max") as f:
            assert f.read().strip() == "16"
        with open(f"/proc/{sleeper.pid}/cgroup") as f:
            assert f":pids:{cg.path}\n" in f.read()
        s = cg.stats()
        assert s.pids.current == 1 and s.pids.limit == 16
        assert s.memory.limit == 64 << 20
        sleeper.kill()
        sleeper.wait()
        cg.destroy()
        for c in cgroups.V1_CONTROLLERS:
            assert not os.path.exists(f"/sys/fs/cgroup/{c}/{base}")
    finally:
        sleeper.kill()
        sleeper.wait()
        cg.destroy()
        cgroups.new("/pysandbox-test").destroy()


def _cgroup2_mount() -> str | None:
    with open("/proc/self/mounts") as f:
        for line in f:
            _dev, path, fstype = line.split()[:3]
            if fstype == "cgroup2":
                return path
    return None


@pytest.mark.root
def test_real_v2_placement_and_removal(sleeper) -> None:
    """On a v2 (or hybrid host's unified) hierarchy: create, place, list, remove."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create cgroups")
    mount = _cgroup2_mount()
    if mount is None:
        pytest.skip("no cgroup2 hierarchy is mounted")
    cg = cgroups.CgroupV2(f"/pysandbox-test-v2/{os.getpid()}", mount)
    try:
        cg.create()
        cg.add(sleeper.pid)
        assert cg.pids() == [sleeper.pid]
        with open(f"/proc/{sleeper.pid}/cgroup") as f:
            assert f"0::{cg.path}\n" in f.read()
        available = Path(mount, "cgroup.controllers").read_text().split()
        if "pids" in available:
            cg.apply(Resources(pids=PidsResources(limit=9)))
            assert cg.stats().pids.limit == 9
        sleeper.kill()
        sleeper.wait()
        cg.destroy()
        assert not os.path.exists(os.path.join(mount, cg.path.lstrip("/")))
    finally:
        sleeper.kill()
        sleeper.wait()
        cg.destroy()
        cgroups.CgroupV2("/pysandbox-test-v2", mount).destroy()
    assert not os.path.exists(os.path.join(mount, "pysandbox-test-v2"))
