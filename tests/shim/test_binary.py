"""The binary contract: flags, options, start/serve/delete as containerd runs them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from google.protobuf import any_pb2, empty_pb2

import ttrpc
from protos import typeurl
from protos.containerd.runtime.bootstrap.v1 import bootstrap_pb2
from protos.containerd.runtimeoptions.v1 import api_pb2
from protos.containerd.task.v2 import shim_pb2
from protos.containerd.types import introspection_pb2
from shim import address, flags, options
from tests.shim.conftest import make_bundle

ROOT = Path(__file__).resolve().parents[2]
TASK = "containerd.task.v2.Task"


def shim_binary() -> str:
    exe = Path(sys.executable).parent / "containerd-shim-pysandbox-v2"
    if not exe.exists():
        pytest.skip(f"{exe} is not installed (pip install -e .)")
    return str(exe)


def shim_env(base: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYSANDBOX_SHIM_BACKEND"] = "tests.shim.hostbackend:factory"
    env["PYTHONPATH"] = str(ROOT)
    env["TTRPC_ADDRESS"] = str(base / "no-containerd.sock.ttrpc")
    return env


def run(
    base: Path, bundle: Path, *args: str, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [shim_binary(), *args],
        cwd=bundle,
        env=shim_env(base),
        input=stdin,
        capture_output=True,
        timeout=30,
        check=False,
    )


def start(base: Path, bundle: Path, task_id: str, stdin: bytes = b"") -> str:
    grpc = str(base / "c.sock")
    result = subprocess.run(
        [
            shim_binary(),
            "-namespace",
            "ns1",
            "-address",
            grpc,
            "-publish-binary",
            "/usr/bin/containerd",
            "-id",
            task_id,
            "-unknown-future-flag",
            "start",
        ],
        cwd=bundle,
        env=shim_env(base),
        input=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout
    return result.stdout.decode()


# -- flags and options (pure) -------------------------------------------------


def test_go_style_flags():
    f = flags.parse(
        [
            "-namespace",
            "k8s.io",
            "--id=abc",
            "-debug",
            "-systemd-cgroup",
            "-address",
            "/a",
            "start",
            "x",
        ]
    )
    assert (f.namespace, f.id, f.debug, f.address, f.action, f.args) == (
        "k8s.io",
        "abc",
        True,
        "/a",
        "start",
        ["x"],
    )
    assert f.ignored == ["-systemd-cgroup"]
    assert flags.parse(["-debug=false", "delete"]).debug is False
    assert flags.parse(["-v"]).version and flags.parse(["--version"]).version
    assert flags.parse([]).action == ""
    with pytest.raises(flags.FlagError, match="flag needs an argument: -id"):
        flags.parse(["-id"])
    with pytest.raises(flags.FlagError, match="invalid boolean"):
        flags.parse(["-debug=maybe"])


def test_start_stdin_kinds(tmp_path: Path):
    cfg = tmp_path / "pysandbox.toml"
    cfg.write_text(
        'platform = "ptrace"\nnetwork = "host"\ndebug = true\nlog = "/var/log/p-%ID%.log"\n'
    )
    opts = typeurl.pack(api_pb2.Options(type_url="io.pysandbox.v2.options", config_path=str(cfg)))
    legacy = options.parse_start_stdin(opts.SerializeToString())
    assert legacy.bootstrap is None and legacy.options == opts
    conf = options.config_from_options(legacy.options)
    assert conf.network == "host" and conf.debug
    assert conf.runtime_config("c1").log == "/var/log/p-c1.log"

    params = bootstrap_pb2.BootstrapParams(
        instance_id="c1",
        namespace="default",
        containerd_ttrpc_address="/run/c.sock.ttrpc",
        extensions=[bootstrap_pb2.Extension(value=opts)],
    )
    boot = options.parse_start_stdin(params.SerializeToString())
    assert boot.bootstrap is not None and boot.bootstrap.instance_id == "c1"
    assert boot.options == opts
    assert options.parse_start_stdin(b"") == options.StartInput()
    with pytest.raises(options.OptionsError):
        options.parse_start_stdin(b"\xff\xff\xff")
    # Options other clients send are tolerated.
    runc = any_pb2.Any(type_url="containerd.linux.runc.CreateOptions", value=b"\x08\x01")
    assert options.config_from_options(runc) == options.ShimConfig()


def test_config_errors_are_clear(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text('platform = "qemu"\n')
    with pytest.raises(options.OptionsError, match="invalid platform 'qemu'"):
        options.load_file(str(bad))
    bad.write_text("debugg = true\n")
    with pytest.raises(options.OptionsError, match="unknown key 'debugg'"):
        options.load_file(str(bad))
    bad.write_text("debug = 1\n")
    with pytest.raises(options.OptionsError, match="debug must be a bool"):
        options.load_file(str(bad))
    bad.write_text("= nope")
    with pytest.raises(options.OptionsError, match="not valid TOML"):
        options.load_file(str(bad))
    with pytest.raises(options.OptionsError, match="cannot read pysandbox config"):
        options.load_file(str(tmp_path / "missing.toml"))


def test_grouping_key_and_address(tmp_path: Path):
    (tmp_path / "config.json").write_text(
        json.dumps({"annotations": {"io.kubernetes.cri.sandbox-id": "pod1"}})
    )
    assert address.grouping_key(str(tmp_path), "c2") == "pod1"
    assert address.grouping_key(str(tmp_path / "none"), "c2") == "c2"
    a = address.socket_address("/run/containerd/containerd.sock", "k8s.io", "pod1")
    assert a.startswith("unix:///run/containerd/s/") and len(a.rsplit("/", 1)[1]) == 64
    with pytest.raises(address.AddressError, match="too long"):
        address.socket_address("/x", "ns", "g", socket_dir="/" + "d" * 100)


# -- the binary ----------------------------------------------------------------


def test_version_and_info(tmp_path: Path):
    out = run(tmp_path, tmp_path, "-v")
    assert out.returncode == 0 and b"io.pysandbox.v2" in out.stdout
    opts = typeurl.pack(api_pb2.Options(config_path="/etc/x.toml"))
    out = run(tmp_path, tmp_path, "-info", stdin=opts.SerializeToString())
    info = introspection_pb2.RuntimeInfo()
    info.ParseFromString(out.stdout)
    assert info.name == "io.pysandbox.v2" and info.version.version
    assert info.options == opts
    out = run(tmp_path, tmp_path, "-namespace", "x", "frobnicate")
    assert out.returncode == 2 and b"unknown action 'frobnicate'" in out.stderr


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


async def _call(addr: str, method: str, req, resp_type):
    async with await ttrpc.Client.connect(addr) as client:
        return await client.call(TASK, method, req, resp_type, timeout=10)


@pytest.mark.skipif(os.geteuid() != 0, reason="shims put sockets in /run/containerd/s (needs root)")
def test_start_group_reuse_kill_and_delete(short_tmp: Path):
    b1 = make_bundle(short_tmp, "t1", ["sleep", "60"])
    b2 = make_bundle(
        short_tmp, "t2", ["sleep", "60"], annotations={"io.kubernetes.cri.sandbox-id": "t1"}
    )
    addr = start(short_tmp, b1, "t1")
    daemon = 0
    try:
        assert addr.startswith("unix:///run/containerd/s/")
        assert (b1 / "address").read_text() == addr
        assert address.grouping_key(str(b1), "t1") == "t1"
        # The pod's second container reuses the running shim.
        assert start(short_tmp, b2, "t2") == addr
        assert (b2 / "address").read_text() == addr

        async def drive() -> tuple[int, int]:
            conn = await _call(
                addr, "Connect", shim_pb2.ConnectRequest(id="t1"), shim_pb2.ConnectResponse
            )
            created = await _call(
                addr,
                "Create",
                shim_pb2.CreateTaskRequest(id="t1", bundle=str(b1)),
                shim_pb2.CreateTaskResponse,
            )
            await _call(addr, "Start", shim_pb2.StartRequest(id="t1"), shim_pb2.StartResponse)
            return conn.shim_pid, created.pid

        daemon, task_pid = anyio.run(drive)
        assert daemon != os.getpid() and _alive(daemon) and _alive(task_pid)
        # Garbage on the socket (issue #5): bytes that are no ttrpc frame at
        # all (an HTTP request: an oversized "frame" of no ttrpc type) make
        # the shim drop that connection; a well-formed frame with a garbage
        # body is refused with an error status on its stream, as Go's ttrpc
        # does. Either way the shim serves on.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:
            raw.settimeout(5)
            raw.connect(address.socket_path(addr))
            raw.sendall(b"GET / HTTP/1.1\r\n\r\n")
            assert raw.recv(4096) == b""  # closed by the shim, not by us
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:
            raw.settimeout(5)
            raw.connect(address.socket_path(addr))
            raw.sendall(b"\0\0\0\x05\0\0\0\x01\x01\0\xff\xff\xff\xff\xff")
            reply = raw.recv(4096)
            assert len(reply) > 10 and reply[8] == 2, reply  # a Response frame
            status = ttrpc.ttrpc_pb2.Response()
            status.ParseFromString(reply[10:])
            assert status.status.code == ttrpc.Code.INVALID_ARGUMENT
        state = anyio.run(
            _call, addr, "State", shim_pb2.StateRequest(id="t1"), shim_pb2.StateResponse
        )
        assert state.pid == task_pid

        # containerd's view of a crash: the shim is SIGKILLed.
        os.kill(daemon, signal.SIGKILL)
        assert _wait_gone(daemon)
        out = run(
            short_tmp,
            b1,
            "-namespace",
            "ns1",
            "-address",
            str(short_tmp / "c.sock"),
            "-id",
            "t1",
            "-bundle",
            str(b1),
            "delete",
        )
        assert out.returncode == 0, out.stderr
        resp = shim_pb2.DeleteResponse()
        resp.ParseFromString(out.stdout)
        assert resp.exit_status == 137 and resp.exited_at.seconds > 0
        assert resp.pid == task_pid
        assert _wait_gone(task_pid), "delete left the container process running"
        assert not os.path.exists(address.socket_path(addr)), "socket of the dead shim left behind"
        # Idempotent.
        again = run(short_tmp, b1, "-namespace", "ns1", "-id", "t1", "-bundle", str(b1), "delete")
        assert again.returncode == 0
        resp.ParseFromString(again.stdout)
        assert resp.exit_status == 137 and resp.pid == 0
    finally:
        if daemon and _alive(daemon):
            os.kill(daemon, signal.SIGKILL)
        for b, i in ((b1, "t1"), (b2, "t2")):
            run(short_tmp, b, "-namespace", "ns1", "-id", i, "-bundle", str(b), "delete")
        address.remove_socket(addr)


@pytest.mark.skipif(os.geteuid() != 0, reason="shims put sockets in /run/containerd/s (needs root)")
def test_bootstrap_start_and_shutdown_exits(short_tmp: Path):
    b = make_bundle(short_tmp, "t3", ["true"])
    params = bootstrap_pb2.BootstrapParams(
        instance_id="t3",
        namespace="ns1",
        containerd_grpc_address=str(short_tmp / "c.sock"),
        containerd_ttrpc_address=str(short_tmp / "c.sock.ttrpc"),
    )
    grpc = str(short_tmp / "c.sock")
    result = subprocess.run(
        [shim_binary(), "-namespace", "ns1", "-address", grpc, "-id", "t3", "start"],
        cwd=b,
        env=shim_env(short_tmp),
        input=params.SerializeToString(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout
    answer = bootstrap_pb2.BootstrapResult()
    answer.ParseFromString(result.stdout)
    assert (answer.version, answer.protocol) == (2, "ttrpc")
    addr = answer.address
    try:

        async def drive() -> int:
            async with await ttrpc.Client.connect(addr) as client:
                conn = await client.call(
                    TASK, "Connect", shim_pb2.ConnectRequest(id="t3"), shim_pb2.ConnectResponse
                )
                await client.call(
                    TASK,
                    "Create",
                    shim_pb2.CreateTaskRequest(id="t3", bundle=str(b)),
                    shim_pb2.CreateTaskResponse,
                )
                # Refused while a container remains: the shim keeps serving.
                await client.call(
                    TASK, "Shutdown", shim_pb2.ShutdownRequest(id="t3"), empty_pb2.Empty
                )
                await client.call(
                    TASK, "Delete", shim_pb2.DeleteRequest(id="t3"), shim_pb2.DeleteResponse
                )
                try:
                    await client.call(
                        TASK, "Shutdown", shim_pb2.ShutdownRequest(id="t3"), empty_pb2.Empty
                    )
                except ttrpc.ConnectionClosed:
                    pass
                return conn.shim_pid

        daemon = anyio.run(drive)
        assert _wait_gone(daemon), "shim did not exit after Shutdown with no containers"
        assert not os.path.exists(address.socket_path(addr))
    finally:
        run(short_tmp, b, "-namespace", "ns1", "-id", "t3", "-bundle", str(b), "delete")
        address.remove_socket(addr)


def test_daemon_oom_score_is_containerds_plus_one():
    import subprocess as sp

    from shim.start import adjust_oom_score

    child = sp.Popen(["sleep", "30"])
    try:
        with open(f"/proc/{os.getpid()}/oom_score_adj") as f:
            mine = int(f.read())
        adjust_oom_score(child.pid, parent=os.getpid())
        with open(f"/proc/{child.pid}/oom_score_adj") as f:
            assert int(f.read()) == min(mine + 1, 1000)
    finally:
        child.kill()
        child.wait()
