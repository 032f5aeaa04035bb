"""containerd drives containerd-shim-pysandbox-v2 with the host-process test backend.

The backend (``PYSANDBOX_SHIM_BACKEND``, tests/shim/hostbackend.py) runs
each container as a host process chrooted into the busybox rootfs the shim
mounted, so everything the shim does for containerd — run, exit codes,
exec, ps, pause/resume, metrics, kill, delete, events, pod grouping,
containerd restarts, terminals — is exercised even where the Sentry cannot
yet (exec, tty). The same operations on real sandboxes are in
test_shim_sandbox.py.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from integration.containerd import (
    SHIM_SOCKET_DIR,
    ContainerdConfig,
    EventWatcher,
    PrivateContainerd,
    import_busybox_image,
    missing_requirements,
    mounts_under,
    private_containerd,
    processes_mentioning,
    unique_id,
)

pytestmark = [pytest.mark.containerd, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = "io.pysandbox.v2"
SHIM_NAME = "containerd-shim-pysandbox-v2"


def _shim_dir(tmp: Path) -> Path:
    exe = Path(sys.executable).parent / SHIM_NAME
    if not exe.exists():
        pytest.skip(f"{exe} is not installed (pip install -e .)")
    d = tmp / "shimbin"
    d.mkdir()
    (d / SHIM_NAME).symlink_to(exe)
    return d


@pytest.fixture
def shim_containerd(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[PrivateContainerd]:
    reason = missing_requirements()
    if reason is not None:
        pytest.skip(f"private containerd: {reason}")
    backend = getattr(request, "param", "")
    saved = dict(os.environ)
    if backend:
        # containerd passes its environment on to the shims it starts.
        os.environ["PYSANDBOX_SHIM_BACKEND"] = backend
        os.environ["PYTHONPATH"] = str(ROOT)
    try:
        config = ContainerdConfig(path_prepend=(str(_shim_dir(tmp_path)),))
        with private_containerd(config) as daemon:
            yield daemon
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _shim_sockets() -> set[Path]:
    return set(SHIM_SOCKET_DIR.glob("*")) if SHIM_SOCKET_DIR.exists() else set()


def _assert_clean(daemon: PrivateContainerd, sockets_before: set[Path]) -> None:
    bundles = list(daemon.state.glob("io.containerd.runtime.v2.task/*/*"))
    assert bundles == [], f"bundles left: {bundles}"
    deadline = time.monotonic() + 10  # the shim exits after Shutdown, asynchronously
    while (shims := _shim_daemons(daemon)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert shims == [], f"shim processes left: {shims}\n" + daemon.log_tail()
    assert mounts_under(daemon.base) == []
    left = _shim_sockets() - sockets_before
    assert left == set(), f"shim sockets left: {left}"


HOST = "tests.shim.hostbackend:factory"


@pytest.mark.parametrize("shim_containerd", [HOST], indirect=True)
def test_ctr_run_echo_hello_and_exit_code(shim_containerd):
    daemon = shim_containerd
    ref = import_busybox_image(daemon)
    sockets = _shim_sockets()
    events = EventWatcher(daemon)
    try:
        cid = unique_id("hello")
        result = daemon.ctr(
            "run", "--rm", "--runtime", RUNTIME, ref, cid, "echo", "hello", check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr + daemon.log_tail()
        assert result.stdout == "hello\n"
        topics = [e.topic for e in events.collect("/tasks/delete", 20, container_id=cid)]
        assert topics == ["/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"], topics
    finally:
        events.close()
    cid = unique_id("code")
    result = daemon.ctr(
        "run", "--rm", "--runtime", RUNTIME, ref, cid, "sh", "-c", "exit 7", check=False
    )
    assert result.returncode == 7, result.stdout + result.stderr
    _assert_clean(daemon, sockets)


@pytest.mark.parametrize("shim_containerd", [HOST], indirect=True)
def test_detached_task_commands(shim_containerd):
    daemon = shim_containerd
    ref = import_busybox_image(daemon)
    sockets = _shim_sockets()
    cid = unique_id("det")
    daemon.ctr("run", "-d", "--runtime", RUNTIME, ref, cid, "sleep", "300")
    events = EventWatcher(daemon)
    try:
        listed = daemon.ctr("task", "ls").stdout
        assert re.search(rf"^{cid}\s+\d+\s+RUNNING$", listed, re.M), listed
        out = daemon.ctr(
            "task", "exec", "--exec-id", "e1", cid, "sh", "-c", "echo in-exec; exit 4", check=False
        )
        assert out.returncode == 4 and "in-exec" in out.stdout, out
        ps = daemon.ctr("task", "ps", cid).stdout
        assert re.search(r"^\d+", ps.splitlines()[1], re.M), ps
        daemon.ctr("task", "pause", cid)
        assert re.search(rf"^{cid}\s+\d+\s+PAUSED$", daemon.ctr("task", "ls").stdout, re.M)
        daemon.ctr("task", "resume", cid)
        metrics = daemon.ctr("task", "metrics", cid, check=False)
        if os.path.isdir("/sys/fs/cgroup/memory"):
            assert metrics.returncode == 0, metrics.stderr
            assert "memory.usage_in_bytes" in metrics.stdout or "MEMORY" in metrics.stdout.upper()
        daemon.ctr("task", "kill", "-s", "SIGTERM", cid)
        _wait_stopped(daemon, cid)
        assert re.search(rf"^{cid}\s+\d+\s+STOPPED$", daemon.ctr("task", "ls").stdout, re.M)
        daemon.ctr("task", "delete", cid)
        got = [e.topic for e in events.collect("/tasks/delete", 20, container_id=cid)]
        assert got == [
            "/tasks/exec-added",
            "/tasks/exec-started",
            "/tasks/exit",
            "/tasks/paused",
            "/tasks/resumed",
            "/tasks/exit",
            "/tasks/delete",
        ], got
    finally:
        events.close()
    daemon.ctr("containers", "delete", cid)
    _assert_clean(daemon, sockets)


def _wait_stopped(daemon: PrivateContainerd, cid: str, timeout: float = 20) -> None:
    """Poll ``ctr task ls`` until ``cid`` is STOPPED (ctr 1.6 has no ``task wait``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if re.search(rf"^{cid}\s+\d+\s+STOPPED$", daemon.ctr("task", "ls").stdout, re.M):
            return
        time.sleep(0.1)
    raise AssertionError(f"{cid} did not stop:\n" + daemon.ctr("task", "ls").stdout)


def _shim_daemons(daemon: PrivateContainerd) -> list[int]:
    found = []
    for pid in processes_mentioning(str(daemon.address)):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if SHIM_NAME.encode() in cmdline and pid != os.getpid():
            found.append(pid)
    return found


def _bundle(daemon: PrivateContainerd, cid: str) -> Path:
    return daemon.state / "io.containerd.runtime.v2.task" / "default" / cid


@pytest.mark.parametrize("shim_containerd", [HOST], indirect=True)
def test_pod_containers_share_one_shim(shim_containerd):
    """Containers naming the same CRI sandbox id go to one shim process."""
    daemon = shim_containerd
    ref = import_busybox_image(daemon)
    sockets = _shim_sockets()
    pod = unique_id("pod")
    app = unique_id("app")
    daemon.ctr(
        "run",
        "-d",
        "--runtime",
        RUNTIME,
        "--annotation",
        f"io.kubernetes.cri.sandbox-id={pod}",
        ref,
        pod,
        "sleep",
        "300",
    )
    daemon.ctr(
        "run",
        "-d",
        "--runtime",
        RUNTIME,
        "--annotation",
        f"io.kubernetes.cri.sandbox-id={pod}",
        ref,
        app,
        "sleep",
        "300",
    )
    address = (_bundle(daemon, pod) / "address").read_text()
    assert (_bundle(daemon, app) / "address").read_text() == address
    assert len(_shim_daemons(daemon)) == 1, _shim_daemons(daemon)
    # The app container goes first; the shim stays for the sandbox container.
    daemon.ctr("task", "kill", "-s", "SIGKILL", app)
    _wait_stopped(daemon, app)
    daemon.ctr("task", "delete", app)
    daemon.ctr("containers", "delete", app)
    assert len(_shim_daemons(daemon)) == 1
    assert re.search(rf"^{pod}\s+\d+\s+RUNNING$", daemon.ctr("task", "ls").stdout, re.M)
    daemon.ctr("task", "kill", "-s", "SIGKILL", pod)
    _wait_stopped(daemon, pod)
    daemon.ctr("task", "delete", pod)
    daemon.ctr("containers", "delete", pod)
    _assert_clean(daemon, sockets)


@pytest.mark.parametrize("shim_containerd", [HOST], indirect=True)
def test_containerd_restart_finds_running_task(shim_containerd):
    daemon = shim_containerd
    ref = import_busybox_image(daemon)
    sockets = _shim_sockets()
    cid = unique_id("restart")
    daemon.ctr("run", "-d", "--runtime", RUNTIME, ref, cid, "sleep", "300")
    shims = _shim_daemons(daemon)
    assert daemon.process is not None
    daemon.process.terminate()
    daemon.process.wait(10)
    assert _shim_daemons(daemon) == shims, "the shim must outlive containerd"
    daemon.start()
    listed = daemon.ctr("task", "ls").stdout
    assert re.search(rf"^{cid}\s+\d+\s+RUNNING$", listed, re.M), listed + daemon.log_tail()
    daemon.ctr("task", "kill", "-s", "SIGKILL", cid)
    _wait_stopped(daemon, cid)
    daemon.ctr("task", "delete", cid)
    daemon.ctr("containers", "delete", cid)
    _assert_clean(daemon, sockets)


@pytest.mark.parametrize("shim_containerd", [HOST], indirect=True)
def test_tty_run_through_a_real_pty(shim_containerd):
    import pty
    import select
    import subprocess

    daemon = shim_containerd
    ref = import_busybox_image(daemon)
    cid = unique_id("tty")
    master, replica = pty.openpty()
    proc = subprocess.Popen(
        [
            "ctr",
            "-a",
            str(daemon.address),
            "run",
            "-t",
            "--rm",
            "--runtime",
            RUNTIME,
            ref,
            cid,
            "sh",
            "-c",
            "test -t 0 && test -t 1 && echo on-a-tty; read x; echo got-$x",
        ],
        stdin=replica,
        stdout=replica,
        stderr=replica,
        start_new_session=True,
    )
    os.close(replica)
    seen = b""
    deadline = time.monotonic() + 30
    try:
        sent = False
        while time.monotonic() < deadline and b"got-typed" not in seen:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(master, 4096)
                except OSError:
                    break
            if b"on-a-tty" in seen and not sent:
                os.write(master, b"typed\r")
                sent = True
        try:
            assert proc.wait(20) == 0
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"ctr run -t did not exit; saw {seen!r}\n{daemon.log_tail()}"
            ) from None
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    # The typed line came back through the container's terminal (echoed by
    # its line discipline, then printed by sh).
    assert b"on-a-tty" in seen and b"got-typed" in seen, seen


@pytest.mark.parametrize("shim_containerd", [HOST], indirect=True)
def test_garbage_on_the_shim_socket_drops_that_connection_only(shim_containerd):
    """Bytes that are no ttrpc frame (an HTTP request) on the shim's socket:
    the shim closes that connection itself and goes on serving containerd."""
    import select
    import socket

    daemon = shim_containerd
    ref = import_busybox_image(daemon)
    sockets = _shim_sockets()
    cid = unique_id("garbage")
    daemon.ctr("run", "-d", "--runtime", RUNTIME, ref, cid, "sleep", "300")
    try:
        address = (_bundle(daemon, cid) / "address").read_text().strip()
        path = address.removeprefix("unix://")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(path)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: shim\r\n\r\n")
            # No shutdown from us: EOF can only come from the shim closing it.
            ready, _, _ = select.select([sock], [], [], 10)
            assert ready, "the shim kept the connection open"
            assert sock.recv(4096) == b""
        assert re.search(rf"^{cid}\s+\d+\s+RUNNING$", daemon.ctr("task", "ls").stdout, re.M)
        daemon.ctr("task", "kill", "-s", "SIGKILL", cid)
        _wait_stopped(daemon, cid)
    finally:
        daemon.ctr("task", "delete", cid, check=False)
        daemon.ctr("containers", "delete", cid, check=False)
    _assert_clean(daemon, sockets)


@pytest.mark.slow
@pytest.mark.parametrize("shim_containerd", [HOST], indirect=True)
def test_many_cycles_leave_nothing_behind(shim_containerd):
    daemon = shim_containerd
    ref = import_busybox_image(daemon)
    sockets = _shim_sockets()
    cids = []
    for i in range(50):
        cid = unique_id(f"cyc{i}")
        cids.append(cid)
        result = daemon.ctr("run", "--rm", "--runtime", RUNTIME, ref, cid, "true", check=False)
        assert result.returncode == 0, result.stderr
    _assert_clean(daemon, sockets)
    leftover = [c for c in cids for d in Path("/sys/fs/cgroup").glob(f"*/pysandbox-shimtest/{c}")]
    assert leftover == [], leftover
