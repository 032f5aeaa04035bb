"""A seccomp-BPF filter for the runtime's own helper processes (the gofer).

The gofer keeps CAP_DAC_READ_SEARCH, which makes open_by_handle_at(2) a
known container escape ("shocker"), and it must never mount, pivot, enter
namespaces or load kernel code once it serves. This filter denies those
system calls with EPERM (seccomp(2), SECCOMP_RET_ERRNO): the rest of what a
Python process needs keeps working, and a denied call never reaches the
kernel. It is a deny list, narrower than runsc's allow list; the Sentry's
own filter lives with ``boot``.

The program (Documentation/userspace-api/seccomp_filter.rst): check the
architecture (kill on a foreign one, so the x32 or i386 tables cannot be
used to slip past), refuse x32 numbers, refuse clone(2) with any
CLONE_NEW* flag and clone3(2) (ENOSYS, so libc falls back to clone), then
match each denied number.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

from runtime import hostsys
from runtime.errors import RuntimeFailure

# include/uapi/linux/filter.h, bpf_common.h
BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_JGE_K = 0x35
BPF_JSET_K = 0x45
BPF_RET_K = 0x06

# include/uapi/linux/seccomp.h
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_MODE_FILTER = 2
PR_SET_SECCOMP = 22

# struct seccomp_data offsets
_NR = 0
_ARCH = 4
_ARG0_LO = 16  # little-endian low word of args[0]

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000

CLONE_NEW_FLAGS = (
    hostsys.CLONE_NEWNS
    | hostsys.CLONE_NEWUTS
    | hostsys.CLONE_NEWIPC
    | hostsys.CLONE_NEWUSER
    | hostsys.CLONE_NEWPID
    | hostsys.CLONE_NEWNET
    | 0x02000000  # CLONE_NEWCGROUP
)

# arch/x86/entry/syscalls/syscall_64.tbl
X86_64 = {
    "clone": 56,
    "clone3": 435,
    "ptrace": 101,
    "adjtimex": 159,
    "pivot_root": 155,
    "chroot": 161,
    "acct": 163,
    "settimeofday": 164,
    "mount": 165,
    "umount2": 166,
    "swapon": 167,
    "swapoff": 168,
    "reboot": 169,
    "iopl": 172,
    "ioperm": 173,
    "init_module": 175,
    "delete_module": 176,
    "clock_settime": 227,
    "kexec_load": 246,
    "add_key": 248,
    "request_key": 249,
    "keyctl": 250,
    "unshare": 272,
    "perf_event_open": 298,
    "name_to_handle_at": 303,
    "open_by_handle_at": 304,
    "clock_adjtime": 305,
    "setns": 308,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "finit_module": 313,
    "kexec_file_load": 320,
    "bpf": 321,
    "userfaultfd": 323,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "mount_setattr": 442,
}

GOFER_DENY = tuple(name for name in X86_64 if name not in ("clone", "clone3"))


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def build(deny: tuple[str, ...]) -> bytes:
    """The BPF program denying ``deny`` (names in the x86-64 table)."""
    errno_eperm = SECCOMP_RET_ERRNO | errno.EPERM
    prog = [
        _insn(BPF_LD_W_ABS, 0, 0, _ARCH),
        _insn(BPF_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        _insn(BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
        _insn(BPF_LD_W_ABS, 0, 0, _NR),
        _insn(BPF_JGE_K, 0, 1, X32_SYSCALL_BIT),
        _insn(BPF_RET_K, 0, 0, errno_eperm),
        # clone3 passes flags in a struct the filter cannot read: ENOSYS.
        _insn(BPF_JEQ_K, 0, 1, X86_64["clone3"]),
        _insn(BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.ENOSYS),
        # clone with CLONE_NEW*: EPERM; other clones (threads) are fine.
        _insn(BPF_JEQ_K, 0, 4, X86_64["clone"]),
        _insn(BPF_LD_W_ABS, 0, 0, _ARG0_LO),
        _insn(BPF_JSET_K, 0, 1, CLONE_NEW_FLAGS),
        _insn(BPF_RET_K, 0, 0, errno_eperm),
        _insn(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ]
    for name in deny:
        prog.append(_insn(BPF_JEQ_K, 0, 1, X86_64[name]))
        prog.append(_insn(BPF_RET_K, 0, 0, errno_eperm))
    prog.append(_insn(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW))
    return b"".join(prog)


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def install(deny: tuple[str, ...] = GOFER_DENY) -> None:
    """Install the filter on this thread (and threads it creates later).

    Sets no_new_privs first, as an unprivileged filter requires (seccomp(2)).
    """
    if os.uname().machine != "x86_64":
        raise RuntimeFailure(f"no seccomp filter is defined for {os.uname().machine}")
    program = build(deny)
    buf = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    hostsys.prctl(hostsys.PR_SET_NO_NEW_PRIVS, 1)
    hostsys.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog))
