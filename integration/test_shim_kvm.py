"""containerd runs busybox and python3 through our shim on the kvm platform,
selected by ``platform = "kvm"`` in the pysandbox.toml that
``ctr --runtime-config-path`` hands to the shim (runtimeoptions.v1.Options ->
shim/options.py -> the runtime's ``--platform``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from integration.containerd import import_busybox_image, unique_id
from integration.syscalls import harness
from integration.test_shim_sandbox import RUNTIME, sandbox_containerd  # noqa: F401 - fixture

pytestmark = [pytest.mark.containerd, pytest.mark.kvm, pytest.mark.timeout(240)]

PY = "/usr/bin/python3"


@pytest.fixture
def kvm_config(tmp_path: Path) -> Path:
    reason = harness.kvm_skip_reason()
    if reason:
        pytest.skip(reason)
    config = tmp_path / "pysandbox.toml"
    logs = tmp_path / "logs"
    config.write_text(f'platform = "kvm"\ndebug = true\nlog = "{logs}/%ID%.log"\n')
    return config


def _booted_on_kvm(config: Path, cid: str) -> None:
    log = (config.parent / "logs" / f"{cid}.log").read_text()
    assert f"sandbox {cid} booted (platform kvm)" in log, log[-2000:]


def test_ctr_run_busybox_on_kvm(sandbox_containerd, kvm_config: Path) -> None:  # noqa: F811
    daemon = sandbox_containerd
    ref = import_busybox_image(daemon)
    cid = unique_id("kvmbb")
    result = daemon.ctr("run", "--rm", "--runtime", RUNTIME, "--runtime-config-path",
                        str(kvm_config), ref, cid, "sh", "-c", "echo hello kvm; exit 5",
                        check=False, timeout=120)  # fmt: skip
    assert (result.returncode, result.stdout) == (5, "hello kvm\n"), result.stderr
    _booted_on_kvm(kvm_config, cid)


@pytest.mark.skipif(not os.path.exists(PY), reason="Debian python3 not installed")
def test_ctr_run_python3_on_kvm(sandbox_containerd, kvm_config: Path) -> None:  # noqa: F811
    # The host's root as a read-only rootfs (ctr --rootfs): Debian's python3
    # with its libraries, no image needed.
    daemon = sandbox_containerd
    cid = unique_id("kvmpy")
    code = "import hashlib, sys; print(sys.version_info[0], hashlib.sha256(b'kvm').hexdigest())"
    result = daemon.ctr("run", "--rm", "--runtime", RUNTIME, "--runtime-config-path",
                        str(kvm_config), "--read-only", "--rootfs", "/", cid, PY, "-c", code,
                        check=False, timeout=180)  # fmt: skip
    import hashlib

    expected = f"3 {hashlib.sha256(b'kvm').hexdigest()}\n"
    assert (result.returncode, result.stdout) == (0, expected), result.stderr
    _booted_on_kvm(kvm_config, cid)
