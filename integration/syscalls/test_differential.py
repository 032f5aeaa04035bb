"""Every C program in programs/ must behave the same natively and under the
Sentry (stdout, stderr, exit status), statically and dynamically linked."""

from __future__ import annotations

import os
import shutil

import pytest

from integration.syscalls import harness

SOURCES = sorted(harness.PROGRAMS.glob("*.c"))


@pytest.fixture(scope="module")
def build_dir():
    reason = harness.gcc_skip_reason()
    if reason:
        pytest.skip(reason)
    path = harness.workdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("linking", ["static", "dynamic"])
@pytest.mark.parametrize("source", SOURCES, ids=[s.stem for s in SOURCES])
def test_program_matches_native(source, linking, build_dir, sentry_platform):
    d = harness.directives(source)
    if linking == "dynamic" and "sentry-static-only" in d:
        pytest.skip("program is static-only")
    if "sentry-needs-root" in d and os.geteuid() != 0:
        pytest.skip("program needs root")
    if "sentry-needs-threads" in d:
        reason = harness.threads_skip_reason(sentry_platform)
        if reason:
            pytest.skip(reason)
    binary = harness.compile_c(source, build_dir, static=linking == "static")
    argv = [str(binary), *d.get("sentry-args", [])]
    native = harness.run_native(argv, build_dir)
    # --rw: programs may create files in their work directory, as natively.
    sandboxed = harness.run_sentry(argv, build_dir, extra=["--rw"])
    assert sandboxed.stdout.decode(errors="replace") == native.stdout.decode(errors="replace")
    assert sandboxed.stderr.decode(errors="replace") == native.stderr.decode(errors="replace")
    assert sandboxed.status == native.status
