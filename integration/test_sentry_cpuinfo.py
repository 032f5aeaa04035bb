"""/proc/cpuinfo agrees with what ``cpuid`` returns inside the sandbox
(issue 8: the CPUID presented to the guest is reported consistently).

A static C program prints the raw CPUID leaves the flags come from and the
first ``flags`` line of /proc/cpuinfo; run natively and under the Sentry on
each platform. Two sets are compared through ``sentry.arch.cpufeatures``:
flags cpuinfo advertises that ``cpuid`` denies (must be empty in the
sandbox: a program trusting cpuinfo would use a missing feature), and
features ``cpuid`` offers that cpuinfo hides (the sandbox may hide no more
than the host kernel itself does natively)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from integration._sentry import workdir  # noqa: F401 - fixture
from integration.syscalls import harness
from sentry.arch.cpufeatures import FEATURE_BITS, has_feature

PROGRAM = r"""
#include <cpuid.h>
#include <stdio.h>
#include <string.h>
static void leaf(unsigned f, unsigned i) {
    unsigned a = 0, b = 0, c = 0, d = 0;
    __cpuid_count(f, i, a, b, c, d);
    printf("leaf %x %x %x %x %x %x\n", f, i, a, b, c, d);
}
int main(void) {
    leaf(1, 0); leaf(7, 0); leaf(0xd, 1); leaf(0x80000001, 0);
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) { perror("cpuinfo"); return 1; }
    static char line[65536];
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "flags", 5) == 0) { fputs(line, stdout); break; }
    return 0;
}
"""


@pytest.fixture(scope="module")
def program(tmp_path_factory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("cpuinfo")
    src = out / "cpuinfo.c"
    src.write_text(PROGRAM)
    binary = Path(harness.WORK_PARENT) / f"pysandbox-cpuinfo-{out.name}"
    subprocess.run(["gcc", "-O2", "-static", "-o", str(binary), str(src)], check=True)
    yield binary
    binary.unlink(missing_ok=True)


def _parse(stdout: bytes) -> tuple[dict[tuple[int, int], tuple[int, int, int, int]], set[str]]:
    leaves: dict[tuple[int, int], tuple[int, int, int, int]] = {}
    flags: set[str] = set()
    for line in stdout.decode().splitlines():
        if line.startswith("leaf "):
            f, i, a, b, c, d = (int(x, 16) for x in line.split()[1:])
            leaves[(f, i)] = (a, b, c, d)
        elif line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
    assert leaves and flags, stdout
    return leaves, flags


def _mismatches(stdout: bytes) -> tuple[set[str], set[str]]:
    leaves, flags = _parse(stdout)
    advertised_absent = {n for n in flags if n in FEATURE_BITS and not has_feature(leaves, n)}
    hidden_present = {n for n in FEATURE_BITS if has_feature(leaves, n) and n not in flags}
    return advertised_absent, hidden_present


def test_cpuinfo_matches_cpuid_in_the_sandbox(
    program: Path,
    workdir,  # noqa: F811
    sentry_platform,
) -> None:
    native = harness.run_native([str(program)], workdir)
    sandboxed = harness.run_sentry([str(program)], workdir)
    assert native.status == 0 and sandboxed.status == 0, sandboxed.stderr
    native_hidden = _mismatches(native.stdout)[1]
    advertised_absent, hidden_present = _mismatches(sandboxed.stdout)
    assert advertised_absent == set()
    assert hidden_present <= native_hidden


def test_filter_drops_only_cleared_cpuid_flags() -> None:
    from sentry.arch.cpufeatures import filter_cpuinfo

    leaves = {(1, 0): (0, 0, 1 << 28, 1 << 25), (7, 0): (0, 0, 0, 0)}  # avx, sse
    text = b"processor\t: 0\nflags\t\t: sse avx avx2 constant_tsc\nbogomips\t: 1\n"
    assert filter_cpuinfo(text, leaves) == (
        b"processor\t: 0\nflags\t\t: sse avx constant_tsc\nbogomips\t: 1\n"
    )
