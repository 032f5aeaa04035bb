"""Write-back and cache hints: sync, syncfs, sync_file_range, fadvise64,
readahead, and flock (fs/sync.c, mm/fadvise.c, mm/readahead.c, fs/locks.c)."""

from __future__ import annotations

from typing import Any

from sentry.abi.errors import EBADF, EINVAL, ESPIPE
from sentry.syscalls._fileargs import get_file, s32, s64
from sentry.syscalls.table import Support, SyscallArgs, syscall

SYNC_FILE_RANGE_ALL = 1 | 2 | 4
POSIX_FADV_NOREUSE = 5
LOCK_SH, LOCK_EX, LOCK_NB, LOCK_UN = 1, 2, 4, 8


def _is_pipe(desc: Any) -> bool:
    try:
        return bool(desc.stat().type == 0o010000)
    except EBADF:
        return False


@syscall(162, "sync", note="file data of host-backed files reaches the host on write")
def sys_sync(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall sync(2)."""
    return 0


@syscall(306, "syncfs")
def sys_syncfs(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall syncfs(2): flushes the file behind fd."""
    get_file(t, args[0]).sync()
    return 0


@syscall(277, "sync_file_range", note="flushes the whole file")
def sys_sync_file_range(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall sync_file_range(2)."""
    offset, nbytes, flags = s64(args[1]), s64(args[2]), s32(args[3])
    if flags & ~SYNC_FILE_RANGE_ALL or offset < 0 or nbytes < 0:
        raise EINVAL
    desc = get_file(t, args[0])
    if _is_pipe(desc):
        raise ESPIPE
    desc.sync()
    return 0


@syscall(221, "fadvise64", note="advice is validated and ignored")
def sys_fadvise64(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall fadvise64(2): EBADF, ESPIPE for pipes, EINVAL
    for bad advice or a negative length, else nothing to do."""
    desc = get_file(t, args[0])
    if desc.is_path:
        raise EBADF
    if _is_pipe(desc):
        raise ESPIPE
    if not 0 <= s32(args[3]) <= POSIX_FADV_NOREUSE or s64(args[2]) < 0:
        raise EINVAL
    return 0


@syscall(187, "readahead", note="validated and ignored")
def sys_readahead(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall readahead(2)."""
    desc = get_file(t, args[0])
    if not desc.readable:
        raise EBADF
    if not desc.stat().is_regular():
        raise EINVAL
    return 0


@syscall(73, "flock", Support.PARTIAL, "locks are granted but not enforced between tasks")
def sys_flock(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall flock(2).

    Every lock request succeeds: the sandbox runs one program tree whose
    cooperative locking then behaves as if uncontended (fs/locks.c semantics
    between tasks are part 2).
    """
    desc = get_file(t, args[0])
    if desc.is_path:
        raise EBADF
    op = s32(args[1]) & ~LOCK_NB
    if op not in (LOCK_SH, LOCK_EX, LOCK_UN):
        raise EINVAL
    return 0
