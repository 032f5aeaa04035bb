"""The differential syscall suite's harness: build C programs with gcc, run
them natively and under the Sentry, compare.

How to add a program (any helper may): drop ``programs/<name>.c`` here. It
must print only deterministic output (no pids, addresses or times) and may
end with any exit status or signal: stdout, stderr and the status must match
between native Linux and the Sentry. Optional first-line directives:

    // sentry-args: ARG...          arguments passed to the program
    // sentry-static-only           skip the dynamically linked build
    // sentry-needs-root            skip unless root
    // sentry-needs-threads         skip on a platform that cannot run threads
                                    (``threads_skip_reason``)

``test_differential.py`` picks every program up, builds a static and a
dynamic variant and runs both ways, on every platform back end (ptrace, and
kvm where the /dev/kvm probe passes: the ``sentry_platform`` fixture of
integration/conftest.py, which every Sentry test takes), with the work directory as cwd (the
sandbox's root is the host's /, mounted read-write with ``--rw``). Work
directories live under /var/tmp because the sandbox mounts its own tmpfs on
/tmp.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

PROGRAMS = Path(__file__).parent / "programs"
REPO = Path(__file__).resolve().parents[2]
#: Outside /tmp: the sandbox has its own tmpfs there.
WORK_PARENT = "/var/tmp"
TIMEOUT = 120
#: The platform back ends every Sentry test runs on (one suite, parametrised
#: by the ``sentry_platform`` fixture in integration/conftest.py).
PLATFORMS = ("ptrace", "kvm")
#: The back end ``run_sentry``/``sentry_command`` use when not told; the
#: ``sentry_platform`` fixture sets it for the test it parametrises.
platform = "ptrace"


@dataclass(frozen=True)
class Result:
    """What a run produced."""

    status: int  # shell style: code, or 128 + signal
    stdout: bytes
    stderr: bytes


def threads_skip_reason(name: str) -> str | None:
    """Why platform ``name`` cannot run multi-threaded programs (None if it
    can): the back end's own ``supports_threads``, so the skip ends by
    itself when the back end gains threads."""
    if name == "ptrace":
        from sentry.platform.ptrace import PtracePlatform

        if not PtracePlatform.supports_threads:
            return (
                "the ptrace platform drives one stub per address space, from one host "
                "thread: threads need several stub threads per address space (branch ptthreads)"
            )
    return None


@functools.cache
def ptrace_skip_reason() -> str | None:
    """Why the ptrace platform cannot run here (None if it can).

    Starts one stub: only a refusal by the host (no ptrace permission,
    seccomp, Yama) is a reason to skip; any other failure is a bug and is
    raised."""
    if sys.platform != "linux" or os.uname().machine != "x86_64":
        return "the Sentry runs on x86_64 Linux only"
    try:
        from sentry.memory import MemoryFile
        from sentry.platform.ptrace import PtracePlatform
    except ImportError as exc:
        return f"compiled parts missing (pip install -e .): {exc}"
    from sentry.arch import Registers
    from sentry.platform import SyscallTrap

    mf = MemoryFile(size=1 << 20)
    platform = PtracePlatform(mf.fd)
    try:
        mf.view(0, 2)[:] = b"\x0f\x05"  # syscall
        space = platform.new_address_space()
        try:
            space.map_file(0x10000, 4096, 0, 5)  # PROT_READ | PROT_EXEC
            regs = Registers()
            regs.rip = 0x10000
            regs.rax = 39  # getpid
            try:
                trap = platform.new_context().switch(space, regs)
            except PermissionError as exc:
                return f"ptrace not permitted: {exc}"
            if not isinstance(trap, SyscallTrap):
                raise AssertionError(f"ptrace probe: expected a syscall trap, got {trap!r}")
        finally:
            space.release()
    finally:
        platform.close()
        mf.close()
    return None


@functools.cache
def kvm_skip_reason() -> str | None:
    """Why the kvm platform cannot run here (None if it can): a missing or
    unusable /dev/kvm is a reason to skip; a probe program that does not
    trap as it must is a bug and is raised."""
    if sys.platform != "linux" or os.uname().machine != "x86_64":
        return "the Sentry runs on x86_64 Linux only"
    try:
        from sentry.memory import MemoryFile
        from sentry.platform.kvm import KvmPlatform, KvmUnavailableError
    except ImportError as exc:
        return f"compiled parts missing (pip install -e .): {exc}"
    from sentry.arch import Registers
    from sentry.platform import SyscallTrap

    mf = MemoryFile(size=1 << 20)
    try:
        try:
            kvm = KvmPlatform(mf.fd)
        except KvmUnavailableError as exc:
            return f"kvm platform unavailable: {exc.strerror or exc}"
        try:
            mf.view(0, 2)[:] = b"\x0f\x05"  # syscall
            space = kvm.new_address_space()
            context = kvm.new_context()
            try:
                space.map_file(0x10000, 4096, 0, 5)  # PROT_READ | PROT_EXEC
                regs = Registers()
                regs.rip = 0x10000
                regs.rax = 39  # getpid
                trap = context.switch(space, regs)
                if not isinstance(trap, SyscallTrap):
                    raise AssertionError(f"kvm probe: expected a syscall trap, got {trap!r}")
            finally:
                context.release()
                space.release()
        finally:
            kvm.close()
    finally:
        mf.close()
    return None


def platform_skip_reason(name: str) -> str | None:
    """Why platform ``name`` cannot run here (None if it can)."""
    if name == "ptrace":
        return ptrace_skip_reason()
    if name == "kvm":
        return kvm_skip_reason()
    raise ValueError(f"unknown platform {name!r}; known: {', '.join(PLATFORMS)}")


def gcc_skip_reason() -> str | None:
    """Why C programs cannot be built here."""
    if shutil.which("gcc") is None:
        return "gcc not installed (apt-get install gcc libc6-dev)"
    return None


def workdir() -> Path:
    """A fresh directory visible both natively and in the sandbox."""
    return Path(tempfile.mkdtemp(prefix="pysandbox-sys-", dir=WORK_PARENT))


def directives(source: Path) -> dict[str, list[str]]:
    """The ``// sentry-...`` directives at the top of ``source``."""
    out: dict[str, list[str]] = {}
    for line in source.read_text().splitlines()[:5]:
        if line.startswith("// sentry-"):
            key, _, rest = line[3:].partition(":")
            out[key.strip()] = shlex.split(rest)
    return out


def compile_c(source: Path, out_dir: Path, *, static: bool) -> Path:
    """Build ``source``; returns the binary's path."""
    binary = out_dir / (source.stem + ("-static" if static else "-dynamic"))
    cmd = ["gcc", "-O1", "-Wall", "-o", str(binary), str(source)]
    if static:
        cmd.insert(1, "-static")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"gcc failed for {source.name}:\n{proc.stderr}")
    return binary


def _status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def run_native(argv: list[str], cwd: Path | str, stdin: bytes = b"") -> Result:
    """Run on the host."""
    proc = subprocess.run(
        argv, cwd=cwd, input=stdin, capture_output=True, timeout=TIMEOUT, check=False
    )
    return Result(_status(proc.returncode), proc.stdout, proc.stderr)


def sentry_command(
    argv: list[str], cwd: Path | str, extra: list[str] | None = None, *, on: str | None = None
) -> list[str]:
    """The ``python -m sentry run`` command line for ``argv`` on platform
    ``on`` (default: the one the current test is parametrised with)."""
    return [
        *(sys.executable, "-m", "sentry", "run", "--platform", on or platform),
        *("--cwd", str(cwd), *(extra or []), "--", *argv),
    ]


def run_sentry(
    argv: list[str],
    cwd: Path | str,
    stdin: bytes = b"",
    extra: list[str] | None = None,
    *,
    on: str | None = None,
) -> Result:
    """Run under the Sentry (on ``platform``, see ``sentry_command``)."""
    # The environment passes through unchanged (``env`` must match native);
    # the Sentry is importable because the package is installed (pip -e).
    proc = subprocess.run(
        sentry_command(argv, cwd, extra, on=on),
        cwd=cwd,
        input=stdin,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)
