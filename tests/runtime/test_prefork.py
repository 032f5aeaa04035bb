"""Warm children (runtime.prefork): forked ahead, told later what to become,
and never left behind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from runtime import prefork
from runtime.config import RuntimeConfig

CONF = RuntimeConfig()


def _gone(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return not os.path.exists(f"/proc/{pid}")
    return False


def test_unused_children_are_killed_and_reaped() -> None:
    forker = prefork.WarmForker(CONF)
    pids = [child.pid for child in forker._warm.values()]
    assert len(pids) == 2 and all(os.path.exists(f"/proc/{p}") for p in pids)
    forker.close()
    assert all(_gone(p) for p in pids)
    forker.close()  # idempotent


def test_warm_gofer_becomes_the_command(tmp_path) -> None:
    forker = prefork.WarmForker(CONF, ("gofer",))
    warm_pid = forker._warm["gofer"].pid
    log = tmp_path / "log"
    child = forker.spawn(
        ["--root=/nonexistent", f"--log={log}", "gofer"], pass_fds=[], stderr=None, env={}
    )
    assert child.pid == warm_pid
    assert child.wait(timeout=30) == 1
    assert "--bundle, --io-fds and --spec-fd are required" in log.read_text()
    forker.close()


def test_passed_fds_arrive_at_their_numbers() -> None:
    forker = prefork.WarmForker(CONF, ("gofer",))
    a, b = socket.socketpair()
    target = 57
    os.dup2(b.fileno(), target)
    b.close()
    try:
        # --io-fds names a socket that is not SEQPACKET-served, --spec-fd a
        # bad FD: the gofer fails, but only after finding FD 57 a socket.
        child = forker.spawn(
            ["gofer", "--bundle=/nonexistent", f"--io-fds={target}", "--spec-fd=58"],
            pass_fds=[target],
            stderr=None,
            env={},
        )
    finally:
        os.close(target)
    assert child.wait(timeout=30) != 0
    a.close()
    forker.close()


def test_other_commands_go_to_the_fallback_forker() -> None:
    forker = prefork.WarmForker(CONF, ("gofer",))
    warm_pid = forker._warm["gofer"].pid
    calls = []

    marker = object()

    class Recording:
        def spawn(self, cli_args: list[str], **kwargs: object) -> object:
            calls.append(cli_args)
            return marker

    forker._fallback = Recording()  # type: ignore[assignment]
    child: object = forker.spawn(
        ["--root=/nonexistent", "state", "x"], pass_fds=[], stderr=None, env={}
    )
    assert child is marker
    assert calls == [["--root=/nonexistent", "state", "x"]]
    # A second gofer (a pod's later container) is forked plainly too.
    forker._warm.pop("gofer").discard()
    child = forker.spawn(["gofer"], pass_fds=[], stderr=None, env={})
    assert child is marker
    forker.close()
    assert _gone(warm_pid)


def test_a_warm_child_serves_one_request() -> None:
    child = prefork.WarmChild("gofer", CONF)
    done = child.spawn(["--root=/nonexistent", "gofer"], [], None, {}, False)
    with pytest.raises(OSError, match="used already"):
        child.spawn(["gofer"], [], None, {}, False)
    assert done.wait(timeout=30) == 1


def test_a_malformed_request_ends_the_child() -> None:
    child = prefork.WarmChild("gofer", CONF)
    sock = child._sock
    assert sock is not None
    sock.send(b"not json")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pid, status = os.waitpid(child.pid, os.WNOHANG)
        if pid:
            assert os.waitstatus_to_exitcode(status) == 1
            break
        time.sleep(0.01)
    else:
        pytest.fail("the warm child did not exit")
    sock.close()


def test_subcommand_detection() -> None:
    assert prefork._subcommand(["--root=/r", "--debug", "boot", "--bundle=b", "id"]) == "boot"
    assert prefork._subcommand(["gofer"]) == "gofer"
    assert prefork._subcommand(["--root=/r", "state", "x"]) is None
    assert prefork._subcommand(["--debug"]) is None


def _processes_naming(needle: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    if needle.encode() in f.read():
                        found.append(int(name))
            except OSError:
                continue
    return found


@pytest.mark.parametrize("command", ["create", "run", "do"])
def test_a_failing_command_leaves_no_warm_child(tmp_path, command: str) -> None:
    """The console script forks its warm children first thing; a command
    that then fails (no bundle here) kills and reaps them before it exits."""
    bundle = tmp_path / f"missing-bundle-{command}"
    args = ["--bundle", str(bundle), "c1"] if command != "do" else ["--bogus-flag"]
    if command == "do":
        args.append(str(bundle))
    r = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "--root", str(tmp_path / "root"), command, *args],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert r.returncode != 0
    assert _processes_naming(str(bundle)) == []
