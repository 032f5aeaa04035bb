"""The pysandbox CLI: runc-compatible flags, one-line errors, record-only commands."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runtime import spec as ocispec
from runtime.cli import main as cli
from runtime.cli._args import parse_duration, parse_signal
from runtime.errors import UsageError
from runtime.sandbox import Sandbox
from runtime.state import ContainerRecord, ProcessRef, StateStore
from runtime.status import Status
from tests.runtime.conftest import minimal_config


@pytest.fixture
def root(tmp_path: Path) -> str:
    return str(tmp_path / "state")


@pytest.fixture
def sleeper():
    p = subprocess.Popen(["sleep", "60"])
    try:
        yield p
    finally:
        p.kill()
        p.wait()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def one_line(err: str) -> str:
    """The single error line, decoded: the msg of a logrus text line, else as is."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    m = re.fullmatch(r'time="[^"]+" level=\w+ msg=(".*")', lines[0])
    return json.loads(m.group(1)) if m else lines[0]


def make_record(
    root: str,
    cid: str,
    status: Status,
    pid: int = 0,
    cfg: dict[str, Any] | None = None,
    exit_status: int | None = None,
) -> ContainerRecord:
    process = ProcessRef.of(pid) if pid else None
    sandbox = Sandbox(cid, process=process).to_json() if pid else {}
    rec = ContainerRecord(
        id=cid,
        bundle="/b",
        rootfs="/b/rootfs",
        status=status,
        process=process,
        sandbox_id=cid,
        sandbox=sandbox,
        spec=cfg or minimal_config(),
        exit_status=exit_status,
    )
    StateStore(root).create(rec)
    return rec


def test_missing_container_is_one_line_in_runc_format(capsys, root: str) -> None:
    rc, out, err = run(capsys, "--root", root, "state", "nope")
    assert rc == 1 and out == ""
    assert err.startswith('time="') and " level=error msg=" in err
    assert one_line(err) == "container 'nope' does not exist"


def test_json_log_format_makes_errors_json(capsys, root: str) -> None:
    rc, _, err = run(capsys, "--root", root, "--log-format", "json", "start", "nope")
    assert rc == 1
    entry = json.loads(one_line(err))
    assert entry["level"] == "error"
    assert entry["msg"] == "container 'nope' does not exist"
    assert set(entry) == {"level", "msg", "time"}


def test_log_file_gets_json_and_stderr_plain(capsys, root: str, tmp_path: Path) -> None:
    log = tmp_path / "log.json"
    rc, _, err = run(capsys, "--root", root, "--log", str(log), "--log-format", "json", "kill", "x")
    assert rc == 1
    assert one_line(err) == "container 'x' does not exist"
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["msg"] == "container 'x' does not exist"


@pytest.mark.parametrize(
    "command",
    ["create", "start", "run", "state", "delete", "pause", "resume", "events", "wait"],
)
def test_commands_need_exactly_one_id(capsys, root: str, command: str) -> None:
    rc, _, err = run(capsys, "--root", root, command)
    assert rc == 1
    assert f'"{command}" requires exactly 1 argument(s)' in one_line(err)
    rc, _, err = run(capsys, "--root", root, command, "a", "b")
    assert rc == 1 and "exactly 1" in one_line(err)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["kill"], '"kill" requires a minimum of 1'),
        (["kill", "a", "TERM", "x"], '"kill" requires a maximum of 2'),
        (["ps"], '"ps" requires a minimum of 1'),
        (["exec"], '"exec" requires a minimum of 1'),
        (["list", "x"], '"list" requires exactly 0'),
        (["features", "x"], '"features" requires exactly 0'),
        (["do"], "requires a command"),
        (["--log-format", "xml", "list"], "invalid log-format: xml"),
        (["--platform", "vmx", "list"], "invalid platform 'vmx'"),
        (["--network", "bridge", "list"], "invalid network 'bridge'"),
        (["--directfs=maybe", "list"], "invalid boolean value 'maybe'"),
        (["--bogus-flag", "list"], "flag provided but not defined: --bogus-flag"),
        (["frobnicate"], "No help topic for 'frobnicate'"),
        (["create", "--preserve-fds", "x", "c"], "invalid int value: 'x'"),
        (["create", "bad/id"], "invalid container ID format: 'bad/id'"),
        (["events", "--interval", "5 parsecs", "c"], "invalid duration"),
        (["spec", "--rootless"], "--rootless is not supported"),
        (["exec", "-t", "-d", "c", "sh"], "cannot allocate tty"),
        (["boot"], "the following arguments are required: id"),
    ],
)
def test_usage_errors(capsys, root: str, argv: list[str], words: str) -> None:
    rc, _, err = run(capsys, "--root", root, *argv)
    assert rc == 1
    assert words in one_line(err)


def test_signal_and_duration_parsing() -> None:
    assert parse_signal("9") == 9
    assert parse_signal("KILL") == parse_signal("SIGKILL") == parse_signal("kill") == 9
    assert parse_signal("RTMIN+2") == __import__("signal").SIGRTMIN + 2
    for bad in ("0", "99", "SIGNOPE", "RTMAX+1", "SIG_DFL"):
        with pytest.raises(UsageError):
            parse_signal(bad)
    assert parse_duration("5s") == 5.0
    assert parse_duration("1m30s") == 90.0
    assert parse_duration("100ms") == pytest.approx(0.1)
    for bad in ("5", "s", "0s", "5 s", "-1s"):
        with pytest.raises(UsageError):
            parse_duration(bad)


def test_help_hides_internal_commands(capsys) -> None:
    rc, out, _ = run(capsys, "--help")
    assert rc == 0
    for visible in ("create", "start", "exec", "features", "do", "--systemd-cgroup"):
        assert visible in out
    assert re.search(r"^\s+(boot|gofer)\s", out, re.M) is None


def test_spec_writes_default_and_refuses_overwrite(capsys, tmp_path: Path) -> None:
    rc, _, _ = run(capsys, "spec", "--bundle", str(tmp_path))
    assert rc == 0
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["process"]["args"] == ["sh"] and cfg["root"]["path"] == "rootfs"
    ocispec.parse(cfg, str(tmp_path))  # what we write, we accept
    rc, _, err = run(capsys, "spec", "--bundle", str(tmp_path))
    assert rc == 1 and "File config.json exists. Remove it first" in one_line(err)


def test_features_json(capsys) -> None:
    rc, out, _ = run(capsys, "features")
    assert rc == 0
    f = json.loads(out)
    assert f["hooks"] == list(ocispec.HOOK_NAMES)
    assert "pid" in f["linux"]["namespaces"] and "CAP_SYS_CHROOT" in f["linux"]["capabilities"]
    assert "rbind" in f["mountOptions"] and "rprivate" in f["mountOptions"]
    assert f["linux"]["cgroup"]["v1"] and f["linux"]["cgroup"]["v2"]


def test_list_and_state_from_records(capsys, root: str, sleeper) -> None:
    rc, out, _ = run(capsys, "--root", root, "list", "--format", "json")
    assert (rc, out.strip()) == (0, "null")
    make_record(root, "alive", Status.RUNNING, sleeper.pid)
    make_record(root, "gone", Status.STOPPED)
    rc, out, _ = run(capsys, "--root", root, "list")
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert lines[1].split()[:3] == ["alive", str(sleeper.pid), "running"]
    assert lines[2].split()[:3] == ["gone", "0", "stopped"]
    rc, out, _ = run(capsys, "--root", root, "list", "-q")
    assert out.split() == ["alive", "gone"]
    rc, out, _ = run(capsys, "--root", root, "list", "--format", "json")
    assert [s["id"] for s in json.loads(out)] == ["alive", "gone"]
    rc, out, _ = run(capsys, "--root", root, "state", "alive")
    state = json.loads(out)
    assert (state["status"], state["pid"], state["id"]) == ("running", sleeper.pid, "alive")
    sleeper.kill()
    sleeper.wait()
    rc, out, _ = run(capsys, "--root", root, "state", "alive")
    assert (json.loads(out)["status"], json.loads(out)["pid"]) == ("stopped", 0)


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["start"], Status.RUNNING, "cannot start container 'c1' in state running"),
        (["start"], Status.STOPPED, "cannot start container 'c1' in state stopped"),
        (["resume"], Status.RUNNING, "cannot resume container 'c1' in state running"),
        (["pause"], Status.STOPPED, "container not running"),
        (["kill"], Status.STOPPED, "cannot kill container 'c1' in state stopped"),
        (["exec"], Status.STOPPED, "cannot exec container 'c1' in state stopped"),
        (["delete"], Status.RUNNING, "cannot delete container 'c1' in state running"),
        (["ps"], Status.STOPPED, "cannot ps container 'c1' in state stopped"),
        (["events", "--stats"], Status.STOPPED, "cannot events container 'c1' in state stopped"),
    ],
)
def test_wrong_state_errors(capsys, root: str, sleeper, argv, status, message) -> None:
    alive = status in (Status.RUNNING, Status.PAUSED)
    make_record(root, "c1", status, sleeper.pid if alive else 0)
    extra = ["true"] if argv == ["exec"] else []
    rc, _, err = run(capsys, "--root", root, *argv, "c1", *extra)
    assert rc == 1
    assert message in one_line(err)


@pytest.mark.parametrize(
    "argv",
    [
        ["start", "c1"],
        ["kill", "c1"],
        ["kill", "--all", "c1", "KILL"],
        ["pause", "c1"],
        ["ps", "c1"],
        ["exec", "c1", "true"],
        ["wait", "c1"],
    ],
)
def test_sandbox_commands_reach_the_not_yet_available_api(capsys, root, sleeper, argv) -> None:
    make_record(root, "c1", Status.CREATED, sleeper.pid)
    rc, _, err = run(capsys, "--root", root, *argv)
    assert rc == 1
    assert "has no control socket" in one_line(err)
    assert StateStore(root).load("c1").status == Status.CREATED  # nothing recorded


def test_delete_stopped_runs_poststop_and_removes(capsys, root: str, tmp_path: Path) -> None:
    marker = tmp_path / "poststop-state"
    cfg = minimal_config()
    cfg["hooks"] = {"poststop": [{"path": "/bin/sh", "args": ["sh", "-c", f"cat > {marker}"]}]}
    make_record(root, "c1", Status.STOPPED, cfg=cfg)
    rc, _, err = run(capsys, "--root", root, "delete", "c1")
    assert (rc, err) == (0, "")
    assert json.loads(marker.read_text())["id"] == "c1"
    assert not os.path.exists(os.path.join(root, "c1"))
    rc, _, err = run(capsys, "--root", root, "delete", "c1")
    assert rc == 1 and "does not exist" in err
    rc, _, err = run(capsys, "--root", root, "delete", "--force", "c1")
    assert (rc, err) == (0, "")


def test_delete_tolerates_failing_poststop(capsys, root: str) -> None:
    cfg = minimal_config()
    cfg["hooks"] = {"poststop": [{"path": "/bin/false"}]}
    make_record(root, "c1", Status.STOPPED, cfg=cfg)
    rc, _, err = run(capsys, "--root", root, "delete", "c1")
    assert rc == 0
    assert "poststop hook /bin/false failed" in one_line(err)
    assert StateStore(root).list_ids() == []


def test_force_delete_kills_a_live_sandbox(capsys, root: str, sleeper) -> None:
    make_record(root, "c1", Status.RUNNING, sleeper.pid)
    rc, _, err = run(capsys, "--root", root, "delete", "--force", "c1")
    assert (rc, err) == (0, "")
    assert sleeper.wait(timeout=10) == -9
    assert StateStore(root).list_ids() == []


def test_delete_created_container_kills_it_without_force(capsys, root: str, sleeper) -> None:
    make_record(root, "c1", Status.CREATED, sleeper.pid)
    rc, _, _ = run(capsys, "--root", root, "delete", "c1")
    assert rc == 0
    assert sleeper.wait(timeout=10) == -9


def test_wait_on_stopped_prints_recorded_status(capsys, root: str) -> None:
    make_record(root, "c1", Status.STOPPED, exit_status=3 << 8)
    rc, out, _ = run(capsys, "--root", root, "wait", "c1")
    assert rc == 3
    assert json.loads(out) == {"id": "c1", "exitStatus": 3 << 8}


def test_create_with_bad_config_names_field_and_leaves_nothing(capsys, root, bundle) -> None:
    cfg = minimal_config()
    cfg["process"]["cwd"] = "relative"
    (bundle / "config.json").write_text(json.dumps(cfg))
    rc, _, err = run(capsys, "--root", root, "create", "--bundle", str(bundle), "c1")
    assert rc == 1
    assert "invalid OCI spec: process.cwd: must be an absolute path" in one_line(err)
    assert StateStore(root).list_ids() == []


def test_create_failure_is_reported_and_cleaned_up(capsys, root, bundle) -> None:
    # An empty read-only rootfs: the Sentry cannot make its /dev there.
    rc, _, err = run(capsys, "--root", root, "create", "-b", str(bundle), "c1")
    assert rc == 1
    assert "cannot start sandbox" in one_line(err)
    assert StateStore(root).list_ids() == []


def test_create_existing_id(capsys, root: str, bundle) -> None:
    make_record(root, "c1", Status.STOPPED)
    rc, _, err = run(capsys, "--root", root, "create", "-b", str(bundle), "c1")
    assert rc == 1 and "container with given ID already exists" in one_line(err)
    assert StateStore(root).list_ids() == ["c1"]


def test_create_terminal_needs_console_socket(capsys, root: str, bundle) -> None:
    cfg = minimal_config()
    cfg["process"]["terminal"] = True
    (bundle / "config.json").write_text(json.dumps(cfg))
    rc, _, err = run(capsys, "--root", root, "create", "-b", str(bundle), "c1")
    assert rc == 1 and "cannot allocate tty" in one_line(err)


def test_exec_bad_user_and_process_file(capsys, root: str, sleeper, tmp_path: Path) -> None:
    make_record(root, "c1", Status.RUNNING, sleeper.pid)
    rc, _, err = run(capsys, "--root", root, "exec", "--user", "bob", "c1", "id")
    assert rc == 1 and "invalid --user 'bob'" in one_line(err)
    proc = tmp_path / "process.json"
    proc.write_text(json.dumps({"args": ["ls"], "cwd": "rel"}))
    rc, _, err = run(capsys, "--root", root, "exec", "--process", str(proc), "c1")
    assert rc == 1 and "process.cwd: must be an absolute path" in one_line(err)
    rc, _, err = run(capsys, "--root", root, "exec", "c1", "--env", "NOEQ")
    assert rc == 1


def test_entry_point_prints_one_line(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "runtime.cli.main", "--root", str(tmp_path), "state", "x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1 and r.stdout == ""
    assert len(r.stderr.splitlines()) == 1 and "does not exist" in r.stderr


def test_cli_never_imports_boot_or_sentry(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from runtime.cli import main\n"
        f"main.main(['--root', {str(tmp_path)!r}, 'list'])\n"
        "bad = [m for m in sys.modules if m.startswith(('sentry', 'runtime.boot'))]\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def _fake_v1(tmp_path: Path, cg: str) -> dict[str, Any]:
    """A cgroup v1 tree in a temporary directory with one container cgroup."""
    base = tmp_path / "cgroup"
    files = {
        "memory": {"memory.usage_in_bytes": "4096", "memory.limit_in_bytes": "65536"},
        "pids": {"pids.current": "2", "pids.max": "10"},
        "cpuacct": {"cpuacct.usage": "777"},
    }
    for ctl in ("memory", "cpu", "cpuacct", "cpuset", "pids"):
        (base / ctl / cg).mkdir(parents=True)
        for name, text in files.get(ctl, {}).items():
            (base / ctl / cg / name).write_text(text)
    return {"version": 1, "path": "/" + cg, "root": str(base)}


def test_events_stats_from_the_sandbox_cgroup(capsys, root, sleeper, tmp_path: Path) -> None:
    rec = make_record(root, "c1", Status.RUNNING, sleeper.pid)
    with StateStore(root).update("c1") as r:
        r.sandbox = dict(rec.sandbox, cgroup=_fake_v1(tmp_path, "pod"))
    rc, out, _ = run(capsys, "--root", root, "events", "--stats", "c1")
    assert rc == 0
    event = json.loads(out)
    assert (event["type"], event["id"]) == ("stats", "c1")
    assert event["data"]["memory"]["usage"] == {
        "limit": 65536,
        "usage": 4096,
        "max": 0,
        "failcnt": 0,
    }
    assert event["data"]["pids"] == {"current": 2, "limit": 10}
    assert event["data"]["cpu"]["usage"]["total"] == 777


def test_delete_removes_the_sandbox_cgroup(capsys, root, sleeper, tmp_path: Path) -> None:
    """No leaks: the sandbox process is killed and its cgroup directories go."""
    rec = make_record(root, "c1", Status.RUNNING, sleeper.pid)
    cg = _fake_v1(tmp_path, "pod")
    for ctl in ("memory", "cpu", "cpuacct", "cpuset", "pids"):
        for f in (tmp_path / "cgroup" / ctl / "pod").iterdir():
            f.unlink()  # a real cgroup directory rmdirs with its control files
    with StateStore(root).update("c1") as r:
        r.sandbox = dict(rec.sandbox, cgroup=cg)
    rc, _, err = run(capsys, "--root", root, "delete", "-f", "c1")
    assert (rc, err) == (0, "")
    assert sleeper.wait(timeout=10) == -9
    assert not any((tmp_path / "cgroup" / c / "pod").exists() for c in ("memory", "pids", "cpu"))
    assert StateStore(root).list_ids() == []


def test_do_builds_a_host_root_config(tmp_path: Path) -> None:
    import argparse

    from runtime.cli import do

    src = tmp_path / "data"
    src.mkdir()
    ns = argparse.Namespace(
        root_dir="/", cwd="/tmp", volume=[f"{src}:/data:ro"], overlay="memory", args=[]
    )
    cfg = do.build_config(ns, ["ls", "/"])
    s = ocispec.parse(cfg, str(tmp_path))
    assert s.root.path == "/" and not s.root.readonly
    assert s.process is not None and s.process.args == ("ls", "/")
    assert s.process.cwd == "/tmp" and s.process.user.uid == os.getuid()
    assert s.mounts[-1] == ocispec.Mount("/data", "bind", str(src), ("rbind", "ro"))
    assert s.annotations[do.ROOT_OVERLAY_ANNOTATION] == "memory"
    for bad in ("nocolon", f"{src}:rel", f"{src}:/d:rw", f"{tmp_path}/missing:/d"):
        ns.volume = [bad]
        with pytest.raises(UsageError):
            do.build_config(ns, ["true"])


def test_cycle_collection_is_off_only_while_the_entry_point_imports(tmp_path: Path) -> None:
    """``runtime.cli.entry`` stops the collector for its imports; ``main``
    turns it back on before the subcommand runs (``list`` here, whose
    output is checked by other tests)."""
    code = (
        "import gc, runtime.cli.entry as e\n"
        "print(gc.isenabled())\n"
        "import runtime.cli.list as l\n"
        "real = l.run\n"
        "l.run = lambda conf, ns: print(gc.isenabled()) or real(conf, ns)\n"
        f"e.main(['--root', {str(tmp_path)!r}, 'list', '-q'])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert out.split() == ["False", "True"]
