"""Implements Linux syscalls signalfd(2) and signalfd4(2) (fs/signalfd.c)."""

from __future__ import annotations

from sentry.abi import sysno
from sentry.abi.errors import EINVAL
from sentry.kernel import SyscallArgs, Task
from sentry.kernel.signalfd import SFD_CLOEXEC, SFD_NONBLOCK, SignalFD, new_signalfd
from sentry.syscalls._fileargs import nofile_limit
from sentry.syscalls._util import s32
from sentry.syscalls.table import syscall

SIGSET_SIZE = 8


def _signalfd(t: Task, fd: int, mask_addr: int, size: int, flags: int) -> int:
    if size != SIGSET_SIZE:
        raise EINVAL
    mask = int.from_bytes(t.mm.copy_in(mask_addr, SIGSET_SIZE), "little")
    if flags & ~(SFD_CLOEXEC | SFD_NONBLOCK):
        raise EINVAL
    if fd == -1:
        desc = new_signalfd(mask, flags)
        return int(
            t.fd_table.install(desc, cloexec=bool(flags & SFD_CLOEXEC), limit=nofile_limit(t))
        )
    impl = t.fd_table.get(fd).impl
    if not isinstance(impl, SignalFD):
        raise EINVAL
    impl.set_mask(mask)
    return fd


@syscall(sysno.SIGNALFD, "signalfd")
def sys_signalfd(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall signalfd(2) (no flags)."""
    return _signalfd(t, s32(args[0]), args[1], args[2], 0)


@syscall(sysno.SIGNALFD4, "signalfd4")
def sys_signalfd4(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall signalfd4(2)."""
    return _signalfd(t, s32(args[0]), args[1], args[2], args[3] & 0xFFFFFFFF)
