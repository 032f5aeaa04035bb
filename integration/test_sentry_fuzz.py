"""Hostile arguments never crash the Sentry: a program calls the kernel's
syscalls with a deterministic stream of odd integers and pointers (NULL,
unmapped, unaligned, read-only, huge, a buffer of random bytes) and must
finish normally; every call just returns some result or error."""

from __future__ import annotations

from pathlib import Path

import pytest

from integration._sentry import workdir  # noqa: F401 - fixture
from integration.syscalls import harness

FUZZ_SOURCE = Path(__file__).parent / "syscalls" / "fuzz" / "kernel_fuzz.c"


def test_hostile_arguments_do_not_crash_the_sentry(workdir):  # noqa: F811
    reason = harness.gcc_skip_reason()
    if reason:
        pytest.skip(reason)
    binary = harness.compile_c(FUZZ_SOURCE, workdir, static=True)
    result = harness.run_sentry([str(binary)], workdir)
    err = result.stderr.decode()
    assert "Sentry bug" not in err and "Traceback" not in err, err[-3000:]
    assert result.status == 0, err[-3000:]
    assert result.stdout.startswith(b"done ")
