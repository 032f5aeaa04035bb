"""Implements Linux syscalls clone(2), fork(2), vfork(2) and clone3(2)
(kernel/fork.c)."""

from __future__ import annotations

import struct

from sentry.abi import sysno
from sentry.abi.errors import E2BIG, EINVAL
from sentry.kernel import SyscallArgs, Task
from sentry.kernel.fork import CLONE_DETACHED, CLONE_VFORK, CLONE_VM, CSIGNAL, CloneArgs, clone
from sentry.kernel.signals import SIGCHLD
from sentry.syscalls.table import Support, syscall


@syscall(
    sysno.CLONE,
    "clone",
    Support.PARTIAL,
    "processes and threads (CLONE_THREAD|CLONE_SIGHAND|CLONE_VM, CLONE_FILES and CLONE_FS "
    "with CLONE_THREAD only); no namespaces or CLONE_PIDFD (EINVAL); CLONE_VM without "
    "CLONE_THREAD or CLONE_VFORK gives the child a copy-on-write copy; a thread is EAGAIN "
    "when the platform has no context left (kvm: 124 vCPUs) or cannot run threads",
)
def sys_clone(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall clone(2): x86_64 argument order is flags,
    stack, parent_tid, child_tid, tls."""
    return clone(t, CloneArgs(args[0] & 0xFFFFFFFF, args[1], args[2], args[3], args[4]))


@syscall(sysno.FORK, "fork")
def sys_fork(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall fork(2)."""
    return clone(t, CloneArgs(SIGCHLD))


@syscall(
    sysno.VFORK, "vfork", Support.PARTIAL, "the child runs on a copy-on-write copy of the memory"
)
def sys_vfork(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall vfork(2): the parent sleeps until the child
    execs or exits."""
    return clone(t, CloneArgs(CLONE_VM | CLONE_VFORK | SIGCHLD))


#: include/uapi/linux/sched.h struct clone_args (VER0 ends after ``tls``).
CLONE_ARGS = struct.Struct("<8Q")
CLONE_ARGS_SIZE_VER0 = 64
PAGE_SIZE = 4096
CLONE_CLEAR_SIGHAND = 1 << 32
CLONE_INTO_CGROUP = 1 << 33


@syscall(
    sysno.CLONE3,
    "clone3",
    Support.PARTIAL,
    "as clone(2); set_tid, CLONE_INTO_CGROUP, CLONE_CLEAR_SIGHAND and CLONE_PIDFD: EINVAL",
)
def sys_clone3(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall clone3(2) (kernel/fork.c copy_clone_args_from_user)."""
    addr, size = args[0], args[1]
    if size < CLONE_ARGS_SIZE_VER0:
        raise EINVAL
    if size > PAGE_SIZE:
        raise E2BIG
    raw = t.mm.copy_in(addr, size)
    if any(raw[CLONE_ARGS_SIZE_VER0:]):
        # set_tid/set_tid_size/cgroup (or fields unknown to us) are set.
        raise EINVAL if size <= 88 else E2BIG
    flags, _pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls = CLONE_ARGS.unpack(
        raw[:CLONE_ARGS_SIZE_VER0]
    )
    if flags >> 32 or flags & (CSIGNAL | CLONE_DETACHED) or exit_signal & ~CSIGNAL:
        raise EINVAL
    if (stack == 0) != (stack_size == 0):
        raise EINVAL
    sp = stack + stack_size if stack else 0
    return clone(t, CloneArgs(flags | exit_signal, sp, parent_tid, child_tid, tls))
