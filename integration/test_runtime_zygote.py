"""Sandboxes started through the zygote (runtime.zygote, runtime.spawn):
the shim's way of starting boot and gofer by forking a warm process.

The driver (integration/_zygote_driver.py) runs CLI commands in one
process with a zygote installed, as the shim does; the container's output,
its exit code, the lifecycle and the clean-up must be the same as with
fresh interpreters, and a dead zygote must only cost the fallback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from integration.test_runtime_boot import make_bundle, requirements  # noqa: F401 - fixture
from runtime.zygote import Zygote

TIMEOUT = 120


def _drive(root: Path, *commands: list[str], kill_zygote: bool = False) -> list[str]:
    argv = [sys.executable, "-m", "integration._zygote_driver"]
    if kill_zygote:
        argv.append("--kill-zygote")
    for command in commands:
        argv += ["--", "--root", str(root), *command]
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=TIMEOUT, cwd=Path(__file__).parents[1]
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_run_through_the_zygote(tmp_path: Path, requirements: None) -> None:  # noqa: F811
    bundle = make_bundle(tmp_path, ["sh", "-c", "echo hello from a forked sandbox; exit 3"])
    out = _drive(tmp_path / "state", ["run", "--bundle", str(bundle), "z1"])
    assert out == ["hello from a forked sandbox", "rc=3", "forked=2"]  # gofer + boot


def test_lifecycle_through_the_zygote_leaves_nothing(
    tmp_path: Path,
    requirements: None,  # noqa: F811
) -> None:
    bundle = make_bundle(tmp_path, ["sleep", "100"])
    root = tmp_path / "state"
    out = _drive(
        root,
        ["create", "--bundle", str(bundle), "z2"],
        ["start", "z2"],
        ["state", "z2"],
        ["kill", "z2", "KILL"],
        ["delete", "--force", "z2"],
    )
    assert out[-1] == "forked=2"
    assert [line for line in out if line.startswith("rc=")] == ["rc=0"] * 5
    assert '"status": "running"' in "\n".join(out)
    assert not (root / "z2").exists()
    # No boot or gofer of this container is left.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = [
            p
            for p in os.listdir("/proc")
            if p.isdigit() and str(bundle).encode() in _cmdline(int(p))
        ]
        if not left:
            break
        time.sleep(0.1)
    assert left == []


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_a_dead_zygote_falls_back_to_new_interpreters(
    tmp_path: Path,
    requirements: None,  # noqa: F811
) -> None:
    bundle = make_bundle(tmp_path, ["echo", "still works"])
    out = _drive(tmp_path / "state", ["run", "--bundle", str(bundle), "z3"], kill_zygote=True)
    assert out == ["still works", "rc=0", "forked=0"]


def test_a_bad_request_is_refused_and_the_zygote_keeps_serving(tmp_path: Path) -> None:
    zygote = Zygote.start()
    try:
        r, w = os.pipe()
        with pytest.raises(OSError, match="bad descriptor numbers"):
            zygote.spawn(["--version"], pass_fds=[1], stderr=None, env={})
        child = zygote.spawn(["--version"], pass_fds=[w], stderr=None, env={})
        assert child.wait(TIMEOUT) == 0
        assert child.wait_status == 0
        os.close(r)
        os.close(w)
    finally:
        zygote.close()
    assert not _alive(zygote.pid) or zygote.process.poll() is not None
