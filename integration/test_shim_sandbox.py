"""containerd runs busybox in real pysandbox sandboxes through our shim.

The shim's real backend (the runtime library in-process) spawns
``pysandbox boot`` (the Sentry) and the gofer for each pod. What the
Sentry cannot do must come back to ``ctr`` as one clear line. Terminals
(``ctr run -t``, ``ctr task exec -t``) are driven through real ptys.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from integration._pty import PtyDriver
from integration.containerd import (
    CTR,
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
from shim.address import socket_address, socket_path

pytestmark = [pytest.mark.containerd, pytest.mark.timeout(180)]

RUNTIME = "io.pysandbox.v2"
SHIM_NAME = "containerd-shim-pysandbox-v2"
STATE_ROOT = Path("/run/pysandbox")


@pytest.fixture
def sandbox_containerd(tmp_path: Path) -> Iterator[PrivateContainerd]:
    reason = missing_requirements()
    if reason is not None:
        pytest.skip(f"private containerd: {reason}")
    exe = Path(sys.executable).parent / SHIM_NAME
    if not exe.exists():
        pytest.skip(f"{exe} is not installed (pip install -e .)")
    shimbin = tmp_path / "shimbin"
    shimbin.mkdir()
    (shimbin / SHIM_NAME).symlink_to(exe)
    saved = os.environ.pop("PYSANDBOX_SHIM_BACKEND", None)
    try:
        with private_containerd(ContainerdConfig(path_prepend=(str(shimbin),))) as daemon:
            yield daemon
    finally:
        if saved is not None:
            os.environ["PYSANDBOX_SHIM_BACKEND"] = saved


def _sockets() -> set[Path]:
    return set(SHIM_SOCKET_DIR.glob("*")) if SHIM_SOCKET_DIR.exists() else set()


def _shim_daemons(daemon: PrivateContainerd) -> list[int]:
    found = []
    for pid in processes_mentioning(str(daemon.address)):
        try:
            if SHIM_NAME.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            pass
    return found


def _assert_clean(daemon: PrivateContainerd, cids: list[str], sockets_before: set[Path]) -> None:
    deadline = time.monotonic() + 10
    while _shim_daemons(daemon) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _shim_daemons(daemon) == [], daemon.log_tail()
    assert list(daemon.state.glob("io.containerd.runtime.v2.task/*/*")) == []
    assert mounts_under(daemon.base) == []
    # Only this daemon's shim sockets (the directory is host-wide): the
    # address is a hash of containerd's socket, the namespace and the group.
    ours = {Path(socket_path(socket_address(str(daemon.address), "default", cid))) for cid in cids}
    assert {p for p in ours if p.exists()} == set()
    assert {p for p in _sockets() - sockets_before if p in ours} == set()
    for cid in cids:
        assert not (STATE_ROOT / cid).exists(), f"runtime state of {cid} left"
        left = list(Path("/sys/fs/cgroup").glob(f"*/default/{cid}"))
        assert left == [], f"cgroups left: {left}"
        assert processes_mentioning(cid) == [], f"processes of {cid} left"


def _task_status(daemon: PrivateContainerd, cid: str) -> str:
    m = re.search(rf"^{cid}\s+\d+\s+(\w+)$", daemon.ctr("task", "ls").stdout, re.M)
    return m.group(1) if m else ""


def _wait_status(daemon: PrivateContainerd, cid: str, want: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while _task_status(daemon, cid) != want:
        if time.monotonic() > deadline:
            raise AssertionError(f"{cid} never became {want}: {daemon.ctr('task', 'ls').stdout}")
        time.sleep(0.1)


def test_ctr_run_echo_hello_in_a_sandbox(sandbox_containerd):
    daemon = sandbox_containerd
    ref = import_busybox_image(daemon)
    sockets = _sockets()
    events = EventWatcher(daemon)
    cids = [unique_id("hello"), unique_id("code")]
    try:
        result = daemon.ctr("run", "--rm", "--runtime", RUNTIME, ref, cids[0], "echo", "hello",
                            check=False, timeout=120)  # fmt: skip
        assert (result.returncode, result.stdout) == (0, "hello\n"), (
            result.stderr + daemon.log_tail()
        )
        got = [e.topic for e in events.collect("/tasks/delete", 20, container_id=cids[0])]
        assert got == ["/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"], got
    finally:
        events.close()
    result = daemon.ctr("run", "--rm", "--runtime", RUNTIME, ref, cids[1], "sh", "-c", "exit 7",
                        check=False, timeout=120)  # fmt: skip
    assert result.returncode == 7, result.stderr
    _assert_clean(daemon, cids, sockets)


def test_detached_sandbox_task(sandbox_containerd):
    daemon = sandbox_containerd
    ref = import_busybox_image(daemon)
    sockets = _sockets()
    cid = unique_id("det")
    daemon.ctr("run", "-d", "--runtime", RUNTIME, ref, cid, "sleep", "300", timeout=120)
    events = EventWatcher(daemon)
    try:
        assert _task_status(daemon, cid) == "RUNNING"
        ps = daemon.ctr("task", "ps", cid).stdout.splitlines()
        assert len(ps) >= 2 and re.match(r"^\d+", ps[1]), ps
        # exec: a second process in the sandbox, its output through the FIFOs.
        exec_ = daemon.ctr("task", "exec", "--exec-id", "e1", cid, "sh", "-c", "echo hi; exit 3",
                           check=False, timeout=60)  # fmt: skip
        assert (exec_.returncode, exec_.stdout) == (3, "hi\n"), exec_.stderr
        # A detached exec is listed by ps and killed by its exec id.
        daemon.ctr("task", "exec", "-d", "--exec-id", "e2", cid, "sleep", "301", timeout=60)
        assert len(daemon.ctr("task", "ps", cid).stdout.splitlines()) == 3
        daemon.ctr("task", "kill", "--exec-id", "e2", "-s", "SIGKILL", cid)
        deadline = time.monotonic() + 30
        while len(daemon.ctr("task", "ps", cid).stdout.splitlines()) != 2:
            assert time.monotonic() < deadline, daemon.ctr("task", "ps", cid).stdout
            time.sleep(0.1)
        missing = daemon.ctr("task", "exec", "--exec-id", "e3", cid, "/nope", check=False)
        assert missing.returncode != 0
        assert "/nope" in missing.stderr, missing.stderr
        assert _task_status(daemon, cid) == "RUNNING"
        daemon.ctr("task", "pause", cid)
        assert _task_status(daemon, cid) == "PAUSED"
        daemon.ctr("task", "resume", cid)
        assert _task_status(daemon, cid) == "RUNNING"
        metrics = daemon.ctr("task", "metrics", cid)
        if os.path.isdir("/sys/fs/cgroup/memory"):
            assert re.search(r"^pids\.current\s+[1-9]", metrics.stdout, re.M), metrics.stdout
        daemon.ctr("task", "kill", "-s", "SIGTERM", cid)
        _wait_status(daemon, cid, "STOPPED")
        daemon.ctr("task", "delete", cid)
        got = [e.topic for e in events.collect("/tasks/delete", 20, container_id=cid)]
        # e3: exec-added, registered before its start failed (as runc).
        assert got == [
            "/tasks/exec-added",
            "/tasks/exec-started",
            "/tasks/exit",
            "/tasks/exec-added",
            "/tasks/exec-started",
            "/tasks/exit",
            "/tasks/exec-added",
            "/tasks/paused",
            "/tasks/resumed",
            "/tasks/exit",
            "/tasks/delete",
        ], got
    finally:
        events.close()
    daemon.ctr("containers", "delete", cid)
    _assert_clean(daemon, [cid], sockets)


def test_killed_sandbox_ends_the_task_with_an_error(sandbox_containerd):
    daemon = sandbox_containerd
    ref = import_busybox_image(daemon)
    sockets = _sockets()
    cid = unique_id("kill9")
    daemon.ctr("run", "-d", "--runtime", RUNTIME, ref, cid, "sleep", "300", timeout=120)
    listed = re.search(rf"^{cid}\s+(\d+)", daemon.ctr("task", "ls").stdout, re.M)
    assert listed is not None
    pid = int(listed.group(1))
    os.kill(pid, signal.SIGKILL)  # the sandbox process itself
    _wait_status(daemon, cid, "STOPPED")
    deleted = daemon.ctr("task", "delete", cid, check=False)
    assert deleted.returncode == 0, deleted.stderr
    assert "exit with non-zero exit code" in deleted.stderr, deleted.stderr
    daemon.ctr("containers", "delete", cid)
    _assert_clean(daemon, [cid], sockets)


PROMPT = b"box$ "


def _ctr_tty(daemon: PrivateContainerd, *args: str, rows: int, cols: int) -> PtyDriver:
    """``ctr ARGS`` on a real pty of its own (ctr puts it in raw mode, copies
    it to the task's console and sends ResizePty on start and on SIGWINCH)."""
    argv = [shutil.which(CTR) or CTR, "-a", str(daemon.address), "-n", "default", *args]
    return PtyDriver(argv, rows=rows, cols=cols)


def _command(term: PtyDriver, line: bytes) -> bytes:
    """Type ``line``; the output up to the next prompt. ctr's raw mode keeps
    OPOST on its own terminal, so the container's CR NL arrives as CR CR NL
    (as with runc); that is folded back here."""
    term.send(line + b"\r")
    out = term.expect(PROMPT).replace(b"\x1b[6n", b"")
    return out.replace(b"\r\r\n", b"\r\n")


def _await_size(term: PtyDriver, rows: int, cols: int) -> None:
    """Until the container's terminal has this size (resizes are
    asynchronous). Then a marker line: the shell's line editor redraws its
    prompt on SIGWINCH, and such a redraw must not be taken for the end of
    the next command's output."""
    size = f"{rows} {cols}".encode()
    term.send(
        b'while [ "$(stty size)" != \'' + size + b"' ]; do sleep 1; done; echo size-ok-$((6*7))\r"
    )
    term.expect(b"size-ok-42\r")
    term.expect(PROMPT)
    term.send(b"echo sync-$((3*3))\r")
    term.expect(b"sync-9\r")
    term.expect(PROMPT)


def test_ctr_run_tty_through_a_real_pty(sandbox_containerd):
    """``ctr run -t`` on a sandbox: a prompt, echo, the window size from
    ResizePty, a resize becoming the sandbox's SIGWINCH, ^C to the
    foreground job, the exit status, and no stderr stream with a tty."""
    daemon = sandbox_containerd
    ref = import_busybox_image(daemon)
    sockets = _sockets()
    cid = unique_id("tty")
    term = _ctr_tty(daemon, "run", "-t", "--rm", "--runtime", RUNTIME, "--env", "PS1=box$ ",
                    ref, cid, "sh", rows=40, cols=100)  # fmt: skip
    try:
        banner = term.expect(PROMPT, timeout=120)
        assert b"job control turned off" not in banner
        _await_size(term, 40, 100)  # ctr's ResizePty at start
        out = _command(term, b"echo hi there")
        assert out.startswith(b"echo hi there") and b"\r\nhi there\r\n" in out, out
        term.resize(30, 90)  # ctr: SIGWINCH -> ResizePty -> the sandbox's SIGWINCH
        _await_size(term, 30, 90)
        # With a terminal there is no separate stderr: it is the terminal too.
        assert b"\r\nerr-5\r\n" in _command(term, b"echo err-$((2+3)) >&2")
        term.send(b"sh -c 'echo start$((1+1)); exec sleep 1000'\r")
        term.expect(b"start2\r")
        term.send(b"\x03")
        term.expect(PROMPT)
        assert b"status=130" in _command(term, b"echo status=$?")
        term.send(b"exit 3\r")
        assert term.wait() == 3, term.seen + daemon.log_tail().encode()
    finally:
        term.close()
    daemon.ctr("containers", "delete", cid, check=False)
    _assert_clean(daemon, [cid], sockets)


def test_ctr_task_exec_tty(sandbox_containerd):
    """``ctr task exec -t``: an exec'd shell with a terminal of its own in a
    running sandbox; its resizes go through ResizePty with the exec id."""
    daemon = sandbox_containerd
    ref = import_busybox_image(daemon)
    sockets = _sockets()
    cid = unique_id("xtty")
    daemon.ctr("run", "-d", "--runtime", RUNTIME, ref, cid, "sleep", "300", timeout=120)
    try:
        term = _ctr_tty(daemon, "task", "exec", "-t", "--exec-id", "shell", cid,
                        "env", "PS1=box$ ", "sh", rows=33, cols=111)  # fmt: skip
        try:
            term.expect(PROMPT, timeout=60)
            _await_size(term, 33, 111)
            term.resize(20, 70)
            _await_size(term, 20, 70)
            assert b"/dev/pts/" in _command(term, b"tty")
            term.send(b"exit 6\r")
            assert term.wait() == 6, term.seen
        finally:
            term.close()
        assert _task_status(daemon, cid) == "RUNNING"
    finally:
        daemon.ctr("task", "kill", "-s", "SIGKILL", cid, check=False)
        _wait_status(daemon, cid, "STOPPED")
        daemon.ctr("task", "delete", cid, check=False)
        daemon.ctr("containers", "delete", cid, check=False)
    _assert_clean(daemon, [cid], sockets)


def test_pod_subcontainer_with_a_terminal(sandbox_containerd):
    """``ctr run -t`` of a second container of a pod: its terminal is made
    in the running sandbox (gVisor once refused this, gvisor#2714)."""
    daemon = sandbox_containerd
    ref = import_busybox_image(daemon)
    sockets = _sockets()
    pod, app = unique_id("pod"), unique_id("app")
    group = f"io.kubernetes.cri.sandbox-id={pod}"
    daemon.ctr("run", "-d", "--runtime", RUNTIME, "--annotation", group,
               "--annotation", "io.kubernetes.cri.container-type=sandbox",
               ref, pod, "sleep", "300", timeout=120)  # fmt: skip
    try:
        term = _ctr_tty(daemon, "run", "-t", "--rm", "--runtime", RUNTIME, "--annotation", group,
                        "--annotation", "io.kubernetes.cri.container-type=container",
                        "--env", "PS1=box$ ", ref, app, "sh", rows=25, cols=99)  # fmt: skip
        try:
            term.expect(PROMPT, timeout=120)
            _await_size(term, 25, 99)
            term.resize(26, 98)
            _await_size(term, 26, 98)
            assert b"/dev/pts/" in _command(term, b"tty")
            term.send(b"exit 2\r")
            assert term.wait() == 2, term.seen
        finally:
            term.close()
        assert len(_shim_daemons(daemon)) == 1
        assert _task_status(daemon, pod) == "RUNNING"
    finally:
        daemon.ctr("task", "kill", "-s", "SIGKILL", pod, check=False)
        _wait_status(daemon, pod, "STOPPED")
        daemon.ctr("task", "delete", pod, check=False)
        daemon.ctr("containers", "delete", pod, check=False)
        daemon.ctr("containers", "delete", app, check=False)
    _assert_clean(daemon, [pod, app], sockets)


def test_pod_subcontainer_runs_in_the_pod_sandbox(sandbox_containerd):
    """The second container of a pod reaches the pod's shim and joins its
    sandbox (one sandbox process), with its own root file system."""
    daemon = sandbox_containerd
    ref = import_busybox_image(daemon)
    sockets = _sockets()
    pod, app = unique_id("pod"), unique_id("app")
    group = f"io.kubernetes.cri.sandbox-id={pod}"
    daemon.ctr("run", "-d", "--runtime", RUNTIME, "--annotation", group,
               "--annotation", "io.kubernetes.cri.container-type=sandbox",
               ref, pod, "sleep", "300", timeout=120)  # fmt: skip
    shims = _shim_daemons(daemon)
    assert len(shims) == 1
    daemon.ctr("run", "-d", "--runtime", RUNTIME, "--annotation", group,
               "--annotation", "io.kubernetes.cri.container-type=container",
               ref, app, "sh", "-c", "echo app > /only-app; exec sleep 300",
               timeout=120)  # fmt: skip
    assert _shim_daemons(daemon) == shims, "the pod's shim must serve the app"
    assert _task_status(daemon, app) == "RUNNING"
    pids = dict(re.findall(r"^(\S+)\s+(\d+)", daemon.ctr("task", "ls").stdout, re.M))
    assert pids[app] == pids[pod], "both containers live in the pod's sandbox process"
    deadline = time.monotonic() + 20
    while True:
        seen = daemon.ctr("task", "exec", "--exec-id", "cat", app, "cat", "/only-app",
                          check=False, timeout=60)  # fmt: skip
        if seen.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert seen.stdout == "app\n", seen.stderr
    other = daemon.ctr("task", "exec", "--exec-id", "ls", pod, "ls", "/only-app",
                       check=False, timeout=60)  # fmt: skip
    assert other.returncode != 0, "the pod's root must not show the app's files"
    daemon.ctr("task", "kill", "-s", "SIGKILL", app)
    _wait_status(daemon, app, "STOPPED")
    daemon.ctr("task", "delete", app)
    daemon.ctr("containers", "delete", app)
    assert _task_status(daemon, pod) == "RUNNING"
    daemon.ctr("task", "kill", "-s", "SIGKILL", pod)
    _wait_status(daemon, pod, "STOPPED")
    daemon.ctr("task", "delete", pod)
    daemon.ctr("containers", "delete", pod)
    _assert_clean(daemon, [pod, app], sockets)


def test_oom_in_the_sandbox_is_reported_before_exit(sandbox_containerd):
    if not os.path.exists("/sys/fs/cgroup/memory/memory.oom_control") and not os.path.exists(
        "/sys/fs/cgroup/cgroup.controllers"
    ):
        pytest.skip("no memory cgroup controller")
    daemon = sandbox_containerd
    ref = import_busybox_image(daemon)
    sockets = _sockets()
    cid = unique_id("oom")
    events = EventWatcher(daemon)
    try:
        # The shell doubles a variable until the sandbox's cgroup is full.
        result = daemon.ctr("run", "--rm", "--runtime", RUNTIME, "--memory-limit", str(96 << 20),
                            ref, cid, "sh", "-c", "a=0123456789; while :; do a=$a$a; done",
                            check=False, timeout=150)  # fmt: skip
        assert result.returncode == 137, result.stdout + result.stderr
        got = [e.topic for e in events.collect("/tasks/delete", 30, container_id=cid)]
        assert "/tasks/oom" in got, got
        assert got.index("/tasks/oom") < got.index("/tasks/exit"), got
    finally:
        events.close()
    _assert_clean(daemon, [cid], sockets)


def test_runtime_config_path_reaches_the_runtime(sandbox_containerd, tmp_path):
    """``ctr --runtime-config-path`` → runtimeoptions.v1.Options → pysandbox.toml."""
    daemon = sandbox_containerd
    ref = import_busybox_image(daemon)
    sockets = _sockets()
    logs = tmp_path / "logs"
    config = tmp_path / "pysandbox.toml"
    config.write_text(f'debug = true\nlog = "{logs}/%ID%.log"\nshim_log = "{logs}/shim-%ID%.log"\n')
    cid = unique_id("cfg")
    result = daemon.ctr("run", "--rm", "--runtime", RUNTIME, "--runtime-config-path", str(config),
                        ref, cid, "echo", "configured", check=False, timeout=120)  # fmt: skip
    assert (result.returncode, result.stdout) == (0, "configured\n"), result.stderr
    assert (logs / f"{cid}.log").stat().st_size > 0, "the sandbox did not log where configured"
    assert "serving containerd.task.v2.Task" in (logs / f"shim-{cid}.log").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text('platform = "qemu"\n')
    cid2 = unique_id("badcfg")
    result = daemon.ctr("run", "--rm", "--runtime", RUNTIME, "--runtime-config-path", str(bad),
                        ref, cid2, "true", check=False, timeout=60)  # fmt: skip
    assert result.returncode != 0
    assert "invalid platform 'qemu'" in result.stderr, result.stderr
    daemon.ctr("containers", "delete", cid2, check=False)
    _assert_clean(daemon, [cid, cid2], sockets)
