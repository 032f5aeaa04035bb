"""End to end: ``pysandbox --platform=kvm run`` (gofer + boot + kvm platform).

The host side (``runtime/sandbox.py``) opens /dev/kvm and donates the FD to
boot (``--device-fd``), which builds a KvmPlatform from it. Skips with the
kvm probe's reason where /dev/kvm cannot run the platform, and with the
reason of test_runtime_boot.py where the runtime cannot run at all.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from integration.syscalls import harness
from integration.test_runtime_boot import (
    PYSANDBOX,
    Runtime,
    _cid,
    make_bundle,
    requirements,  # noqa: F401 - fixture
)

pytestmark = pytest.mark.kvm


@pytest.fixture
def kvm_runtime(tmp_path: Path, requirements: None) -> Runtime:  # noqa: F811
    reason = harness.kvm_skip_reason()
    if reason:
        pytest.skip(reason)
    return Runtime([*PYSANDBOX, "--platform=kvm"], tmp_path / "state")


def test_kvm_run_busybox_echo(kvm_runtime: Runtime, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path, ["/bin/sh", "-c", "echo hello from kvm; exit 7"])
    cid = _cid()
    try:
        r = kvm_runtime("run", "--bundle", str(bundle), cid)
    finally:
        kvm_runtime.force_delete(cid)
    assert r.stdout == "hello from kvm\n", r.stderr
    assert r.returncode == 7


def test_kvm_run_without_dev_kvm_is_a_clear_error(tmp_path: Path, requirements: None) -> None:  # noqa: F811
    # A private mount namespace whose /dev has no kvm node (the rest of
    # /dev bound back in, so the runtime itself still works).
    bundle = make_bundle(tmp_path, ["/bin/true"])
    cid = _cid()
    argv = [*PYSANDBOX, "--platform=kvm", "--root", str(tmp_path / "state")]
    script = (
        'set -e; d=$(mktemp -d); mount --bind /dev "$d"; mount -t tmpfs none /dev; '
        'for n in null zero urandom random; do touch /dev/$n; mount --bind "$d/$n" /dev/$n; done; '
        'exec "$@"'
    )
    proc = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", *argv,
         "run", "--bundle", str(bundle), cid],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        check=False,
    )  # fmt: skip
    Runtime(PYSANDBOX, tmp_path / "state").force_delete(cid)
    assert proc.returncode != 0
    err = proc.stderr.strip()
    assert "--platform=kvm: cannot open /dev/kvm: No such file or directory" in err, err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err


def test_kvm_run_with_an_unusable_dev_kvm_is_a_clear_error(
    tmp_path: Path,
    requirements: None,  # noqa: F811
) -> None:
    # /dev/kvm opens but is not KVM (/dev/null bound over it): boot refuses it.
    bundle = make_bundle(tmp_path, ["/bin/true"])
    cid = _cid()
    argv = [*PYSANDBOX, "--platform=kvm", "--root", str(tmp_path / "state")]
    proc = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         'mount --bind /dev/null /dev/kvm && exec "$@"', "sh", *argv,
         "run", "--bundle", str(bundle), cid],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        check=False,
    )  # fmt: skip
    Runtime(PYSANDBOX, tmp_path / "state").force_delete(cid)
    assert proc.returncode != 0
    err = proc.stderr.strip()
    assert "not a usable /dev/kvm" in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["/bin/busybox", "echo", "hi"], "hi\n"),
        (["/usr/bin/python3", "-c", "import hashlib; print(hashlib.md5(b'k').hexdigest())"],
         "8ce4b16b22b58894aa86c421e8759df3\n"),
    ],
)  # fmt: skip
def test_kvm_do_runs_over_the_host_root(
    kvm_runtime: Runtime, argv: list[str], expected: str
) -> None:
    if not os.path.exists(argv[0]):
        pytest.skip(f"{argv[0]} is not installed")
    r = kvm_runtime("do", "--", *argv)
    assert (r.returncode, r.stdout) == (0, expected), r.stderr
