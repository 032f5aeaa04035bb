"""The stub's seccomp filter (classic BPF, built here so the addresses are exact).

Every application system call is stopped by PTRACE_SYSEMU before seccomp runs
(kernel/entry/common.c ``syscall_trace_enter`` returns before
``__secure_computing`` under SYSCALL_WORK_SYSCALL_EMU), so this filter only
ever sees the calls the Sentry injects with PTRACE_CONT, and anything that
escaped SYSEMU. It allows exactly:

- ``mmap(addr, len, prot, MAP_SHARED|MAP_FIXED, STUB_MEMORY_FD, off)``,
  ``munmap``, ``mprotect``, ``clone(CLONE_STUB_THREAD)`` (a new stub thread,
  traced from birth), ``clone(CLONE_STUB_PROCESS)`` (a new stub process
  cloned from a prepared one) and ``exit`` (one stub thread ends), executed at the
  stub's injection ``syscall`` instruction;
- ``read(STUB_PARK_FD, ...)`` at the park loop's ``syscall`` and
  ``exit_group`` at the one after it (the untraced leader's only calls);

traps (SIGSYS) the host's vsyscall emulation, which consults seccomp
(arch/x86/entry/vsyscall/vsyscall_64.c), so the Sentry serves vsyscalls like
system calls, and kills the stub for anything else (gVisor's stub filter has
the same shape: a short allow list, default kill).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from sentry.hostsys.mm import MAP_FIXED, MAP_SHARED
from sentry.hostsys.proc import (
    AUDIT_ARCH_X86_64,
    SECCOMP_RET_ALLOW,
    SECCOMP_RET_KILL_PROCESS,
    SECCOMP_RET_TRAP,
)

# linux/filter.h / linux/bpf_common.h opcodes.
BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_RET_K = 0x06

# struct seccomp_data (include/uapi/linux/seccomp.h).
_NR = 0
_ARCH = 4
_IP_LO = 8
_IP_HI = 12


def _arg_lo(n: int) -> int:
    return 16 + 8 * n


SYS_READ = 0
SYS_MMAP = 9
SYS_MPROTECT = 10
SYS_MUNMAP = 11
SYS_CLONE = 56
SYS_EXIT = 60
SYS_EXIT_GROUP = 231

#: clone(2) flags of a stub thread (the only clone the filter allows):
#: CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_PTRACE|CLONE_THREAD.
CLONE_STUB_THREAD = 0x100 | 0x200 | 0x400 | 0x800 | 0x2000 | 0x10000
#: clone(2) flags of a new stub *process* cloned from a prepared one (the
#: stub pool's template, ``pool.py``): CLONE_PARENT (a child of the Sentry,
#: which reaps it, not of the template), CLONE_PTRACE (traced by the
#: template's tracer from its first instruction), exit signal SIGCHLD. It
#: inherits the filter, no_new_privs, the bare address space and the two
#: descriptors, so it needs no preparation of its own.
CLONE_STUB_PROCESS = 0x8000 | 0x2000 | 17
#: The park pipe's descriptor inside a stub (``stub.STUB_PARK_FD``).
STUB_PARK_FD = 4

#: Allowed ``flags`` of an injected mmap: the mirror only ever maps the MemoryFile.
STUB_MMAP_FLAGS = MAP_SHARED | MAP_FIXED

VSYSCALL_IP_HI = 0xFFFFFFFF


class Insn(NamedTuple):
    """One ``struct sock_filter`` row."""

    code: int
    jt: int
    jf: int
    k: int


def build_stub_filter(
    syscall_ip: int, memory_fd: int, *, park_ip: int | None = None, park_exit_ip: int | None = None
) -> list[Insn]:
    """The filter for a stub whose injection ``syscall`` is at ``syscall_ip``
    and whose park loop's calls are at ``park_ip`` and ``park_exit_ip``
    (default: 16 and 25 bytes after it, as stub/ptrace_stub.c lays them out).

    seccomp sees the instruction pointer *after* the syscall instruction.
    """
    after = syscall_ip + 2
    park_after = (syscall_ip + 16 if park_ip is None else park_ip) + 2
    exit_after = (syscall_ip + 25 if park_exit_ip is None else park_exit_ip) + 2
    if after >> 32 == VSYSCALL_IP_HI:
        raise ValueError("the stub cannot live in the vsyscall range")
    if park_after >> 32 != after >> 32 or exit_after >> 32 != after >> 32:
        raise ValueError("the stub's system call instructions must share their high 32 bits")
    prog: list[tuple[int, int | str, int | str, int]] = []
    labels: dict[str, int] = {}

    def emit(code: int, k: int, jt: int | str = 0, jf: int | str = 0) -> None:
        prog.append((code, jt, jf, k))

    def label(name: str) -> None:
        labels[name] = len(prog)

    emit(BPF_LD_W_ABS, _ARCH)
    emit(BPF_JEQ_K, AUDIT_ARCH_X86_64, 0, "kill")
    emit(BPF_LD_W_ABS, _IP_HI)
    emit(BPF_JEQ_K, VSYSCALL_IP_HI, "trap", 0)
    emit(BPF_JEQ_K, after >> 32, 0, "kill")
    emit(BPF_LD_W_ABS, _IP_LO)
    emit(BPF_JEQ_K, park_after & 0xFFFFFFFF, "park", 0)
    emit(BPF_JEQ_K, exit_after & 0xFFFFFFFF, "park_exit", 0)
    emit(BPF_JEQ_K, after & 0xFFFFFFFF, 0, "kill")
    emit(BPF_LD_W_ABS, _NR)
    emit(BPF_JEQ_K, SYS_MUNMAP, "allow", 0)
    emit(BPF_JEQ_K, SYS_MPROTECT, "allow", 0)
    emit(BPF_JEQ_K, SYS_EXIT, "allow", 0)
    emit(BPF_JEQ_K, SYS_CLONE, "clone", 0)
    emit(BPF_JEQ_K, SYS_MMAP, 0, "kill")
    # mmap: fd (an int: the kernel truncates to 32 bits) and flags.
    emit(BPF_LD_W_ABS, _arg_lo(4))
    emit(BPF_JEQ_K, memory_fd, 0, "kill")
    emit(BPF_LD_W_ABS, _arg_lo(3) + 4)
    emit(BPF_JEQ_K, 0, 0, "kill")
    emit(BPF_LD_W_ABS, _arg_lo(3))
    emit(BPF_JEQ_K, STUB_MMAP_FLAGS, "allow", "kill")
    # clone: exactly a stub thread (all 64 bits of the flags).
    label("clone")
    emit(BPF_LD_W_ABS, _arg_lo(0) + 4)
    emit(BPF_JEQ_K, 0, 0, "kill")
    emit(BPF_LD_W_ABS, _arg_lo(0))
    emit(BPF_JEQ_K, CLONE_STUB_THREAD, "allow", 0)
    emit(BPF_JEQ_K, CLONE_STUB_PROCESS, "allow", "kill")
    # The parked leader: read of the park pipe, then exit_group at EOF.
    label("park")
    emit(BPF_LD_W_ABS, _NR)
    emit(BPF_JEQ_K, SYS_READ, 0, "kill")
    emit(BPF_LD_W_ABS, _arg_lo(0))
    emit(BPF_JEQ_K, STUB_PARK_FD, "allow", "kill")
    label("park_exit")
    emit(BPF_LD_W_ABS, _NR)
    emit(BPF_JEQ_K, SYS_EXIT_GROUP, "allow", "kill")
    label("kill")
    emit(BPF_RET_K, SECCOMP_RET_KILL_PROCESS)
    label("trap")
    emit(BPF_RET_K, SECCOMP_RET_TRAP)
    label("allow")
    emit(BPF_RET_K, SECCOMP_RET_ALLOW)

    out = []
    for i, (code, jt, jf, k) in enumerate(prog):

        def rel(target: int | str, i: int = i) -> int:
            if isinstance(target, int):
                return target
            off = labels[target] - i - 1
            if not 0 <= off < 256:
                raise ValueError(f"seccomp filter jump to {target} out of range")
            return off

        out.append(Insn(code, rel(jt), rel(jf), k))
    return out


def encode(prog: list[Insn]) -> bytes:
    """The filter as the kernel reads it (``struct sock_filter[]``)."""
    return b"".join(struct.pack("<HBBI", i.code, i.jt, i.jf, i.k) for i in prog)
