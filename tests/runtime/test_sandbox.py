"""Sandbox handle: persistence, teardown semantics and host resource placement."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

import anyio
import pytest
from google.protobuf import empty_pb2

from protos.pysandbox.control.v1 import control_pb2 as pb
from runtime import spec as ocispec
from runtime.config import RuntimeConfig
from runtime.errors import NotAvailable, RuntimeFailure
from runtime.sandbox import CreateArgs, Sandbox, SignalMode, place_sandbox
from runtime.state import ProcessRef
from tests.runtime.conftest import minimal_config
from tests.runtime.test_cgroups import FakeFS, v1_tree
from ttrpc import Code, Server, TTRPCError


@pytest.fixture
def sleeper():
    p = subprocess.Popen(["sleep", "60"])
    try:
        yield p
    finally:
        p.kill()
        p.wait()


def test_json_round_trip(sleeper) -> None:
    s = Sandbox("pod", ProcessRef.of(sleeper.pid), "/run/x.sock", {"version": 1, "path": "/p"})
    again = Sandbox.from_json(json.loads(json.dumps(s.to_json())))
    assert again == s and again.is_running()


def test_spawn_refuses_a_terminal_nobody_holds_before_starting_anything(bundle: Path) -> None:
    cfg = minimal_config()
    cfg["process"]["terminal"] = True
    (bundle / "config.json").write_text(json.dumps(cfg))
    spec = ocispec.load(str(bundle))
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(RuntimeFailure, match="needs a --console-socket"):
        Sandbox.create(RuntimeConfig(), CreateArgs("c1", spec, str(bundle)))
    with pytest.raises(RuntimeFailure, match="cannot send the console"):
        args = CreateArgs("c1", spec, str(bundle), console_socket=str(bundle / "no.sock"))
        Sandbox.create(RuntimeConfig(), args)
    assert set(os.listdir("/proc/self/fd")) == before


def test_control_calls_need_a_running_sandbox(sleeper) -> None:
    s = Sandbox("pod", ProcessRef.of(sleeper.pid))
    with pytest.raises(RuntimeFailure, match="has no control socket"):
        s.signal("pod", 15, SignalMode.ALL)
    sleeper.kill()
    sleeper.wait()
    with pytest.raises(RuntimeFailure, match="is not running"):
        s.pause()


class _FakeControl:
    """A control server answering like a sandbox would, for the client side."""

    def __init__(self) -> None:
        self.signals: list[tuple[str, int, int]] = []

    async def Signal(self, ctx, req):
        self.signals.append((req.container_id, req.signal, req.target))
        if req.signal == 19:
            raise TTRPCError(Code.UNIMPLEMENTED, "the Sentry cannot stop tasks yet")
        if req.container_id != "pod":
            raise TTRPCError(Code.NOT_FOUND, f"container {req.container_id!r} does not exist")
        return empty_pb2.Empty()

    async def Processes(self, ctx, req):
        resp = pb.ProcessesResponse()
        p = resp.processes.add(pid=1, ppid=0, uid=0, threads=1, command="sleep")
        p.args.extend(["/bin/sleep", "100"])
        p.start_time.FromSeconds(1_700_000_000)
        return resp

    async def Wait(self, ctx, req):
        return pb.WaitResponse(wait_status=15)

    async def Event(self, ctx, req):
        stats = pb.Stats(cpu_user_ns=3, cpu_system_ns=4, memory_usage_bytes=4096, pids_current=1)
        return pb.EventResponse(status="running", stats=stats)


@pytest.fixture
def control_server(tmp_path: Path):
    """A real ttrpc server on a unix socket, in a thread with its own loop."""
    path = str(tmp_path / "ctl.sock")
    fake = _FakeControl()
    server = Server()
    server.register(pb.DESCRIPTOR.services_by_name["Control"], fake)
    ready = threading.Event()
    stop: list[object] = []

    async def serve() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve_unix, path)
            while not os.path.exists(path):
                await anyio.sleep(0.01)
            ready.set()
            while not stop:
                await anyio.sleep(0.02)
            await server.shutdown(grace_period=0.1)

    thread = threading.Thread(target=anyio.run, args=(serve,), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield path, fake
    finally:
        stop.append(True)
        thread.join(10)


def test_control_client_maps_calls_and_errors(control_server, sleeper) -> None:
    path, fake = control_server
    s = Sandbox("pod", ProcessRef.of(sleeper.pid), path)
    s.signal("pod", 15, SignalMode.ALL)
    assert fake.signals == [("pod", 15, pb.SignalRequest.ALL_PROCESSES)]
    with pytest.raises(NotAvailable, match="cannot stop tasks"):
        s.signal("pod", 19, SignalMode.INIT)
    with pytest.raises(RuntimeFailure, match="does not exist"):
        s.signal("other", 15, SignalMode.INIT)
    (proc,) = s.processes("pod")
    assert (proc["pid"], proc["ppid"], proc["cmd"]) == (1, 0, "/bin/sleep 100")
    assert s.wait("pod") == 15
    stats = s.event("pod")
    assert stats["cpu"]["usage"] == {"total": 7, "user": 3, "kernel": 4}
    assert stats["pids"]["current"] == 1
    # The fake has no Pause: the server answers UNIMPLEMENTED.
    with pytest.raises(NotAvailable):
        s.pause()


def test_destroy_kills_reaps_and_removes_socket(tmp_path: Path, sleeper) -> None:
    sock = tmp_path / "ctl.sock"
    sock.write_text("")
    s = Sandbox("pod", ProcessRef.of(sleeper.pid), str(sock), child=True)
    s.destroy()
    assert not sock.exists()
    assert not s.is_running()
    s.destroy()  # idempotent: already dead, socket gone


def test_destroy_tolerates_a_recycled_pid(sleeper) -> None:
    """A record whose pid now names another process must not kill that process."""
    ref = ProcessRef.of(sleeper.pid)
    Sandbox("pod", ProcessRef(ref.pid, ref.start_time + 1)).destroy()
    assert sleeper.poll() is None


def test_place_sandbox_in_cgroup_with_limits(tmp_path: Path, sleeper) -> None:
    cfg = minimal_config()
    cfg["linux"]["cgroupsPath"] = "/pods/c1"
    cfg["linux"]["resources"]["pids"] = {"limit": 20}
    cfg["process"]["oomScoreAdj"] = 300
    spec = ocispec.parse(cfg, str(tmp_path))
    (tmp_path / "cg").mkdir()
    root = v1_tree(tmp_path / "cg")
    with open(f"/proc/{sleeper.pid}/oom_score_adj") as f:
        before = int(f.read())
    cg, original = place_sandbox(
        RuntimeConfig(), spec, "c1", sleeper.pid, cgroup_root=str(root), fs=FakeFS()
    )
    assert cg is not None and cg.to_json()["path"] == "/pods/c1"
    assert (root / "pids/pods/c1/pids.max").read_text() == "20"
    assert (root / "memory/pods/c1/cgroup.procs").read_text() == str(sleeper.pid)
    with open(f"/proc/{sleeper.pid}/oom_score_adj") as f:
        assert int(f.read()) == 300
    assert original == before


def test_place_sandbox_failure_removes_the_cgroup(tmp_path: Path, sleeper) -> None:
    cfg = minimal_config()
    cfg["linux"]["cgroupsPath"] = "/pods/c1"
    cfg["linux"]["resources"]["memory"] = {"limit": 100, "swap": 200}  # no memsw in the tree
    spec = ocispec.parse(cfg, str(tmp_path))
    (tmp_path / "cg").mkdir()
    root = v1_tree(tmp_path / "cg")
    with pytest.raises(RuntimeFailure, match="no swap accounting"):
        place_sandbox(RuntimeConfig(), spec, "c1", sleeper.pid, cgroup_root=str(root), fs=FakeFS())
    assert not (root / "memory/pods/c1").exists()


def test_place_sandbox_without_cgroups_path(tmp_path: Path, sleeper) -> None:
    spec = ocispec.parse(minimal_config(), str(tmp_path))
    cg, _ = place_sandbox(
        RuntimeConfig(), spec, "c1", sleeper.pid, cgroup_root=str(tmp_path), fs=FakeFS()
    )
    assert cg is None
    assert os.listdir(tmp_path) == []
