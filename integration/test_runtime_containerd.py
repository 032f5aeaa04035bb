"""containerd's own runc shim drives the pysandbox CLI (``--runc-binary``).

``ctr run --runtime io.containerd.runc.v2 --runc-binary pysandbox``: the Go
shim calls our create/start/kill/delete/state exactly as it calls runc, and
reaps the sandbox process (the container's pid) for the exit status.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from integration.containerd import PrivateContainerd, unique_id
from integration.test_runtime_boot import requirements  # noqa: F401  (fixture)

pytestmark = [pytest.mark.containerd, pytest.mark.timeout(180)]


@pytest.fixture
def pysandbox_binary() -> Path:
    found = shutil.which("pysandbox") or str(Path(sys.executable).parent / "pysandbox")
    if not os.access(found, os.X_OK):
        pytest.skip("the pysandbox entry point is not installed (pip install -e .)")
    return Path(found)


def _run(
    containerd: PrivateContainerd, binary: Path, image: str, cid: str, *args: str
) -> tuple[int, str, str]:
    r = containerd.ctr(
        "run", "--rm", "--runtime", "io.containerd.runc.v2", "--runc-binary", str(binary),
        image, cid, *args, timeout=90, check=False,
    )  # fmt: skip
    return r.returncode, r.stdout, r.stderr


def _cleanup(containerd: PrivateContainerd, cid: str) -> None:
    containerd.ctr("task", "kill", "-s", "KILL", cid, check=False)
    containerd.ctr("task", "delete", "-f", cid, check=False)
    containerd.ctr("containers", "delete", cid, check=False)


def test_ctr_run_echo(
    requirements: None,  # noqa: F811
    containerd: PrivateContainerd,
    busybox_image: str,
    pysandbox_binary: Path,
) -> None:
    cid = unique_id("pysb")
    try:
        rc, out, err = _run(containerd, pysandbox_binary, busybox_image, cid, "echo", "hi")
        assert (rc, out) == (0, "hi\n"), err + containerd.log_tail()
        rc, out, err = _run(containerd, pysandbox_binary, busybox_image, cid, "sh", "-c", "exit 5")
        assert rc == 5, err
    finally:
        _cleanup(containerd, cid)


def test_ctr_detached_task_kill_delete(
    requirements: None,  # noqa: F811
    containerd: PrivateContainerd,
    busybox_image: str,
    pysandbox_binary: Path,
) -> None:
    cid = unique_id("pysb")
    try:
        containerd.ctr(
            "run", "-d", "--runtime", "io.containerd.runc.v2", "--runc-binary",
            str(pysandbox_binary), busybox_image, cid, "sleep", "1000", timeout=90,
        )  # fmt: skip
        tasks = containerd.ctr("task", "ls").stdout
        line = next(x for x in tasks.splitlines() if x.startswith(cid))
        assert "RUNNING" in line, tasks
        pid = int(line.split()[1])
        assert os.path.exists(f"/proc/{pid}")
        # exec through the runc shim: `pysandbox exec --detach` leaves a
        # host process standing for the exec, which the shim reaps.
        r = containerd.ctr("task", "exec", "--exec-id", "e1", cid, "sh", "-c", "echo hi; exit 4",
                           check=False, timeout=60)  # fmt: skip
        assert (r.returncode, r.stdout) == (4, "hi\n"), r.stderr
        containerd.ctr("task", "kill", "-s", "KILL", cid)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            tasks = containerd.ctr("task", "ls").stdout
            if "STOPPED" in next((x for x in tasks.splitlines() if x.startswith(cid)), ""):
                break
            time.sleep(0.1)
        assert "STOPPED" in tasks, tasks
        containerd.ctr("task", "delete", cid)
        # The shim reaped the sandbox process; nothing of it is left.
        deadline = time.monotonic() + 5
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not os.path.exists(f"/proc/{pid}")
    finally:
        _cleanup(containerd, cid)
