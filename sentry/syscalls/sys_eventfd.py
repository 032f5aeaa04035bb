"""Implements Linux syscalls eventfd(2) and eventfd2(2) (fs/eventfd.c)."""

from __future__ import annotations

from sentry.abi import sysno
from sentry.abi.errors import EINVAL
from sentry.kernel import SyscallArgs, Task
from sentry.kernel.eventfd import EFD_SEMAPHORE, new_eventfd
from sentry.syscalls._fileargs import nofile_limit
from sentry.syscalls.table import syscall
from sentry.vfs.flags import O_CLOEXEC, O_NONBLOCK


def _eventfd(t: Task, initval: int, flags: int) -> int:
    if flags & ~(O_CLOEXEC | O_NONBLOCK | EFD_SEMAPHORE):
        raise EINVAL(f"eventfd2: unknown flags {flags:#x}")
    desc = new_eventfd(initval & 0xFFFFFFFF, flags)
    return int(t.fd_table.install(desc, cloexec=bool(flags & O_CLOEXEC), limit=nofile_limit(t)))


@syscall(sysno.EVENTFD, "eventfd")
def sys_eventfd(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall eventfd(2) (no flags)."""
    return _eventfd(t, args[0], 0)


@syscall(sysno.EVENTFD2, "eventfd2")
def sys_eventfd2(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall eventfd2(2)."""
    return _eventfd(t, args[0], args[1] & 0xFFFFFFFF)
