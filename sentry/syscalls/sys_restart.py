"""Implements Linux syscall restart_syscall(2) (kernel/signal.c)."""

from __future__ import annotations

from sentry.abi import sysno
from sentry.abi.errors import EINTR
from sentry.kernel import SyscallArgs, Task
from sentry.syscalls.table import syscall


@syscall(sysno.RESTART_SYSCALL, "restart_syscall")
def sys_restart_syscall(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall restart_syscall(2): resume the syscall that
    failed with ERESTART_RESTARTBLOCK (its ``restart_block``); without one,
    EINTR (kernel/signal.c do_no_restart_syscall)."""
    restart = t.restart_block
    t.restart_block = None
    if restart is None:
        raise EINTR
    return restart(t)
