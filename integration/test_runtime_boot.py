"""End to end: ``pysandbox run``/create/start/kill/delete really run busybox
under the Sentry (gofer + boot + ptrace platform), next to runc as the
reference for the lifecycle.

Needs root, ptrace and /bin/busybox (busybox-static); each test skips with
the reason otherwise. Every container is force-deleted in ``finally``.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.spec import default_spec

BUSYBOX = "/bin/busybox"
RUNC = "/usr/sbin/runc"
PYSANDBOX = [sys.executable, "-m", "runtime.cli.main"]
APPLETS = (
    "chown",
    "sh",
    "echo",
    "env",
    "pwd",
    "hostname",
    "sleep",
    "touch",
    "id",
    "cat",
    "true",
    "ls",
)
TIMEOUT = 60


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (namespaces, pivot_root, cgroups)"
    if not os.path.exists(BUSYBOX):
        return "needs a static busybox at /bin/busybox (apt-get install busybox-static)"
    probe = subprocess.run(
        [sys.executable, "-m", "sentry", "run", BUSYBOX, "true"],
        capture_output=True,
        timeout=TIMEOUT,
    )
    if probe.returncode != 0:
        return f"the Sentry cannot run here (ptrace?): {probe.stderr.decode()[-200:]}"
    return None


@pytest.fixture(scope="module")
def requirements() -> None:
    reason = _missing()
    if reason is not None:
        pytest.skip(reason)


def make_bundle(tmp: Path, args: list[str], **changes: Any) -> Path:
    """An OCI bundle whose rootfs is busybox-static plus applet symlinks."""
    bundle = tmp / f"bundle-{uuid.uuid4().hex[:6]}"
    rootfs = bundle / "rootfs"
    for d in ("bin", "tmp", "proc", "dev", "sys", "etc"):
        (rootfs / d).mkdir(parents=True)
    shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
    for applet in APPLETS:
        (rootfs / "bin" / applet).symlink_to("busybox")
    (rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/:/bin/sh\n")
    cfg = copy.deepcopy(default_spec())
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = args
    cfg["process"]["env"] = ["PATH=/bin"]
    cfg["root"]["readonly"] = True
    cfg["hostname"] = "pysandbox-test"
    for key, value in changes.items():
        if key.startswith("process_"):
            cfg["process"][key[len("process_") :]] = value
        elif key == "readonly":
            cfg["root"]["readonly"] = value
        else:
            cfg[key] = value
    (bundle / "config.json").write_text(json.dumps(cfg))
    return bundle


class Runtime:
    """One OCI runtime binary with its own --root."""

    def __init__(self, argv: list[str], root: Path) -> None:
        self.argv = argv
        self.root = root

    def __call__(
        self, *args: str, stdin: int | None = subprocess.DEVNULL
    ) -> subprocess.CompletedProcess[str]:
        # Files, not pipes: after a detached create the container holds
        # its stdio, so a pipe would never reach EOF.
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.run(
                [*self.argv, "--root", str(self.root), *args],
                stdin=stdin,
                stdout=out,
                stderr=err,
                timeout=TIMEOUT,
                cwd="/",
            )
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(
                proc.args, proc.returncode, out.read().decode(), err.read().decode()
            )

    def state(self, cid: str) -> dict[str, Any]:
        r = self("state", cid)
        assert r.returncode == 0, r.stderr
        result: dict[str, Any] = json.loads(r.stdout)
        return result

    def force_delete(self, cid: str) -> None:
        self("delete", "--force", cid)


@pytest.fixture
def pysandbox(tmp_path: Path, requirements: None) -> Runtime:
    return Runtime(PYSANDBOX, tmp_path / "state")


@pytest.fixture(params=["pysandbox", "runc"])
def any_runtime(request: pytest.FixtureRequest, tmp_path: Path, requirements: None) -> Runtime:
    if request.param == "runc":
        if not os.path.exists(RUNC):
            pytest.skip(f"reference runtime {RUNC} is not installed (apt-get install runc)")
        return Runtime([RUNC], tmp_path / "runc-state")
    return Runtime(PYSANDBOX, tmp_path / "state")


def _cid() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def cid(pysandbox: Runtime) -> Iterator[str]:
    name = _cid()
    try:
        yield name
    finally:
        pysandbox.force_delete(name)


# ----------------------------------------------------------------- run


def test_run_prints_output_and_exits_with_the_app_code(
    pysandbox: Runtime, tmp_path: Path, cid: str
) -> None:
    bundle = make_bundle(tmp_path, ["/bin/sh", "-c", "echo hello from the sandbox; exit 7"])
    r = pysandbox("run", "--bundle", str(bundle), cid)
    assert r.stdout == "hello from the sandbox\n", r.stderr
    assert r.returncode == 7
    # run deletes the container afterwards.
    assert pysandbox("state", cid).returncode != 0


def test_run_env_is_the_specs(pysandbox: Runtime, tmp_path: Path, cid: str) -> None:
    bundle = make_bundle(tmp_path, ["/bin/env"], process_env=["PATH=/bin", "GREETING=hi there"])
    r = pysandbox("run", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.splitlines()) == ["GREETING=hi there", "PATH=/bin"]


def test_run_cwd(pysandbox: Runtime, tmp_path: Path, cid: str) -> None:
    bundle = make_bundle(tmp_path, ["/bin/pwd"], process_cwd="/tmp")
    r = pysandbox("run", "--bundle", str(bundle), cid)
    assert (r.returncode, r.stdout) == (0, "/tmp\n"), r.stderr


def test_run_hostname(pysandbox: Runtime, tmp_path: Path, cid: str) -> None:
    bundle = make_bundle(tmp_path, ["/bin/hostname"], hostname="boxy")
    r = pysandbox("run", "--bundle", str(bundle), cid)
    assert (r.returncode, r.stdout) == (0, "boxy\n"), r.stderr


def test_run_user_ids(pysandbox: Runtime, tmp_path: Path, cid: str) -> None:
    bundle = make_bundle(tmp_path, ["/bin/id", "-u"], process_user={"uid": 1234, "gid": 567})
    r = pysandbox("run", "--bundle", str(bundle), cid)
    assert (r.returncode, r.stdout) == (0, "1234\n"), r.stderr


def test_run_readonly_root_refuses_writes(pysandbox: Runtime, tmp_path: Path, cid: str) -> None:
    bundle = make_bundle(tmp_path, ["/bin/touch", "/newfile"], readonly=True)
    r = pysandbox("run", "--bundle", str(bundle), cid)
    assert r.returncode != 0
    assert "Read-only file system" in r.stderr
    assert not (bundle / "rootfs" / "newfile").exists()


def test_run_writable_root_writes_through(pysandbox: Runtime, tmp_path: Path, cid: str) -> None:
    bundle = make_bundle(tmp_path, ["/bin/touch", "/newfile"], readonly=False)
    r = pysandbox("run", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    assert (bundle / "rootfs" / "newfile").exists()


def test_run_rlimits(pysandbox: Runtime, tmp_path: Path, cid: str) -> None:
    bundle = make_bundle(
        tmp_path,
        ["/bin/sh", "-c", "ulimit -n; ulimit -Hn"],
        process_rlimits=[{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456}],
    )
    r = pysandbox("run", "--bundle", str(bundle), cid)
    assert (r.returncode, r.stdout) == (0, "123\n456\n"), r.stderr


@pytest.mark.parametrize("granted", [False, True])
def test_run_capabilities_are_the_specs(
    pysandbox: Runtime, tmp_path: Path, cid: str, granted: bool
) -> None:
    """runc's default set has no CAP_CHOWN: root cannot give a file away."""
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    if granted:
        caps.append("CAP_CHOWN")
    sets = {k: caps for k in ("bounding", "effective", "permitted")}
    bundle = make_bundle(
        tmp_path, ["/bin/chown", "1234:1234", "/victim"], readonly=False, process_capabilities=sets
    )
    victim = bundle / "rootfs" / "victim"
    victim.write_text("")
    r = pysandbox("run", "--bundle", str(bundle), cid)
    if granted:
        assert r.returncode == 0, r.stderr
        assert (victim.stat().st_uid, victim.stat().st_gid) == (1234, 1234)
    else:
        assert r.returncode != 0
        assert "Operation not permitted" in r.stderr, r.stderr
        assert victim.stat().st_uid == 0


def test_run_missing_program_is_a_clear_error(pysandbox: Runtime, tmp_path: Path, cid: str) -> None:
    bundle = make_bundle(tmp_path, ["/bin/no-such-program"])
    r = pysandbox("run", "--bundle", str(bundle), cid)
    assert r.returncode != 0
    assert "/bin/no-such-program" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


# ----------------------------------------------------------- lifecycle


def _wait_status(rt: Runtime, cid: str, want: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        status = rt.state(cid)["status"]
        if status == want:
            break
        time.sleep(0.05)
    return status


def test_lifecycle(any_runtime: Runtime, tmp_path: Path) -> None:
    """create -> created -> start -> running -> pause -> paused -> resume ->
    running -> kill -> stopped -> delete, with runc's errors for the wrong
    states."""
    rt = any_runtime
    cid = _cid()
    bundle = make_bundle(tmp_path, ["/bin/sleep", "1000"])
    try:
        r = rt("create", "--bundle", str(bundle), cid)
        assert r.returncode == 0, r.stderr
        state = rt.state(cid)
        assert state["status"] == "created"
        assert state["pid"] > 0
        # Deleting a running container needs --force; a created one can be
        # started exactly once.
        r = rt("start", cid)
        assert r.returncode == 0, r.stderr
        assert rt.state(cid)["status"] == "running"
        r = rt("start", cid)
        assert r.returncode != 0
        assert "cannot start" in r.stderr and "running" in r.stderr, r.stderr
        r = rt("delete", cid)
        assert r.returncode != 0
        assert "running" in r.stderr, r.stderr
        r = rt("pause", cid)
        assert r.returncode == 0, r.stderr
        assert rt.state(cid)["status"] == "paused"
        r = rt("start", cid)
        assert r.returncode != 0
        assert "paused" in r.stderr, r.stderr
        r = rt("resume", cid)
        assert r.returncode == 0, r.stderr
        assert rt.state(cid)["status"] == "running"
        r = rt("kill", cid, "KILL")
        assert r.returncode == 0, r.stderr
        assert _wait_status(rt, cid, "stopped") == "stopped"
        r = rt("start", cid)
        assert r.returncode != 0
        assert "stopped" in r.stderr, r.stderr
        r = rt("delete", cid)
        assert r.returncode == 0, r.stderr
        r = rt("state", cid)
        assert r.returncode != 0
        assert "does not exist" in r.stderr, r.stderr
    finally:
        rt.force_delete(cid)


def test_kill_a_created_container(any_runtime: Runtime, tmp_path: Path) -> None:
    """The init exists after create and can be killed before start."""
    rt = any_runtime
    cid = _cid()
    bundle = make_bundle(tmp_path, ["/bin/sleep", "1000"])
    try:
        r = rt("create", "--bundle", str(bundle), cid)
        assert r.returncode == 0, r.stderr
        r = rt("kill", cid, "KILL")
        assert r.returncode == 0, r.stderr
        assert _wait_status(rt, cid, "stopped") == "stopped"
        r = rt("start", cid)
        assert r.returncode != 0
        assert "stopped" in r.stderr, r.stderr
        assert rt("delete", cid).returncode == 0
    finally:
        rt.force_delete(cid)


def test_kill_term_and_wait_status(pysandbox: Runtime, tmp_path: Path, cid: str) -> None:
    bundle = make_bundle(tmp_path, ["/bin/sleep", "1000"])
    assert pysandbox("create", "--bundle", str(bundle), cid).returncode == 0
    assert pysandbox("start", cid).returncode == 0
    waiter = subprocess.Popen(
        [*pysandbox.argv, "--root", str(pysandbox.root), "wait", cid],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(0.3)
        r = pysandbox("kill", cid, "TERM")
        assert r.returncode == 0, r.stderr
        out, err = waiter.communicate(timeout=TIMEOUT)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    assert _wait_status(pysandbox, cid, "stopped") == "stopped"
    # The raw wait(2) status of a SIGTERM death, and the shell's 128 + 15.
    assert json.loads(out) == {"id": cid, "exitStatus": signal.SIGTERM}, err
    assert waiter.returncode == 128 + signal.SIGTERM


def test_kill_runs_the_applications_handler(pysandbox: Runtime, tmp_path: Path, cid: str) -> None:
    # The init traps SIGTERM: the kill runs its handler (no default action).
    script = "trap 'exit 3' TERM; while :; do /bin/busybox sleep 0.1; done"
    bundle = make_bundle(tmp_path, ["/bin/busybox", "sh", "-c", script])
    assert pysandbox("create", "--bundle", str(bundle), cid).returncode == 0
    assert pysandbox("start", cid).returncode == 0
    waiter = subprocess.Popen(
        [*pysandbox.argv, "--root", str(pysandbox.root), "wait", cid],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(0.5)
        r = pysandbox("kill", cid, "TERM")
        assert r.returncode == 0, r.stderr
        out, err = waiter.communicate(timeout=TIMEOUT)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    assert waiter.returncode == 3, (out, err)


def test_ps_and_events(pysandbox: Runtime, tmp_path: Path, cid: str) -> None:
    bundle = make_bundle(tmp_path, ["/bin/sleep", "1000"])
    assert pysandbox("create", "--bundle", str(bundle), cid).returncode == 0
    assert pysandbox("start", cid).returncode == 0
    r = pysandbox("ps", "--format", "json", cid)
    assert (r.returncode, json.loads(r.stdout or "null")) == (0, [1]), r.stderr
    r = pysandbox("ps", cid)
    assert "/bin/sleep 1000" in r.stdout, r.stderr
    r = pysandbox("events", "--stats", cid)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)["data"]
    assert data["pids"]["current"] == 1
    assert data["memory"]["usage"]["usage"] > 0


def test_exec_runs_a_process_in_the_running_container(
    pysandbox: Runtime, tmp_path: Path, cid: str
) -> None:
    bundle = make_bundle(tmp_path, ["/bin/sleep", "1000"])
    (bundle / "rootfs" / "data").mkdir()
    (bundle / "rootfs" / "data" / "note").write_text("inside\n")
    assert pysandbox("create", "--bundle", str(bundle), cid).returncode == 0
    assert pysandbox("start", cid).returncode == 0
    # Its own args, cwd and env; the output comes through our stdout.
    r = pysandbox("exec", "--cwd", "/data", "-e", "WHO=exec", cid, "/bin/sh", "-c",
                  "echo $WHO; pwd; exit 7")  # fmt: skip
    assert (r.returncode, r.stdout) == (7, "exec\n/data\n"), r.stderr
    r = pysandbox("exec", cid, "/bin/cat", "note")
    assert r.returncode == 1 and "No such file" in r.stderr, r
    r = pysandbox("exec", "--cwd", "/data", cid, "cat", "note")
    assert (r.returncode, r.stdout) == (0, "inside\n"), r.stderr
    # Its own user.
    r = pysandbox("exec", "--user", "1000:1001", cid, "/bin/id")
    assert r.stdout.startswith("uid=1000 gid=1001"), r
    # A missing program is a clear error and the container keeps running.
    r = pysandbox("exec", cid, "/bin/nope")
    assert r.returncode != 0
    assert "/bin/nope" in r.stderr and "no such file" in r.stderr.lower(), r.stderr
    assert pysandbox.state(cid)["status"] == "running"


def test_exec_detached_is_listed_by_ps(pysandbox: Runtime, tmp_path: Path, cid: str) -> None:
    bundle = make_bundle(tmp_path, ["/bin/sleep", "1000"])
    assert pysandbox("create", "--bundle", str(bundle), cid).returncode == 0
    assert pysandbox("start", cid).returncode == 0
    pid_file = tmp_path / "exec.pid"
    r = pysandbox("exec", "-d", "--pid-file", str(pid_file), cid, "/bin/sleep", "999")
    assert r.returncode == 0, r.stderr
    # The pid file names a host process standing for the exec (as runsc).
    waiter = int(pid_file.read_text())
    assert os.path.exists(f"/proc/{waiter}")
    ps = pysandbox("ps", "--format", "json", cid)
    pids = sorted(json.loads(ps.stdout))
    assert len(pids) == 2 and pids[0] == 1, ps.stdout
    assert "/bin/sleep 999" in pysandbox("ps", cid).stdout
    # The init is untouched by the exec's end.
    assert pysandbox.state(cid)["status"] == "running"


def test_exec_in_a_stopped_container_is_refused(
    pysandbox: Runtime, tmp_path: Path, cid: str
) -> None:
    bundle = make_bundle(tmp_path, ["/bin/true"])
    assert pysandbox("run", "--bundle", str(bundle), "-d", cid).returncode == 0
    _wait_status(pysandbox, cid, "stopped")
    r = pysandbox("exec", cid, "/bin/true")
    assert r.returncode != 0
    assert "stopped" in r.stderr, r.stderr


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n")


def test_pause_holds_tasks_and_resume_releases_them(
    pysandbox: Runtime, tmp_path: Path, cid: str
) -> None:
    # A loop of builtins (no fork): each round makes system calls.
    bundle = make_bundle(tmp_path, ["/bin/sh", "-c", "while :; do read x; echo tick; done"])
    out = tmp_path / "ticks"
    err = tmp_path / "create-stderr"
    with open(out, "wb") as f, open(err, "wb") as e:
        created = subprocess.run(
            [
                *pysandbox.argv,
                "--root",
                str(pysandbox.root),
                "create",
                "--bundle",
                str(bundle),
                cid,
            ],
            stdin=subprocess.DEVNULL,
            stdout=f,
            stderr=e,
            timeout=TIMEOUT,
        )
    assert created.returncode == 0, err.read_text()
    assert pysandbox("start", cid).returncode == 0
    time.sleep(0.3)
    r = pysandbox("pause", cid)
    assert r.returncode == 0, r.stderr
    assert pysandbox.state(cid)["status"] == "paused"
    time.sleep(0.1)
    held = _lines(out)
    time.sleep(0.5)
    assert _lines(out) == held
    r = pysandbox("resume", cid)
    assert r.returncode == 0, r.stderr
    assert pysandbox.state(cid)["status"] == "running"
    time.sleep(0.3)
    assert _lines(out) > held
    r = pysandbox("resume", cid)
    assert r.returncode != 0
    assert "not paused" in r.stderr or "running" in r.stderr, r.stderr


# ------------------------------------------------ confinement and leaks


def _proc_status(pid: int) -> dict[str, str]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def test_sandbox_process_is_confined(pysandbox: Runtime, tmp_path: Path, cid: str) -> None:
    bundle = make_bundle(tmp_path, ["/bin/sleep", "1000"])
    assert pysandbox("create", "--bundle", str(bundle), cid).returncode == 0
    pid = pysandbox.state(cid)["pid"]
    status = _proc_status(pid)
    assert status["Seccomp"] == "2"
    assert status["NoNewPrivs"] == "1"
    # CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID (directfs), nothing else.
    assert int(status["CapEff"], 16) == 0x1F
    assert int(status["CapBnd"], 16) == 0x1F
    # An empty root: only the (unmounted) /proc mount point.
    assert os.listdir(f"/proc/{pid}/root") == ["proc"]
    assert os.listdir(f"/proc/{pid}/root/proc") == []
    # Its own mount, UTS, IPC and network namespaces.
    for ns in ("mnt", "uts", "ipc", "net"):
        assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"), ns
    # The CLI's import bundle (a mapped host file) did not follow it in.
    with open(f"/proc/{pid}/maps") as f:
        assert "importbundle" not in f.read()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            assert "importbundle" not in os.readlink(f"/proc/{pid}/fd/{fd}")


def test_sandbox_process_serves_without_an_event_loop(
    pysandbox: Runtime, tmp_path: Path, cid: str
) -> None:
    """The control API is served on threads (ttrpc.SyncServer): asyncio,
    whose C accelerator any import of it maps, is never loaded."""
    bundle = make_bundle(tmp_path, ["/bin/sleep", "1000"])
    assert pysandbox("create", "--bundle", str(bundle), cid).returncode == 0
    assert pysandbox("start", cid).returncode == 0
    r = pysandbox("ps", "--format", "json", cid)  # a served call
    assert (r.returncode, json.loads(r.stdout or "null")) == (0, [1]), r.stderr
    pid = pysandbox.state(cid)["pid"]
    with open(f"/proc/{pid}/maps") as f:
        maps = f.read()
    assert "python" in maps  # the right process: an interpreter
    assert "_asyncio" not in maps


def test_host_processes_and_files_are_invisible(
    pysandbox: Runtime, tmp_path: Path, cid: str
) -> None:
    bundle = make_bundle(tmp_path, ["/bin/ls", "/proc"])
    r = pysandbox("run", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    assert [name for name in r.stdout.split() if name.isdigit()] == ["1"]
    # A symlink that climbs out of the root lands on the root's own /etc.
    bundle = make_bundle(tmp_path, ["/bin/cat", "/escape/passwd"])
    (bundle / "rootfs" / "escape").symlink_to("/../../../../../../etc")
    r = pysandbox("run", "--bundle", str(bundle), cid)
    assert (r.returncode, r.stdout) == (0, "root:x:0:0:root:/:/bin/sh\n"), r.stderr


def _sandbox_processes(cid: str, bundle: Path) -> list[int]:
    """Host processes of the sandbox (boot: the ID) or its gofer (the bundle)."""
    marks = (cid.encode(), str(bundle).encode())
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if any(m in a for a in cmd for m in marks):
            found.append(int(entry))
    return found


def test_no_leaks_after_sigkill_of_the_sandbox(
    pysandbox: Runtime, tmp_path: Path, cid: str
) -> None:
    bundle = make_bundle(tmp_path, ["/bin/sleep", "1000"])
    assert pysandbox("create", "--bundle", str(bundle), cid).returncode == 0
    assert pysandbox("start", cid).returncode == 0
    pid = pysandbox.state(cid)["pid"]
    os.kill(pid, signal.SIGKILL)
    assert _wait_status(pysandbox, cid, "stopped") == "stopped"
    r = pysandbox("delete", cid)
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 5
    while _sandbox_processes(cid, bundle) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _sandbox_processes(cid, bundle) == []
    leftovers = [p for p in pysandbox.root.iterdir()] if pysandbox.root.exists() else []
    assert leftovers == []


def test_no_leaks_after_delete_force(pysandbox: Runtime, tmp_path: Path, cid: str) -> None:
    bundle = make_bundle(tmp_path, ["/bin/sleep", "1000"])
    assert pysandbox("create", "--bundle", str(bundle), cid).returncode == 0
    assert pysandbox("start", cid).returncode == 0
    assert _sandbox_processes(cid, bundle) != []
    r = pysandbox("delete", "--force", cid)
    assert r.returncode == 0, r.stderr
    assert _sandbox_processes(cid, bundle) == []
    leftovers = [p for p in pysandbox.root.iterdir()] if pysandbox.root.exists() else []
    assert leftovers == []


# --------------------------------------------------------------- mounts


def _with_mounts(cfg_mounts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [*default_spec()["mounts"], *cfg_mounts]


def test_bind_mounts_ro_and_rw(pysandbox: Runtime, tmp_path: Path, cid: str) -> None:
    ro_dir = tmp_path / "ro-data"
    rw_dir = tmp_path / "rw-data"
    ro_dir.mkdir()
    rw_dir.mkdir()
    (ro_dir / "greeting").write_text("from the host\n")
    mounts = _with_mounts(
        [
            {
                "destination": "/ro",
                "type": "bind",
                "source": str(ro_dir),
                "options": ["rbind", "ro"],
            },
            {
                "destination": "/rw",
                "type": "bind",
                "source": str(rw_dir),
                "options": ["rbind", "rw"],
            },
        ]
    )
    bundle = make_bundle(tmp_path, ["/bin/cat", "/ro/greeting"], mounts=mounts)
    r = pysandbox("run", "--bundle", str(bundle), cid)
    assert (r.returncode, r.stdout) == (0, "from the host\n"), r.stderr
    bundle = make_bundle(tmp_path, ["/bin/touch", "/rw/made-inside"], mounts=mounts)
    r = pysandbox("run", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    assert (rw_dir / "made-inside").exists()
    bundle = make_bundle(tmp_path, ["/bin/touch", "/ro/made-inside"], mounts=mounts)
    r = pysandbox("run", "--bundle", str(bundle), cid)
    assert r.returncode != 0
    assert "Read-only file system" in r.stderr
    assert not (ro_dir / "made-inside").exists()


def test_tmpfs_mount_is_writable_on_a_readonly_root(
    pysandbox: Runtime, tmp_path: Path, cid: str
) -> None:
    mounts = _with_mounts(
        [{"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777"]}]
    )
    bundle = make_bundle(tmp_path, ["/bin/touch", "/scratch/file"], mounts=mounts, readonly=True)
    (bundle / "rootfs" / "scratch").mkdir()
    r = pysandbox("run", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    # It lived in the Sentry's memory, not in the image.
    assert not (bundle / "rootfs" / "scratch" / "file").exists()
    # Without the mount the same write hits the read-only root.
    bundle = make_bundle(tmp_path, ["/bin/touch", "/scratch/file"], readonly=True)
    (bundle / "rootfs" / "scratch").mkdir()
    r = pysandbox("run", "--bundle", str(bundle), cid)
    assert r.returncode != 0
    assert "Read-only file system" in r.stderr


def _cgroup_dirs(path: str) -> list[Path]:
    return [d / path.lstrip("/") for d in Path("/sys/fs/cgroup").iterdir() if d.is_dir()]


def test_cgroup_placement_and_no_leaks(pysandbox: Runtime, tmp_path: Path, cid: str) -> None:
    """The sandbox and its gofer run in the spec's cgroup with its limits;
    delete leaves no process, cgroup, mount, socket or state file behind."""
    if not Path("/sys/fs/cgroup").is_dir():
        pytest.skip("no cgroup file system at /sys/fs/cgroup")
    cg_path = f"/pysandbox-test-{cid}"
    linux = copy.deepcopy(default_spec()["linux"])
    linux["cgroupsPath"] = cg_path
    linux["resources"] = {"memory": {"limit": 256 << 20}, "pids": {"limit": 64}}
    bundle = make_bundle(tmp_path, ["/bin/sleep", "1000"], linux=linux)
    r = pysandbox("create", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    pid = pysandbox.state(cid)["pid"]
    with open(f"/proc/{pid}/cgroup") as f:
        assert cg_path in f.read()
    memory = Path("/sys/fs/cgroup/memory") / cg_path.lstrip("/") / "memory.limit_in_bytes"
    unified = Path("/sys/fs/cgroup") / cg_path.lstrip("/") / "memory.max"
    limit = memory if memory.exists() else unified
    assert int(limit.read_text()) == 256 << 20
    procs = {int(p) for p in (limit.parent / "cgroup.procs").read_text().split()}
    assert pid in procs and len(procs) >= 2  # boot and its gofer
    assert pysandbox("start", cid).returncode == 0
    r = pysandbox("delete", "--force", cid)
    assert r.returncode == 0, r.stderr
    assert _sandbox_processes(cid, bundle) == []
    assert [d for d in _cgroup_dirs(cg_path) if d.exists()] == []
    # Only this test's mounts: other tests (or other users of the machine)
    # may mount and unmount elsewhere meanwhile.
    with open("/proc/self/mountinfo") as f:
        ours = [m for m in f if str(tmp_path) in m or cid in m]
    assert ours == []
    assert list(pysandbox.root.iterdir()) == []


# ------------------------------------------------------------------- do


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["/bin/busybox", "echo", "hi"], "hi\n"),
        (["/usr/bin/python3", "-c", "print(1)"], "1\n"),
    ],
)
def test_do_runs_over_the_host_root(pysandbox: Runtime, argv: list[str], expected: str) -> None:
    if not os.path.exists(argv[0]):
        pytest.skip(f"{argv[0]} is not installed")
    r = pysandbox("do", "--", *argv)
    assert (r.returncode, r.stdout) == (0, expected), r.stderr
    assert list(pysandbox.root.iterdir()) == []


def test_do_ls_root(pysandbox: Runtime) -> None:
    r = pysandbox("do", "--", "/bin/busybox", "ls", "/")
    assert r.returncode == 0, r.stderr
    assert set(os.listdir("/")) >= set(r.stdout.split()) >= {"bin", "etc", "proc", "tmp"}


def test_do_writes_stay_in_the_sandbox(pysandbox: Runtime, tmp_path: Path) -> None:
    """The default overlay (``--overlay memory``) keeps every write in the
    sandbox: the command reads back what it wrote, the host never sees it."""
    target = Path("/var/tmp") / f"pysb-do-{uuid.uuid4().hex[:8]}"
    new_dir = tmp_path / "made-by-do"
    victim = tmp_path / "kept"
    victim.write_text("host")
    script = f"echo hi > {target} && cat {target} && mkdir {new_dir} && rm {victim}"
    r = pysandbox("do", "--", "/bin/busybox", "sh", "-c", script)
    assert (r.returncode, r.stdout) == (0, "hi\n"), r.stderr
    assert not target.exists() and not new_dir.exists()
    assert victim.read_text() == "host"


def test_do_without_an_overlay_is_read_only(pysandbox: Runtime) -> None:
    target = Path("/var/tmp") / f"pysb-do-{uuid.uuid4().hex[:8]}"
    r = pysandbox(
        "do", "--overlay", "none", "--", "/bin/busybox", "sh", "-c", f"echo hi > {target}"
    )
    assert r.returncode != 0 and "Read-only file system" in r.stderr, (r.returncode, r.stderr)
    assert not target.exists()


def test_do_sees_the_hosts_tmp_and_runs_in_a_directory_there(
    pysandbox: Runtime, tmp_path: Path
) -> None:
    """A non-empty /tmp in the root is not hidden by a tmpfs (gVisor's
    mountTmp rule), so ``do`` works from a directory under the host's /tmp."""
    assert str(tmp_path).startswith("/tmp/"), tmp_path
    work = tmp_path / "work"
    work.mkdir()
    (work / "seen").write_text("x")
    r = pysandbox("do", "--cwd", str(work), "--", "/bin/busybox", "sh", "-c", "pwd; ls")
    assert (r.returncode, r.stdout.split()) == (0, [str(work), "seen"]), r.stderr


def test_file_bind_mounts_ro_and_rw(pysandbox: Runtime, tmp_path: Path, cid: str) -> None:
    """CRI binds single files (/etc/hosts, /etc/hostname, /dev/termination-log)."""
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 pod\n")
    log_file = tmp_path / "termination-log"
    log_file.write_text("")
    mounts = _with_mounts(
        [
            {
                "destination": "/etc/hosts",
                "type": "bind",
                "source": str(hosts),
                "options": ["rbind", "ro"],
            },
            {
                "destination": "/dev/termination-log",
                "type": "bind",
                "source": str(log_file),
                "options": ["rbind", "rw"],
            },
            # Through a symlink in the image: resolved inside the root.
            {
                "destination": "/link/hostname",
                "type": "bind",
                "source": str(hosts),
                "options": ["rbind", "ro"],
            },
        ]
    )
    bundle = make_bundle(tmp_path, ["/bin/cat", "/etc/hosts", "/etc/hostname"], mounts=mounts)
    (bundle / "rootfs" / "link").symlink_to("/etc")
    r = pysandbox("run", "--bundle", str(bundle), cid)
    assert (r.returncode, r.stdout) == (0, "127.0.0.1 pod\n" * 2), r.stderr
    # Shell builtins only (the Sentry has no fork yet): rw appends, ro refuses.
    script = "echo done >> /dev/termination-log; echo x > /etc/hosts || echo refused"
    bundle = make_bundle(tmp_path, ["/bin/sh", "-c", script], mounts=mounts)
    (bundle / "rootfs" / "link").symlink_to("/etc")
    r = pysandbox("run", "--bundle", str(bundle), cid)
    assert (r.returncode, r.stdout) == (0, "refused\n"), r.stderr
    assert "Read-only file system" in r.stderr
    assert log_file.read_text() == "done\n"
    assert hosts.read_text() == "127.0.0.1 pod\n"
    # The destination through /link landed inside the root, as /etc/hostname.
    assert (bundle / "rootfs" / "etc" / "hostname").exists()


# ------------------------------------------------------------ subcontainers


def _pod_annotations(pod: str, kind: str) -> dict[str, str]:
    return {
        "io.kubernetes.cri.sandbox-id": pod,
        "io.kubernetes.cri.container-type": kind,
    }


def test_subcontainer_joins_the_sandbox_with_its_own_root(
    pysandbox: Runtime, tmp_path: Path
) -> None:
    pod, app = _cid(), _cid()
    pod_bundle = make_bundle(
        tmp_path, ["/bin/sleep", "1000"], annotations=_pod_annotations(pod, "sandbox")
    )
    app_bundle = make_bundle(
        tmp_path, ["/bin/sleep", "999"], annotations=_pod_annotations(pod, "container")
    )
    (pod_bundle / "rootfs" / "who").write_text("pod\n")
    (app_bundle / "rootfs" / "who").write_text("app\n")
    (app_bundle / "rootfs" / "only-app").write_text("")
    try:
        assert pysandbox("create", "--bundle", str(pod_bundle), pod).returncode == 0
        assert pysandbox("start", pod).returncode == 0
        r = pysandbox("create", "--bundle", str(app_bundle), app)
        assert r.returncode == 0, r.stderr
        assert pysandbox.state(app)["status"] == "created"
        r = pysandbox("start", app)
        assert r.returncode == 0, r.stderr
        assert pysandbox.state(app)["status"] == "running"
        # One sandbox process: the app's pid is the pod's sandbox.
        assert pysandbox.state(app)["pid"] == pysandbox.state(pod)["pid"]
        # Each container sees only its own root.
        r = pysandbox("exec", app, "/bin/cat", "/who")
        assert (r.returncode, r.stdout) == (0, "app\n"), r.stderr
        r = pysandbox("exec", pod, "/bin/cat", "/who")
        assert (r.returncode, r.stdout) == (0, "pod\n"), r.stderr
        r = pysandbox("exec", pod, "/bin/ls", "/only-app")
        assert r.returncode != 0
        # One PID namespace: the app's processes are its own in ps.
        pod_ps = json.loads(pysandbox("ps", "--format", "json", pod).stdout)
        app_ps = json.loads(pysandbox("ps", "--format", "json", app).stdout)
        assert pod_ps == [1] and len(app_ps) == 1 and app_ps[0] > 1, (pod_ps, app_ps)
        assert "/bin/sleep 999" in pysandbox("ps", app).stdout
        # Its own UTS namespace is the pod's (hostname from the pod's spec).
        r = pysandbox("exec", app, "/bin/hostname")
        assert r.stdout == "pysandbox-test\n", r.stderr
        # A short-lived subcontainer stops while the sandbox runs on.
        short = _cid()
        short_bundle = make_bundle(
            tmp_path, ["/bin/sh", "-c", "exit 3"], annotations=_pod_annotations(pod, "container")
        )
        try:
            assert pysandbox("create", "--bundle", str(short_bundle), short).returncode == 0
            assert pysandbox("start", short).returncode == 0
            r = pysandbox("wait", short)
            assert (r.returncode, json.loads(r.stdout)["exitStatus"]) == (3, 3 << 8), r
            assert pysandbox.state(short)["status"] == "stopped"
            r = pysandbox("delete", short)
            assert r.returncode == 0, r.stderr
        finally:
            pysandbox.force_delete(short)
        # Killing the app leaves the pod running.
        assert pysandbox("kill", app, "KILL").returncode == 0
        r = pysandbox("delete", "--force", app)
        assert r.returncode == 0, r.stderr
        assert pysandbox.state(pod)["status"] == "running"
        # The app's gofer is gone once the Sentry closed its connections.
        deadline = time.monotonic() + 10
        while _sandbox_processes(app, app_bundle):
            assert time.monotonic() < deadline, _sandbox_processes(app, app_bundle)
            time.sleep(0.1)
    finally:
        pysandbox.force_delete(app)
        pysandbox.force_delete(pod)
    assert _sandbox_processes(pod, pod_bundle) == []


def test_subcontainer_of_a_missing_sandbox_is_refused(pysandbox: Runtime, tmp_path: Path) -> None:
    app = _cid()
    bundle = make_bundle(
        tmp_path, ["/bin/true"], annotations=_pod_annotations("no-such-pod", "container")
    )
    r = pysandbox("create", "--bundle", str(bundle), app)
    assert r.returncode != 0
    assert "no-such-pod" in r.stderr, r.stderr
    assert pysandbox("state", app).returncode != 0
