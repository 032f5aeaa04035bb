"""Stats as cgroups Metrics and OOM before exit, from a real cgroup (root only)."""

from __future__ import annotations

import os
import sys

import pytest
from google.protobuf import any_pb2, empty_pb2

import ttrpc
from protos import typeurl
from protos.containerd.cgroups.v1 import metrics_pb2 as v1
from protos.containerd.cgroups.v2 import metrics_pb2 as v2
from protos.containerd.events import task_pb2 as events
from protos.containerd.task.v2 import shim_pb2
from runtime import cgroups
from shim import metrics
from tests.shim.conftest import make_bundle, running_shim
from tests.shim.hostbackend import HostBackend

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def _cgroup_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create cgroups"
    if cgroups.detect_version() == 1 and not os.path.isdir("/sys/fs/cgroup/memory"):
        return "needs the cgroup v1 memory controller"
    return None


needs_cgroups = pytest.mark.skipif(_cgroup_reason() is not None, reason=str(_cgroup_reason()))


def test_metrics_conversion_fields():
    s = cgroups.Stats()
    s.cpu.usage_total, s.cpu.usage_user, s.cpu.usage_kernel = 5_000_000, 3_000_000, 2_000_000
    s.cpu.percpu = [1, 2]
    s.memory.usage, s.memory.limit, s.memory.max_usage = 4096, 1 << 30, 8192
    s.memory.raw = {"total_inactive_file": 100, "total_rss": 200, "pgfault": 3, "anon": 7}
    s.pids.current, s.pids.limit = 3, 64
    one = typeurl.unpack(metrics.pack(s, 1, oom_kills=2), v1.Metrics)
    assert one.cpu.usage.total == 5_000_000 and list(one.cpu.usage.per_cpu) == [1, 2]
    assert one.memory.usage.usage == 4096 and one.memory.usage.limit == 1 << 30
    assert one.memory.total_inactive_file == 100 and one.memory.total_rss == 200
    assert one.memory.pg_fault == 3
    assert one.pids.current == 3 and one.pids.limit == 64
    assert one.memory_oom_control.oom_kill == 2
    two_any = metrics.pack(s, 2)
    assert two_any.type_url == "io.containerd.cgroups.v2.Metrics"
    two = typeurl.unpack(two_any, v2.Metrics)
    assert two.cpu.usage_usec == 5000 and two.memory.usage == 4096 and two.memory.anon == 7


@needs_cgroups
async def test_stats_from_the_container_cgroup(short_tmp):
    async with running_shim(short_tmp, HostBackend(use_cgroups=True)) as shim:
        bundle = make_bundle(short_tmp, "st1", ["sleep", "30"], resources={"pids": {"limit": 50}})
        await shim.call(
            "Create",
            shim_pb2.CreateTaskRequest(id="st1", bundle=str(bundle)),
            shim_pb2.CreateTaskResponse,
        )
        await shim.call("Start", shim_pb2.StartRequest(id="st1"), shim_pb2.StartResponse)
        resp = await shim.call("Stats", shim_pb2.StatsRequest(id="st1"), shim_pb2.StatsResponse)
        if cgroups.detect_version() == 1:
            assert resp.stats.type_url == "io.containerd.cgroups.v1.Metrics"
            m1 = typeurl.unpack(resp.stats, v1.Metrics)
            assert m1.pids.current >= 1 and m1.pids.limit == 50
            assert m1.memory.usage.usage > 0
            assert m1.cpu.usage.total > 0
        else:
            m2 = typeurl.unpack(resp.stats, v2.Metrics)
            assert m2.pids.current >= 1 and m2.pids.limit == 50
        update = any_pb2.Any(
            type_url="types.containerd.io/opencontainers/runtime-spec/1/LinuxResources",
            value=b'{"pids": {"limit": 77}}',
        )
        await shim.call(
            "Update", shim_pb2.UpdateTaskRequest(id="st1", resources=update), empty_pb2.Empty
        )
        resp = await shim.call("Stats", shim_pb2.StatsRequest(id="st1"), shim_pb2.StatsResponse)
        limit = (
            typeurl.unpack(resp.stats, v1.Metrics).pids.limit
            if cgroups.detect_version() == 1
            else typeurl.unpack(resp.stats, v2.Metrics).pids.limit
        )
        assert limit == 77
        with pytest.raises(ttrpc.TTRPCError) as caught:
            await shim.call(
                "Update",
                shim_pb2.UpdateTaskRequest(
                    id="st1", resources=any_pb2.Any(type_url="x.Y", value=b"{}")
                ),
                empty_pb2.Empty,
            )
        assert caught.value.code == ttrpc.Code.INVALID_ARGUMENT


async def test_stats_without_cgroup_is_not_found(short_tmp):
    async with running_shim(short_tmp, HostBackend(use_cgroups=False)) as shim:
        bundle = make_bundle(short_tmp, "st2", ["true"])
        await shim.call(
            "Create",
            shim_pb2.CreateTaskRequest(id="st2", bundle=str(bundle)),
            shim_pb2.CreateTaskResponse,
        )
        with pytest.raises(ttrpc.TTRPCError) as caught:
            await shim.call("Stats", shim_pb2.StatsRequest(id="st2"), shim_pb2.StatsResponse)
        assert caught.value.code == ttrpc.Code.NOT_FOUND
        assert "cgroup does not exist" in caught.value.message


HOG = "b = []\nwhile True:\n    b.append(bytearray(8 << 20))\n"


@needs_cgroups
async def test_oom_is_published_before_exit(short_tmp):
    if cgroups.detect_version() == 1 and not os.path.exists(
        "/sys/fs/cgroup/memory/memory.oom_control"
    ):
        pytest.skip("no memory.oom_control")
    limit = 64 << 20
    resources = {"memory": {"limit": limit}}
    if (
        os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
        or cgroups.detect_version() == 2
    ):
        resources["memory"]["swap"] = limit
    async with running_shim(short_tmp, HostBackend(use_cgroups=True)) as shim:
        bundle = make_bundle(short_tmp, "oom1", [sys.executable, "-c", HOG], resources=resources)
        await shim.call(
            "Create",
            shim_pb2.CreateTaskRequest(id="oom1", bundle=str(bundle)),
            shim_pb2.CreateTaskResponse,
        )
        await shim.call("Start", shim_pb2.StartRequest(id="oom1"), shim_pb2.StartResponse)
        waited = await shim.call(
            "Wait", shim_pb2.WaitRequest(id="oom1"), shim_pb2.WaitResponse, timeout=40
        )
        assert waited.exit_status == 137
        await shim.sink.wait_for("/tasks/exit")
        topics = shim.sink.topics()
        assert "/tasks/oom" in topics, topics
        assert topics.index("/tasks/oom") < topics.index("/tasks/exit")
        oom = dict(shim.sink.decoded())["/tasks/oom"]
        assert isinstance(oom, events.TaskOOM) and oom.container_id == "oom1"
