"""Faulting instructions: the task dies of the signal Linux gives for each
(arch/x86/kernel/traps.c), natively and under the Sentry, on every platform.

On kvm these are guest exceptions (#PF, #BP, #UD, #GP, #DE) turned into
VM exits; on ptrace, host signals stopping the stub.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from integration._sentry import workdir  # noqa: F401 - fixture
from integration.syscalls import harness

SOURCE = Path(__file__).parent / "syscalls" / "faults" / "fault.c"

FAULTS = {
    "null": 11,  # SIGSEGV
    "write-text": 11,
    "jump-null": 11,
    "int3": 5,  # SIGTRAP
    "ud2": 4,  # SIGILL
    "hlt": 11,  # #GP -> SIGSEGV
    "cli": 11,
    "inb": 11,
    "divzero": 8,  # SIGFPE
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_kills_with_the_linux_signal(fault: str, workdir: Path) -> None:  # noqa: F811
    reason = harness.gcc_skip_reason()
    if reason:
        pytest.skip(reason)
    binary = harness.compile_c(SOURCE, workdir, static=True)
    native = harness.run_native([str(binary), fault], workdir)
    sandboxed = harness.run_sentry([str(binary), fault], workdir)
    assert native.status == 128 + FAULTS[fault]
    assert sandboxed.stdout == native.stdout == f"{fault}\n".encode()
    assert sandboxed.status == native.status, sandboxed.stderr.decode()[-2000:]
