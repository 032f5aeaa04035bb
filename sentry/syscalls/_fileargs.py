"""Argument decoding shared by the file syscalls: paths, dirfds, limits.

Every path is copied with ``t.mm.copy_in_string`` bounded by PATH_MAX
(ENAMETOOLONG without a NUL, EFAULT on a bad pointer), as fs/namei.c getname.
"""

from __future__ import annotations

from typing import Any

from sentry.abi.errors import EBADF, ENOENT, ENOTDIR
from sentry.vfs import FileDescription, VirtualDentry, VirtualFilesystem, set_current_task
from sentry.vfs.fdtable import NR_OPEN
from sentry.vfs.flags import AT_EMPTY_PATH, AT_FDCWD, PATH_MAX

RLIMIT_NOFILE = 7
#: fs/read_write.c MAX_RW_COUNT: INT_MAX rounded down to a page.
MAX_RW_COUNT = 0x7FFFF000


def s32(value: int) -> int:
    """The C ``int`` in the low 32 bits of a register (fds, flags, modes)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def s64(value: int) -> int:
    """A signed 64-bit register value (off_t, ssize_t)."""
    value &= 0xFFFFFFFFFFFFFFFF
    return value - (1 << 64) if value & (1 << 63) else value


def vfs_of(t: Any) -> VirtualFilesystem:
    """The VFS, recording ``t`` as this thread's caller for procfs's /proc/self."""
    set_current_task(t)
    vfs: VirtualFilesystem = t.kernel.vfs
    return vfs


def nofile_limit(t: Any) -> int:
    """The soft RLIMIT_NOFILE of ``t`` (accepts a mapping or an object with ``get``)."""
    limits = getattr(t, "rlimits", None)
    if limits is None:
        return NR_OPEN
    try:
        value = limits[RLIMIT_NOFILE] if not hasattr(limits, "get") else limits.get(RLIMIT_NOFILE)
    except (KeyError, IndexError, TypeError):
        return NR_OPEN
    if value is None:
        return NR_OPEN
    if isinstance(value, tuple):
        value = value[0]
    cur = getattr(value, "cur", value)
    return min(int(cur), NR_OPEN)


def read_path(t: Any, addr: int) -> bytes:
    """Copy a NUL-terminated path from user memory."""
    path: bytes = t.mm.copy_in_string(addr, PATH_MAX)
    return path


def get_file(t: Any, fd: int) -> FileDescription:
    """The open file at ``fd``; records ``t`` as the caller (terminals ask who reads)."""
    set_current_task(t)
    desc: FileDescription = t.fd_table.get(s32(fd))
    return desc


def start_dir(t: Any, dirfd: int, path: bytes) -> VirtualDentry | None:
    """The directory a relative *at path starts from (None: the cwd)."""
    dirfd = s32(dirfd)
    if path.startswith(b"/") or dirfd == AT_FDCWD:
        return None
    desc = t.fd_table.get(dirfd)
    if desc.vd is None:
        raise ENOTDIR
    if not desc.vd.inode.is_dir():
        raise ENOTDIR
    vd: VirtualDentry = desc.vd
    return vd


def resolve_at(t: Any, dirfd: int, path_addr: int, flags: int, *, follow: bool) -> VirtualDentry:
    """Resolve (dirfd, path) honouring AT_EMPTY_PATH (an empty path names dirfd itself)."""
    vfs = vfs_of(t)
    path = read_path(t, path_addr)
    if not path:
        if not flags & AT_EMPTY_PATH:
            raise ENOENT
        dirfd = s32(dirfd)
        if dirfd == AT_FDCWD:
            cwd: VirtualDentry = t.fs.cwd
            return cwd
        desc = t.fd_table.get(dirfd)
        if desc.vd is None:
            raise EBADF
        vd: VirtualDentry = desc.vd
        return vd
    return vfs.resolve(t.fs, path, t.creds, start=start_dir(t, dirfd, path), follow=follow)
