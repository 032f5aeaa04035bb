"""Process and thread control: prctl(2), seccomp(2), rt_sigprocmask(2),
sched_setaffinity(2), getcpu(2)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sentry.hostsys._lib import check, ffi, lib

PR_SET_PDEATHSIG: int = lib.PR_SET_PDEATHSIG
PR_GET_PDEATHSIG: int = lib.PR_GET_PDEATHSIG
PR_SET_NO_NEW_PRIVS: int = lib.PR_SET_NO_NEW_PRIVS
PR_GET_NO_NEW_PRIVS: int = lib.PR_GET_NO_NEW_PRIVS
PR_SET_NAME: int = lib.PR_SET_NAME
PR_SET_DUMPABLE: int = lib.PR_SET_DUMPABLE

SECCOMP_SET_MODE_FILTER: int = lib.SECCOMP_SET_MODE_FILTER
SECCOMP_RET_KILL_PROCESS: int = lib.SECCOMP_RET_KILL_PROCESS
SECCOMP_RET_KILL_THREAD: int = lib.SECCOMP_RET_KILL_THREAD
SECCOMP_RET_TRAP: int = lib.SECCOMP_RET_TRAP
SECCOMP_RET_ERRNO: int = lib.SECCOMP_RET_ERRNO
SECCOMP_RET_TRACE: int = lib.SECCOMP_RET_TRACE
SECCOMP_RET_ALLOW: int = lib.SECCOMP_RET_ALLOW
AUDIT_ARCH_X86_64: int = lib.AUDIT_ARCH_X86_64

SIG_BLOCK: int = lib.SIG_BLOCK
SIG_UNBLOCK: int = lib.SIG_UNBLOCK
SIG_SETMASK: int = lib.SIG_SETMASK

_CPU_WORDS = 16  # 1024 CPUs, glibc's CPU_SETSIZE


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """prctl(2)."""
    return check(int(lib.prctl(option, arg2, arg3, arg4, arg5)), f"prctl({option})")


def seccomp_set_filter(program: Sequence[tuple[int, int, int, int]], flags: int = 0) -> None:
    """Install a classic-BPF seccomp filter on the calling thread (needs
    PR_SET_NO_NEW_PRIVS or CAP_SYS_ADMIN). ``program`` is (code, jt, jf, k) rows."""
    if not 0 < len(program) <= 4096:
        raise ValueError(f"seccomp: a filter has 1..4096 instructions, not {len(program)}")
    insns = ffi.new("struct sock_filter[]", [tuple(row) for row in program])
    prog = ffi.new("struct sock_fprog *", (len(program), insns))
    check(int(lib.pysb_seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)), "seccomp")


def sigprocmask(how: int, mask: int) -> int:
    """rt_sigprocmask(2) on the calling thread with 64-bit kernel sigsets; returns the old mask."""
    new = ffi.new("uint64_t *", mask)
    old = ffi.new("uint64_t *")
    check(lib.pysb_sigprocmask(how, new, old), "rt_sigprocmask")
    return int(old[0])


def sched_setaffinity(tid: int, cpus: Iterable[int]) -> None:
    """Bind host thread ``tid`` (0: the caller) to ``cpus``."""
    mask = ffi.new("uint64_t[]", _CPU_WORDS)
    any_cpu = False
    for cpu in cpus:
        if not 0 <= cpu < _CPU_WORDS * 64:
            raise ValueError(f"sched_setaffinity: bad CPU {cpu}")
        mask[cpu // 64] |= 1 << (cpu % 64)
        any_cpu = True
    if not any_cpu:
        raise ValueError("sched_setaffinity: empty CPU set")
    check(lib.pysb_setaffinity(tid, mask, _CPU_WORDS), f"sched_setaffinity({tid})")


def sched_getaffinity(tid: int) -> set[int]:
    """The CPUs host thread ``tid`` (0: the caller) may run on."""
    mask = ffi.new("uint64_t[]", _CPU_WORDS)
    check(lib.pysb_getaffinity(tid, mask, _CPU_WORDS), f"sched_getaffinity({tid})")
    return {w * 64 + b for w in range(_CPU_WORDS) for b in range(64) if mask[w] >> b & 1}


def getcpu() -> int:
    """The CPU the calling thread runs on right now (getcpu(2) via the vDSO)."""
    return check(int(lib.sched_getcpu()), "getcpu")
