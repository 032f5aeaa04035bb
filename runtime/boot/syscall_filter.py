"""The sandbox process's seccomp filter: an allow-list (seed: runsc's
``boot/filter``, installed just before the sandbox serves).

What the sandbox process needs, and only that: CPython with its threads,
the threaded control server (``ttrpc.SyncServer``: accept, poll, send and
receive on unix sockets), the Sentry's host epoll, its directfs file
operations on donated FDs, the ptrace platform (ptrace, wait4,
process_vm_readv/writev, spawning a stub) and the host calls of the
MemoryFile. Decisions, in order (Documentation/userspace-api/seccomp_filter.rst):

- a foreign architecture or an x32 number: kill the process;
- ``clone3``: ENOSYS, so glibc falls back to ``clone``, whose flags a
  filter can read; ``clone`` with any CLONE_NEW* flag: kill;
- ``socket``: AF_UNIX (the Sentry's host unix sockets), AF_INET and AF_INET6
  (the Sentry's hostinet sockets, created in the sandbox's network
  namespace) and AF_NETLINK with NETLINK_ROUTE only (read-only route
  dumps, sentry/socket/netlink.py); anything else EPERM;
- ``execveat``: only of the ptrace stub image's FD (the stub is
  spawned from the Sentry), anything else kills;
- ``KILL``: calls only an attacker would make (mount, pivot_root,
  unshare, setns, open_by_handle_at, execve, module and kexec loading,
  bpf, keyctl...): the process is killed (SECCOMP_RET_KILL_PROCESS);
- ``ALLOW``: allowed;
- anything else: EPERM.

Application system calls never reach this filter: the ptrace platform
stops them with PTRACE_SYSEMU before seccomp runs (the stubs inherit this
filter for their own injected calls, which are in the allow-list).
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket

from runtime import hostsys
from runtime import seccomp as rs
from runtime.errors import RuntimeFailure
from sentry.abi import sysno

ALLOW: tuple[str, ...] = (
    # files and FDs (directfs: the Sentry operates on host FDs itself)
    "READ", "WRITE", "READV", "WRITEV", "PREAD64", "PWRITE64", "PREADV", "PWRITEV",
    "PREADV2", "PWRITEV2", "OPEN", "OPENAT", "OPENAT2", "CLOSE", "CLOSE_RANGE",
    "FSTAT", "STAT", "LSTAT", "NEWFSTATAT", "STATX", "LSEEK", "FCNTL", "DUP", "DUP2",
    "DUP3", "PIPE2", "IOCTL", "FTRUNCATE", "FALLOCATE", "FSYNC", "FDATASYNC",
    "SYNC_FILE_RANGE", "MKDIRAT", "MKNODAT", "UNLINKAT", "RENAMEAT", "RENAMEAT2",
    "SYMLINKAT", "LINKAT", "READLINKAT", "READLINK", "FCHMOD", "FCHMODAT", "FCHOWN",
    "FCHOWNAT", "UTIMENSAT", "GETDENTS64", "FSTATFS", "STATFS", "FACCESSAT",
    "FACCESSAT2", "ACCESS", "GETCWD", "UMASK", "SENDFILE", "SPLICE", "COPY_FILE_RANGE",
    "FLOCK", "FADVISE64", "FGETXATTR", "FLISTXATTR", "FSETXATTR", "FREMOVEXATTR",
    "LGETXATTR", "GETXATTR", "MEMFD_CREATE",
    # memory
    "MMAP", "MUNMAP", "MPROTECT", "MREMAP", "MADVISE", "BRK", "MINCORE", "MSYNC",
    # threads, signals, time
    "CLONE", "FUTEX", "SET_ROBUST_LIST", "GET_ROBUST_LIST", "RSEQ", "SET_TID_ADDRESS",
    "RT_SIGACTION", "RT_SIGPROCMASK", "RT_SIGRETURN", "SIGALTSTACK", "RT_SIGTIMEDWAIT",
    "RT_SIGPENDING", "KILL", "TGKILL", "TKILL", "EXIT", "EXIT_GROUP", "RESTART_SYSCALL",
    "CLOCK_GETTIME", "CLOCK_GETRES", "CLOCK_NANOSLEEP", "NANOSLEEP", "GETTIMEOFDAY",
    "TIME", "SCHED_YIELD", "SCHED_GETAFFINITY", "SCHED_SETAFFINITY", "GETCPU",
    "GETRANDOM", "GETRUSAGE", "TIMES", "SYSINFO", "UNAME", "GETPRIORITY",
    "GETRLIMIT", "PRLIMIT64", "PRCTL", "ARCH_PRCTL", "SECCOMP",
    # identity (read only)
    "GETPID", "GETTID", "GETPPID", "GETUID", "GETEUID", "GETGID", "GETEGID",
    "GETGROUPS", "GETRESUID", "GETRESGID", "GETPGRP", "GETPGID", "GETSID", "CAPGET",
    # the ptrace platform (SETPGID: each stub gets its own host process
    # group, so a host terminal's ^C/^Z reach only the Sentry)
    "PTRACE", "WAIT4", "WAITID", "PROCESS_VM_READV", "PROCESS_VM_WRITEV", "SETPGID",
    # the control server (accept, poll, sends and receives) and the
    # Sentry's host epoll; its host sockets (hostinet, netlink) also bind,
    # listen and connect
    "SOCKETPAIR", "ACCEPT", "ACCEPT4", "RECVFROM", "RECVMSG", "SENDTO", "SENDMSG",
    "GETSOCKOPT", "SETSOCKOPT", "GETSOCKNAME", "GETPEERNAME", "SHUTDOWN",
    "BIND", "LISTEN", "CONNECT",
    "EPOLL_CREATE1", "EPOLL_CTL", "EPOLL_WAIT", "EPOLL_PWAIT", "POLL", "PPOLL",
    "SELECT", "PSELECT6", "EVENTFD2",
)  # fmt: skip

KILL: tuple[str, ...] = (
    "EXECVE", "MOUNT", "UMOUNT2", "PIVOT_ROOT", "CHROOT", "UNSHARE", "SETNS",
    "OPEN_BY_HANDLE_AT", "NAME_TO_HANDLE_AT", "INIT_MODULE", "FINIT_MODULE",
    "DELETE_MODULE", "KEXEC_LOAD", "KEXEC_FILE_LOAD", "BPF", "KEYCTL", "ADD_KEY",
    "REQUEST_KEY", "PERF_EVENT_OPEN", "USERFAULTFD", "REBOOT", "SWAPON", "SWAPOFF",
    "IOPL", "IOPERM", "SETTIMEOFDAY", "CLOCK_SETTIME", "ADJTIMEX", "CLOCK_ADJTIME",
    "ACCT", "OPEN_TREE", "MOVE_MOUNT", "FSOPEN", "FSCONFIG", "FSMOUNT", "FSPICK",
    "MOUNT_SETATTR", "SETUID", "SETGID", "SETREUID", "SETREGID", "SETRESUID",
    "SETRESGID", "CAPSET",
)  # fmt: skip


#: struct seccomp_data: args[2]'s low word (args start at 16, 8 bytes each).
_ARG2_LO = 32
#: include/uapi/linux/netlink.h
_NETLINK_ROUTE = 0


def _nr(name: str) -> int:
    nr = getattr(sysno, name, None)
    if not isinstance(nr, int):
        raise RuntimeFailure(f"seccomp: unknown system call {name}")
    return nr


def build(stub_fd: int | None) -> bytes:
    """The BPF program; ``stub_fd`` is the only FD ``execveat`` may run
    (None: the platform spawns nothing, as kvm, and ``execveat`` kills)."""
    i = rs._insn
    kill = rs.SECCOMP_RET_KILL_PROCESS
    eperm = rs.SECCOMP_RET_ERRNO | errno.EPERM
    prog = [
        i(rs.BPF_LD_W_ABS, 0, 0, rs._ARCH),
        i(rs.BPF_JEQ_K, 1, 0, rs.AUDIT_ARCH_X86_64),
        i(rs.BPF_RET_K, 0, 0, kill),
        i(rs.BPF_LD_W_ABS, 0, 0, rs._NR),
        i(rs.BPF_JGE_K, 0, 1, rs.X32_SYSCALL_BIT),
        i(rs.BPF_RET_K, 0, 0, kill),
        i(rs.BPF_JEQ_K, 0, 1, _nr("CLONE3")),
        i(rs.BPF_RET_K, 0, 0, rs.SECCOMP_RET_ERRNO | errno.ENOSYS),
        # clone: threads and the stub's vfork are fine, new namespaces kill.
        i(rs.BPF_JEQ_K, 0, 4, _nr("CLONE")),
        i(rs.BPF_LD_W_ABS, 0, 0, rs._ARG0_LO),
        i(rs.BPF_JSET_K, 0, 1, rs.CLONE_NEW_FLAGS),
        i(rs.BPF_RET_K, 0, 0, kill),
        i(rs.BPF_RET_K, 0, 0, rs.SECCOMP_RET_ALLOW),
        # socket: AF_UNIX, AF_INET, AF_INET6; AF_NETLINK with NETLINK_ROUTE.
        i(rs.BPF_JEQ_K, 0, 10, _nr("SOCKET")),
        i(rs.BPF_LD_W_ABS, 0, 0, rs._ARG0_LO),
        i(rs.BPF_JEQ_K, 3, 0, socket.AF_UNIX),
        i(rs.BPF_JEQ_K, 2, 0, socket.AF_INET),
        i(rs.BPF_JEQ_K, 1, 0, socket.AF_INET6),
        i(rs.BPF_JEQ_K, 1, 4, socket.AF_NETLINK),
        i(rs.BPF_RET_K, 0, 0, rs.SECCOMP_RET_ALLOW),
        i(rs.BPF_LD_W_ABS, 0, 0, _ARG2_LO),
        i(rs.BPF_JEQ_K, 0, 1, _NETLINK_ROUTE),
        i(rs.BPF_RET_K, 0, 0, rs.SECCOMP_RET_ALLOW),
        i(rs.BPF_RET_K, 0, 0, eperm),
        # execveat: the stub image only.
    ]
    if stub_fd is not None:
        prog += [
            i(rs.BPF_JEQ_K, 0, 4, _nr("EXECVEAT")),
            i(rs.BPF_LD_W_ABS, 0, 0, rs._ARG0_LO),
            i(rs.BPF_JEQ_K, 0, 1, stub_fd),
            i(rs.BPF_RET_K, 0, 0, rs.SECCOMP_RET_ALLOW),
            i(rs.BPF_RET_K, 0, 0, kill),
        ]
    else:
        prog += [i(rs.BPF_JEQ_K, 0, 1, _nr("EXECVEAT")), i(rs.BPF_RET_K, 0, 0, kill)]
    for name in KILL:
        prog.append(i(rs.BPF_JEQ_K, 0, 1, _nr(name)))
        prog.append(i(rs.BPF_RET_K, 0, 0, kill))
    for name in ALLOW:
        prog.append(i(rs.BPF_JEQ_K, 0, 1, _nr(name)))
        prog.append(i(rs.BPF_RET_K, 0, 0, rs.SECCOMP_RET_ALLOW))
    prog.append(i(rs.BPF_RET_K, 0, 0, eperm))
    return b"".join(prog)


def install(stub_fd: int | None) -> None:
    """Install the filter on this thread and every thread it creates later."""
    if os.uname().machine != "x86_64":
        raise RuntimeFailure(f"no seccomp filter is defined for {os.uname().machine}")
    program = build(stub_fd)
    if len(program) // 8 > 4096:  # BPF_MAXINSNS
        raise RuntimeFailure("seccomp: filter too long")
    buf = ctypes.create_string_buffer(program, len(program))
    fprog = rs._SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    hostsys.prctl(hostsys.PR_SET_NO_NEW_PRIVS, 1)
    hostsys.prctl(rs.PR_SET_SECCOMP, rs.SECCOMP_MODE_FILTER, ctypes.addressof(fprog))
