"""Implements Linux syscalls pipe(2) and pipe2(2) (fs/pipe.c do_pipe2)."""

from __future__ import annotations

import struct

from sentry.abi import sysno
from sentry.abi.errors import EINVAL
from sentry.kernel import SyscallArgs, Task
from sentry.kernel.pipe import new_pipe
from sentry.syscalls._fileargs import nofile_limit
from sentry.syscalls.table import Support, syscall
from sentry.vfs.flags import O_CLOEXEC, O_NONBLOCK

#: O_DIRECT on pipe2 asks for "packet mode" pipes (Linux 3.4).
O_DIRECT = 0o40000
_FDS = struct.Struct("<ii")


def _pipe2(t: Task, addr: int, flags: int) -> int:
    if flags & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT):
        raise EINVAL(f"pipe2: unknown flags {flags:#x}")
    if flags & O_DIRECT:
        raise EINVAL("pipe2: O_DIRECT (packet-mode pipes) is not supported")
    read_end, write_end = new_pipe(flags)
    cloexec = bool(flags & O_CLOEXEC)
    limit = nofile_limit(t)
    try:
        rfd = t.fd_table.install(read_end, cloexec=cloexec, limit=limit)
    except BaseException:
        read_end.impl.release()
        write_end.impl.release()
        raise
    try:
        wfd = t.fd_table.install(write_end, cloexec=cloexec, limit=limit)
    except BaseException:
        write_end.impl.release()
        t.fd_table.close(rfd)
        raise
    try:
        t.mm.copy_out(addr, _FDS.pack(rfd, wfd))
    except BaseException:
        # fs/pipe.c do_pipe2: a bad address leaves no descriptor behind.
        t.fd_table.close(rfd)
        t.fd_table.close(wfd)
        raise
    return 0


@syscall(sysno.PIPE, "pipe")
def sys_pipe(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall pipe(2)."""
    return _pipe2(t, args[0], 0)


@syscall(
    sysno.PIPE2,
    "pipe2",
    Support.PARTIAL,
    "O_CLOEXEC and O_NONBLOCK; O_DIRECT packet mode is EINVAL",
)
def sys_pipe2(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall pipe2(2)."""
    return _pipe2(t, args[0], args[1] & 0xFFFFFFFF)
