"""``python -m sentry run --platform``: kvm where /dev/kvm works, a clear
one-line error and a non-zero status where it is missing or not KVM."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from integration.syscalls import harness

SENTRY = [sys.executable, "-m", "sentry", "run", "--platform", "kvm", "--", "/bin/busybox", "true"]
# A private mount namespace whose /dev lacks kvm (null and urandom bound back).
NO_KVM = (
    'set -e; d=$(mktemp -d); mount --bind /dev "$d"; mount -t tmpfs none /dev; '
    'for n in null zero urandom; do touch /dev/$n; mount --bind "$d/$n" /dev/$n; done; '
    'exec "$@"'
)
NOT_KVM = 'mount --bind /dev/null /dev/kvm && exec "$@"'


def _in_mount_namespace(script: str) -> subprocess.CompletedProcess[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root (a private mount namespace)")
    return subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", *SENTRY],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd="/",
    )


def test_missing_dev_kvm_is_one_clear_line() -> None:
    proc = _in_mount_namespace(NO_KVM)
    assert proc.returncode == 125
    assert proc.stderr == (
        "sentry run: platform kvm unavailable: "
        "cannot open /dev/kvm for the kvm platform: No such file or directory\n"
    )


def test_a_dev_kvm_that_is_not_kvm_is_one_clear_line() -> None:
    proc = _in_mount_namespace(NOT_KVM)
    assert proc.returncode == 125
    assert proc.stderr.startswith("sentry run: platform kvm unavailable: ")
    assert "is not a usable /dev/kvm" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr


def test_unknown_platform_is_refused() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sentry", "run", "--platform", "qemu", "--", "/bin/true"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "invalid choice: 'qemu'" in proc.stderr


@pytest.mark.kvm
def test_kvm_runs_the_program_where_the_probe_passes() -> None:
    reason = harness.kvm_skip_reason()
    if reason:
        pytest.skip(reason)
    proc = subprocess.run(
        [*SENTRY[:-2], "/bin/busybox", "echo", "on kvm"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert (proc.returncode, proc.stdout) == (0, b"on kvm\n"), proc.stderr
