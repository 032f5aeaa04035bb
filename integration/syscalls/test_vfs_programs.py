"""The file-syscall programs (programs/file_*.c) once more, on tmpfs.

test_differential.py runs every program in the harness's work directory,
which is on the host root mounted read-write (directfs). Here each file
program also runs with the sandbox's own /tmp (a tmpfs) as its scratch
directory, natively with a fresh host directory: the same output proves
tmpfs follows Linux too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from integration.syscalls import harness

SOURCES = sorted(harness.PROGRAMS.glob("file_*.c"))


@pytest.fixture(scope="module")
def build_dir():
    reason = harness.gcc_skip_reason()
    if reason:
        pytest.skip(reason)
    path = harness.workdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("source", SOURCES, ids=[s.stem for s in SOURCES])
def test_file_program_on_tmpfs_matches_native(
    source: Path, build_dir: Path, sentry_platform: str
) -> None:
    if "sentry-needs-root" in harness.directives(source) and os.geteuid() != 0:
        pytest.skip("program needs root")
    binary = harness.compile_c(source, build_dir, static=True)
    scratch = harness.workdir()
    try:
        native = harness.run_native([str(binary), str(scratch)], scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    cmd = harness.sentry_command([str(binary), "/tmp"], "/tmp")
    proc = subprocess.run(cmd, capture_output=True, timeout=harness.TIMEOUT, check=False)
    assert proc.stdout.decode() == native.stdout.decode(), proc.stderr.decode()[-2000:]
    assert proc.returncode == native.status
