"""End to end: the spec's mqueue, sysfs, devpts and cgroup mounts as Sentry
file systems (``runtime/boot/specmounts.py``) in a ``pysandbox run`` of a
busybox bundle (the default spec mounts mqueue on /dev/mqueue and a v1
cgroup on /sys/fs/cgroup).

A static C helper (built with gcc) creates a queue with mq_open; busybox
then finds it in /dev/mqueue and reads the spec's limits from cgroupfs.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from integration.syscalls import harness
from integration.test_runtime_boot import (  # noqa: F401 - fixtures
    Runtime,
    cid,
    make_bundle,
    pysandbox,
    requirements,
)

MQMAKE = r"""
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
int main(int argc, char **argv) {
    struct mq_attr a = {0};
    a.mq_maxmsg = 3;
    a.mq_msgsize = 32;
    mqd_t q = mq_open(argv[1], O_CREAT | O_RDWR, 0640, &a);
    if (q < 0) { perror("mq_open"); return 1; }
    if (mq_send(q, "hello", 5, 1) < 0) { perror("mq_send"); return 1; }
    return 0;
}
"""
MEMORY_LIMIT = 256 * 1024 * 1024
PIDS_LIMIT = 321


@pytest.fixture
def mqmake(tmp_path: Path) -> Path:
    reason = harness.gcc_skip_reason()
    if reason:
        pytest.skip(reason)
    src = tmp_path / "mqmake.c"
    src.write_text(MQMAKE)
    binary = tmp_path / "mqmake"
    subprocess.run(["gcc", "-O1", "-static", "-o", str(binary), str(src)], check=True)
    return binary


def test_mqueue_and_cgroup_mounts(
    pysandbox: Runtime,  # noqa: F811 - the fixture
    tmp_path: Path,
    cid: str,  # noqa: F811 - the fixture
    mqmake: Path,
) -> None:
    script = (
        "mqmake /demo && ls /dev/mqueue && cat /dev/mqueue/demo"
        " && cat /sys/fs/cgroup/memory/memory.limit_in_bytes"
        " && cat /sys/fs/cgroup/pids/pids.max"
        " && cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us"
        " && cat /proc/self/cgroup"
        " && grep -E ' /(dev/mqueue|sys/fs/cgroup|sys|dev/pts) ' /proc/self/mounts"
        " && (echo 1 > /sys/fs/cgroup/pids/pids.max) 2>/dev/null || echo read-only"
    )
    bundle = make_bundle(tmp_path, ["/bin/sh", "-c", script])
    (bundle / "rootfs" / "bin" / "mqmake").write_bytes(mqmake.read_bytes())
    (bundle / "rootfs" / "bin" / "mqmake").chmod(0o755)
    for applet in ("grep",):
        (bundle / "rootfs" / "bin" / applet).symlink_to("busybox")
    config = bundle / "config.json"
    spec = json.loads(config.read_text())
    spec["linux"]["resources"] = {
        **spec["linux"].get("resources", {}),
        "memory": {"limit": MEMORY_LIMIT},
        "pids": {"limit": PIDS_LIMIT},
    }
    config.write_text(json.dumps(spec))
    r = pysandbox("run", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "demo"
    assert lines[1].split() == ["QSIZE:5", "NOTIFY:0", "SIGNO:0", "NOTIFY_PID:0"]
    assert lines[2:5] == [str(MEMORY_LIMIT), str(PIDS_LIMIT), "-1"]
    assert lines[5:8] == ["3:pids:/", "2:memory:/", "1:cpu,cpuacct:/"]
    mounts = {line.split()[1]: line.split() for line in lines[8:-1]}
    assert mounts["/dev/mqueue"][2] == "mqueue"
    assert mounts["/sys/fs/cgroup"][2] == "cgroup"
    assert mounts["/sys/fs/cgroup"][3].split(",")[0] == "ro"
    assert mounts["/sys"][3].split(",")[0] == "ro"
    assert mounts["/dev/pts"][2] == "devpts"
    assert lines[-1] == "read-only"
