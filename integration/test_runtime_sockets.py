"""Sockets inside a real sandbox process (`pysandbox run`): the boot
process's seccomp allow-list, pivoted root and own network namespace must
let the Sentry serve Unix sockets on the gofer root and tmpfs, host inet and
NETLINK_ROUTE sockets, with the same results as natively."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from integration.syscalls import harness
from integration.test_runtime_boot import (  # noqa: F401 - fixtures
    BUSYBOX,
    Runtime,
    cid,
    make_bundle,
    pysandbox,
    requirements,
)


def _static(tmp_path: Path, name: str) -> Path:
    reason = harness.gcc_skip_reason()
    if reason:
        pytest.skip(reason)
    out = tmp_path / name
    src = harness.PROGRAMS / f"{name}.c"
    subprocess.run(["gcc", "-O1", "-static", "-o", str(out), str(src)], check=True)
    return out


@pytest.mark.parametrize("program", ["socket_unix_bind", "socket_scm", "socket_errors"])
def test_socket_program_in_a_sandbox_matches_native(
    pysandbox: Runtime,  # noqa: F811
    tmp_path: Path,
    cid: str,  # noqa: F811
    program: str,
) -> None:
    binary = _static(tmp_path, program)
    native_dir = tmp_path / "native"
    (native_dir / "tmp").mkdir(parents=True)
    native = subprocess.run([str(binary)], cwd=native_dir, capture_output=True, timeout=60)
    bundle = make_bundle(tmp_path, [f"/bin/{program}"], readonly=False)
    shutil.copy(binary, bundle / "rootfs" / "bin" / program)
    r = pysandbox("run", "--bundle", str(bundle), cid)
    assert r.returncode == native.returncode == 0, r.stderr
    assert r.stdout == native.stdout.decode()


def test_ip_link_reads_the_sandbox_namespace(
    pysandbox: Runtime,  # noqa: F811
    tmp_path: Path,
    cid: str,  # noqa: F811
) -> None:
    bundle = make_bundle(tmp_path, ["/bin/busybox", "ip", "link"])
    r = pysandbox("run", "--bundle", str(bundle), cid)
    assert r.returncode == 0, r.stderr
    # The sandbox's own network namespace: its loopback, none of the host's links.
    assert "1: lo:" in r.stdout
    host = subprocess.run([BUSYBOX, "ip", "-o", "link"], capture_output=True, text=True)
    names = [line.split(":")[1].strip() for line in host.stdout.splitlines()]
    assert all(f": {n}:" not in r.stdout for n in names if n != "lo")
