"""Implements Linux syscalls clone(2), fork(2), vfork(2) and clone3(2)
(kernel/fork.c)."""

from __future__ import annotations

from sentry.abi import sysno
from sentry.abi.errors import ENOSYS
from sentry.kernel import SyscallArgs, Task
from sentry.kernel.fork import CLONE_VFORK, CLONE_VM, CloneArgs, clone
from sentry.kernel.signals import SIGCHLD
from sentry.syscalls.table import Support, syscall


@syscall(
    sysno.CLONE,
    "clone",
    Support.PARTIAL,
    "processes only (no CLONE_THREAD/FILES/FS/SIGHAND, no namespaces: EINVAL); "
    "CLONE_VM without CLONE_THREAD gives the child a copy-on-write copy",
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


@syscall(sysno.CLONE3, "clone3", Support.ERROR, "ENOSYS: glibc falls back to clone(2)")
def sys_clone3(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall clone3(2).

    Refused with ENOSYS on purpose: glibc then uses clone(2)."""
    raise ENOSYS
