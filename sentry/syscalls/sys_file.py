"""Opening and closing files: open, openat, openat2, creat, close, close_range (fs/open.c)."""

from __future__ import annotations

import struct
from typing import Any

from sentry.abi.errors import E2BIG, EAGAIN, EINVAL
from sentry.syscalls._fileargs import nofile_limit, read_path, s32, start_dir, vfs_of
from sentry.syscalls.table import Support, SyscallArgs, syscall
from sentry.vfs.flags import AT_FDCWD, O_CLOEXEC, O_CREAT, O_LARGEFILE, O_TRUNC, O_WRONLY
from sentry.vfs.walk import RESOLVE_CACHED, RESOLVE_IN_ROOT

#: fs/open.c: flags open() accepts (everything else is ignored, as Linux does).
VALID_OPEN_FLAGS = 0o37777777
CLOSE_RANGE_UNSHARE = 1 << 1
CLOSE_RANGE_CLOEXEC = 1 << 2
RESOLVE_ALL = 0x3F


def do_open(t: Any, dirfd: int, path_addr: int, flags: int, mode: int, *, resolve: int = 0) -> int:
    """fs/open.c do_sys_open: resolve, open, install at the lowest free fd."""
    vfs = vfs_of(t)
    path = read_path(t, path_addr)
    # x86_64 is a 64-bit kernel: force_o_largefile() (fs/open.c build_open_flags).
    flags = (flags & VALID_OPEN_FLAGS) | O_LARGEFILE
    start = start_dir(t, dirfd, path) if path else None
    if resolve & RESOLVE_IN_ROOT and path.startswith(b"/"):
        # RESOLVE_IN_ROOT: absolute paths start at dirfd (start_dir ignored them).
        start = start_dir(t, dirfd, b".")
    desc = vfs.open_path(t.fs, path, flags, mode & 0o7777, t.creds, start=start, resolve=resolve)
    return int(t.fd_table.install(desc, cloexec=bool(flags & O_CLOEXEC), limit=nofile_limit(t)))


@syscall(2, "open", Support.PARTIAL, "O_TMPFILE gives EOPNOTSUPP")
def sys_open(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall open(2)."""
    return do_open(t, AT_FDCWD, args[0], s32(args[1]), args[2])


@syscall(257, "openat", Support.PARTIAL, "O_TMPFILE gives EOPNOTSUPP")
def sys_openat(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall openat(2)."""
    return do_open(t, args[0], args[1], s32(args[2]), args[3])


@syscall(85, "creat")
def sys_creat(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall creat(2)."""
    return do_open(t, AT_FDCWD, args[0], O_CREAT | O_WRONLY | O_TRUNC, args[1])


@syscall(437, "openat2", Support.PARTIAL, "RESOLVE_CACHED is treated as an uncached lookup")
def sys_openat2(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall openat2(2)."""
    size = args[3]
    if size < 24:
        raise EINVAL
    if size > 4096:
        raise E2BIG
    raw = t.mm.copy_in(args[2], size)
    if any(raw[24:]):
        raise E2BIG
    flags, mode, resolve = struct.unpack_from("<QQQ", raw)
    if flags & ~VALID_OPEN_FLAGS or mode & ~0o7777 or resolve & ~RESOLVE_ALL:
        raise EINVAL
    if resolve & RESOLVE_CACHED and flags & (O_CREAT | O_TRUNC | 0o20000000):
        raise EAGAIN  # fs/open.c build_open_flags: a cached lookup cannot create
    if not flags & (O_CREAT | 0o20000000) and mode:
        raise EINVAL  # fs/open.c: mode only with O_CREAT or O_TMPFILE
    return do_open(t, args[0], args[1], flags, mode, resolve=resolve)


@syscall(3, "close")
def sys_close(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall close(2)."""
    t.fd_table.close(s32(args[0]))
    return 0


@syscall(436, "close_range", Support.PARTIAL, "CLOSE_RANGE_UNSHARE is accepted as a no-op")
def sys_close_range(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall close_range(2)."""
    first, last, flags = args[0] & 0xFFFFFFFF, args[1] & 0xFFFFFFFF, args[2] & 0xFFFFFFFF
    if flags & ~(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) or first > last:
        raise EINVAL
    t.fd_table.close_range(first, last, cloexec_only=bool(flags & CLOSE_RANGE_CLOEXEC))
    return 0
