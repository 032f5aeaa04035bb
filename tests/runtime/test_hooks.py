"""OCI hooks: stdin state, argv/env semantics, timeouts and failure rules."""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
from pathlib import Path

import pytest

from runtime import hooks
from runtime.errors import HookError
from runtime.spec import Hook, Hooks

STATE = {"ociVersion": "1.0.2", "id": "c1", "status": "created", "pid": 1, "bundle": "/b"}


def script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_hook_gets_state_argv_and_exact_env(tmp_path: Path) -> None:
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox is not installed (apt-get install busybox-static)")
    out = tmp_path / "out"
    # busybox picks its applet from argv[0]: "sh" proves args[0] became argv[0].
    cmd = f'cat > {out}.stdin; echo "$FOO|${{HOME:-unset}}" > {out}.env'
    hooks.run_hook("prestart", Hook(busybox, ("sh", "-c", cmd), ("FOO=bar",)), STATE)
    assert json.loads((tmp_path / "out.stdin").read_text()) == STATE
    # The environment is exactly hook.env (no inherited HOME).
    assert (tmp_path / "out.env").read_text().strip() == "bar|unset"


def test_hook_failure_names_hook_status_and_stderr(tmp_path: Path) -> None:
    path = script(tmp_path, "bad", "echo 'no network' >&2; exit 3\n")
    with pytest.raises(HookError) as info:
        hooks.run_hook("createRuntime", Hook(path), STATE)
    assert str(info.value) == f"createRuntime hook {path} failed: exit status 3: no network"


def test_hook_timeout_kills(tmp_path: Path) -> None:
    path = script(tmp_path, "slow", "exec sleep 30\n")
    with pytest.raises(HookError, match=r"timed out after 1s"):
        hooks.run_hook("prestart", Hook(path, timeout=1), STATE)


def test_hook_not_executable(tmp_path: Path) -> None:
    path = tmp_path / "plain"
    path.write_text("x")
    with pytest.raises(HookError, match="cannot execute: Permission denied"):
        hooks.run_hook("prestart", Hook(str(path)), STATE)
    with pytest.raises(HookError, match="cannot execute"):
        hooks.run_hook("prestart", Hook(str(tmp_path / "missing")), STATE)


def test_hook_that_ignores_stdin_is_fine(tmp_path: Path) -> None:
    path = script(tmp_path, "quiet", "exit 0\n")
    big = dict(STATE, annotations={"x": "y" * 1_000_000})
    hooks.run_hook("prestart", Hook(path), big)


def test_fatal_points_stop_at_first_failure(tmp_path: Path) -> None:
    marker = tmp_path / "second-ran"
    bad = script(tmp_path, "bad", "exit 1\n")
    good = script(tmp_path, "good", f"touch {marker}\n")
    h = Hooks(create_container=(Hook(bad), Hook(good)))
    with pytest.raises(HookError):
        hooks.run_point(h, "createContainer", STATE)
    assert not marker.exists()


@pytest.mark.parametrize("point", ["poststart", "poststop"])
def test_post_hooks_failures_are_logged_not_fatal(tmp_path: Path, point: str, caplog) -> None:
    marker = tmp_path / "second-ran"
    bad = script(tmp_path, "bad", "exit 1\n")
    good = script(tmp_path, "good", f"touch {marker}\n")
    h = Hooks(poststart=(Hook(bad), Hook(good)), poststop=(Hook(bad), Hook(good)))
    with caplog.at_level(logging.WARNING, logger="pysandbox.hooks"):
        hooks.run_point(h, point, STATE)
    assert marker.exists()
    assert f"{point} hook {bad} failed: exit status 1" in caplog.text


def test_killed_hook_reports_signal(tmp_path: Path) -> None:
    path = script(tmp_path, "sig", "kill -KILL $$\n")
    with pytest.raises(HookError, match="killed by signal 9"):
        hooks.run_hook("prestart", Hook(path), STATE)
    assert os.path.exists(path)
