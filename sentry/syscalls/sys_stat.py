"""File attributes and listings: stat family, statx, statfs, readlink, access,
getdents (fs/stat.c, fs/readdir.c, fs/open.c)."""

from __future__ import annotations

import struct
from typing import Any

from sentry.abi.errors import EINVAL
from sentry.syscalls._fileargs import get_file, resolve_at, s32, vfs_of
from sentry.syscalls.table import Support, SyscallArgs, syscall
from sentry.vfs import Dirent, StatFS
from sentry.vfs.flags import (
    AT_EACCESS,
    AT_EMPTY_PATH,
    AT_FDCWD,
    AT_NO_AUTOMOUNT,
    AT_STATX_SYNC_TYPE,
    AT_SYMLINK_NOFOLLOW,
)
from sentry.vfs.stat import pack_stat, pack_statx


def _stat_out(t: Any, addr: int, st: Any) -> int:
    t.mm.copy_out(addr, pack_stat(st))
    return 0


@syscall(4, "stat")
def sys_stat(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall stat(2)."""
    return _stat_out(t, args[1], resolve_at(t, AT_FDCWD, args[0], 0, follow=True).inode.stat())


@syscall(6, "lstat")
def sys_lstat(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall lstat(2)."""
    return _stat_out(t, args[1], resolve_at(t, AT_FDCWD, args[0], 0, follow=False).inode.stat())


@syscall(5, "fstat")
def sys_fstat(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall fstat(2)."""
    return _stat_out(t, args[1], get_file(t, args[0]).stat())


@syscall(262, "newfstatat")
def sys_newfstatat(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall newfstatat(2) (fstatat)."""
    flags = s32(args[3])
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT):
        raise EINVAL
    vfs_of(t)
    if (
        flags & AT_EMPTY_PATH
        and s32(args[0]) != AT_FDCWD
        and not t.mm.copy_in_string(args[1], 4096)
    ):
        return _stat_out(t, args[2], get_file(t, args[0]).stat())
    vd = resolve_at(t, args[0], args[1], flags, follow=not flags & AT_SYMLINK_NOFOLLOW)
    return _stat_out(t, args[2], vd.inode.stat())


@syscall(332, "statx", Support.PARTIAL, "basic stats only; no birth time or attributes")
def sys_statx(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall statx(2)."""
    flags, mask = s32(args[2]), args[3] & 0xFFFFFFFF
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE):
        raise EINVAL
    if flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE or mask & 0x80000000:
        raise EINVAL
    vfs_of(t)
    if (
        flags & AT_EMPTY_PATH
        and s32(args[0]) != AT_FDCWD
        and not t.mm.copy_in_string(args[1], 4096)
    ):
        st = get_file(t, args[0]).stat()
    else:
        st = resolve_at(
            t, args[0], args[1], flags, follow=not flags & AT_SYMLINK_NOFOLLOW
        ).inode.stat()
    t.mm.copy_out(args[4], pack_statx(st))
    return 0


# struct statfs (x86_64): f_type f_bsize f_blocks f_bfree f_bavail f_files
# f_ffree, f_fsid (2 ints), f_namelen f_frsize f_flags, f_spare[4].
_STATFS = struct.Struct("<qqQQQQQiiqqq4q")


def _statfs_out(t: Any, addr: int, sf: StatFS) -> int:
    t.mm.copy_out(addr, _STATFS.pack(
        sf.type, sf.bsize, sf.blocks, sf.bfree, sf.bavail, sf.files, sf.ffree,
        sf.fsid & 0xFFFFFFFF, sf.fsid >> 32, sf.namelen, sf.frsize, sf.flags, 0, 0, 0, 0,
    ))  # fmt: skip
    return 0


@syscall(137, "statfs")
def sys_statfs(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall statfs(2)."""
    vd = resolve_at(t, AT_FDCWD, args[0], 0, follow=True)
    return _statfs_out(t, args[1], vfs_of(t).statfs(vd))


@syscall(138, "fstatfs")
def sys_fstatfs(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall fstatfs(2)."""
    desc = get_file(t, args[0])
    if desc.vd is None:
        raise EINVAL
    return _statfs_out(t, args[1], vfs_of(t).statfs(desc.vd))


def _readlink(t: Any, dirfd: int, path_addr: int, buf: int, size: int) -> int:
    size = s32(size)
    if size <= 0:
        raise EINVAL
    vd = resolve_at(t, dirfd, path_addr, AT_EMPTY_PATH, follow=False)
    target = vfs_of(t).readlink(vd)[:size]
    t.mm.copy_out(buf, target)
    return len(target)


@syscall(89, "readlink")
def sys_readlink(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall readlink(2)."""
    return _readlink(t, AT_FDCWD, args[0], args[1], args[2])


@syscall(267, "readlinkat")
def sys_readlinkat(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall readlinkat(2) (an empty path reads the O_PATH symlink dirfd)."""
    return _readlink(t, args[0], args[1], args[2], args[3])


class _RealIds:
    """Real uid/gid for faccessat unless AT_EACCESS (fs/open.c access_override_creds)."""

    def __init__(self, creds: Any) -> None:
        self._creds = creds
        self.fsuid = creds.uid
        self.fsgid = creds.gid
        self.groups = creds.groups

    def has_capability(self, cap: int) -> bool:
        # A non-root real uid loses the effective capabilities (unless root-ness is kept).
        return self._creds.uid == 0 and bool(self._creds.has_capability(cap))


def _access(t: Any, dirfd: int, path_addr: int, mode: int, flags: int) -> int:
    if mode & ~7 or flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise EINVAL
    creds = t.creds if flags & AT_EACCESS else _RealIds(t.creds)
    vd = resolve_at(t, dirfd, path_addr, flags, follow=not flags & AT_SYMLINK_NOFOLLOW)
    vfs_of(t).access(vd, mode, creds)
    return 0


@syscall(21, "access")
def sys_access(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall access(2)."""
    return _access(t, AT_FDCWD, args[0], s32(args[1]), 0)


@syscall(269, "faccessat")
def sys_faccessat(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall faccessat(2) (no flags argument)."""
    return _access(t, args[0], args[1], s32(args[2]), 0)


@syscall(439, "faccessat2")
def sys_faccessat2(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall faccessat2(2)."""
    return _access(t, args[0], args[1], s32(args[2]), s32(args[3]))


def _dirent64(d: Dirent, next_off: int) -> bytes:
    # struct linux_dirent64: d_ino d_off d_reclen d_type d_name[] (NUL, 8-aligned).
    reclen = (19 + len(d.name) + 1 + 7) & ~7
    rec = struct.pack("<QqHB", d.ino, next_off, reclen, d.type) + d.name
    return rec + bytes(reclen - len(rec))


def _dirent(d: Dirent, next_off: int) -> bytes:
    # struct linux_dirent: d_ino d_off d_reclen d_name[] NUL pad, d_type in the last byte.
    reclen = (18 + len(d.name) + 2 + 7) & ~7
    rec = struct.pack("<QqH", d.ino, next_off, reclen) + d.name
    rec += bytes(reclen - len(rec) - 1)
    return rec + bytes([d.type])


@syscall(217, "getdents64")
def sys_getdents64(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall getdents64(2)."""
    desc = get_file(t, args[0])
    data = desc.getdents(args[2] & 0xFFFFFFFF, _dirent64)
    if data:
        t.mm.copy_out(args[1], data)
    return len(data)


@syscall(78, "getdents")
def sys_getdents(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall getdents(2)."""
    desc = get_file(t, args[0])
    data = desc.getdents(args[2] & 0xFFFFFFFF, _dirent)
    if data:
        t.mm.copy_out(args[1], data)
    return len(data)
