"""Changing attributes: chmod, chown, utimes family, truncate (fs/open.c, fs/utimes.c)."""

from __future__ import annotations

import struct
from typing import Any

from sentry.abi.errors import EBADF, EFAULT, EINVAL, ENOTSUP
from sentry.syscalls._fileargs import get_file, resolve_at, s32, s64, vfs_of
from sentry.syscalls.table import SyscallArgs, syscall
from sentry.vfs import VirtualDentry
from sentry.vfs.flags import AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW
from sentry.vfs.vfs import UTIME_NOW, UTIME_OMIT, now_ns


def _fd_vd(t: Any, fd: int) -> VirtualDentry:
    desc = get_file(t, fd)
    if desc.vd is None or desc.is_path:
        raise EBADF
    vd: VirtualDentry = desc.vd
    return vd


@syscall(90, "chmod")
def sys_chmod(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall chmod(2)."""
    vd = resolve_at(t, AT_FDCWD, args[0], 0, follow=True)
    vfs_of(t).chmod(vd, args[1] & 0o7777, t.creds)
    return 0


@syscall(91, "fchmod")
def sys_fchmod(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall fchmod(2)."""
    vfs_of(t).chmod(_fd_vd(t, args[0]), args[1] & 0o7777, t.creds)
    return 0


@syscall(268, "fchmodat")
def sys_fchmodat(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall fchmodat(2) (no flags argument in the syscall)."""
    vd = resolve_at(t, args[0], args[1], 0, follow=True)
    vfs_of(t).chmod(vd, args[2] & 0o7777, t.creds)
    return 0


@syscall(452, "fchmodat2")
def sys_fchmodat2(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall fchmodat2(2): fchmodat with flags (Linux 6.6)."""
    flags = s32(args[3])
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise EINVAL
    vd = resolve_at(t, args[0], args[1], flags, follow=not flags & AT_SYMLINK_NOFOLLOW)
    if vd.inode.is_symlink():
        raise ENOTSUP  # symlinks have no mode of their own (fs/open.c chmod_common)
    vfs_of(t).chmod(vd, args[2] & 0o7777, t.creds)
    return 0


def _chown(t: Any, vd: VirtualDentry, uid: int, gid: int) -> int:
    vfs_of(t).chown(vd, s32(uid), s32(gid), t.creds)
    return 0


@syscall(92, "chown")
def sys_chown(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall chown(2)."""
    return _chown(t, resolve_at(t, AT_FDCWD, args[0], 0, follow=True), args[1], args[2])


@syscall(94, "lchown")
def sys_lchown(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall lchown(2)."""
    return _chown(t, resolve_at(t, AT_FDCWD, args[0], 0, follow=False), args[1], args[2])


@syscall(93, "fchown")
def sys_fchown(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall fchown(2)."""
    return _chown(t, _fd_vd(t, args[0]), args[1], args[2])


@syscall(260, "fchownat")
def sys_fchownat(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall fchownat(2)."""
    flags = s32(args[4])
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise EINVAL
    vd = resolve_at(t, args[0], args[1], flags, follow=not flags & AT_SYMLINK_NOFOLLOW)
    return _chown(t, vd, args[2], args[3])


def _set_times(t: Any, vd: VirtualDentry, times: list[tuple[int, int]] | None) -> int:
    """Apply (sec, nsec) pairs for atime/mtime; None means both now (fs/utimes.c)."""
    if times is None:
        now = now_ns()
        vfs_of(t).utimes(vd, now, now, t.creds, explicit=False)
        return 0
    out: list[int | None] = []
    explicit = False
    for sec, nsec in times:
        if nsec == UTIME_OMIT:
            out.append(None)
        elif nsec == UTIME_NOW:
            out.append(now_ns())
        else:
            if nsec < 0 or nsec >= 1_000_000_000:
                raise EINVAL
            out.append(sec * 1_000_000_000 + nsec)
            explicit = True
    if out[0] is None and out[1] is None:
        return 0
    # "now" (or omitted) needs only write access; an explicit time needs ownership.
    vfs_of(t).utimes(vd, out[0], out[1], t.creds, explicit=explicit)
    return 0


@syscall(280, "utimensat")
def sys_utimensat(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall utimensat(2) (a NULL path operates on dirfd, a Linux extension)."""
    flags = s32(args[3])
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise EINVAL
    times = None
    if args[2]:
        raw = t.mm.copy_in(args[2], 32)
        a_sec, a_ns, m_sec, m_ns = struct.unpack("<qqqq", raw)
        times = [(a_sec, a_ns), (m_sec, m_ns)]
    if args[1] == 0:
        if s32(args[0]) == AT_FDCWD:
            raise EFAULT  # fs/utimes.c: a NULL path needs a real dirfd
        vd = _fd_vd(t, args[0])
    else:
        vd = resolve_at(t, args[0], args[1], flags, follow=not flags & AT_SYMLINK_NOFOLLOW)
    return _set_times(t, vd, times)


def _timevals(t: Any, addr: int) -> list[tuple[int, int]] | None:
    if not addr:
        return None
    a_sec, a_us, m_sec, m_us = struct.unpack("<qqqq", t.mm.copy_in(addr, 32))
    for us in (a_us, m_us):
        if us < 0 or us >= 1_000_000:
            raise EINVAL
    return [(a_sec, a_us * 1000), (m_sec, m_us * 1000)]


@syscall(235, "utimes")
def sys_utimes(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall utimes(2)."""
    times = _timevals(t, args[1])
    return _set_times(t, resolve_at(t, AT_FDCWD, args[0], 0, follow=True), times)


@syscall(261, "futimesat")
def sys_futimesat(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall futimesat(2)."""
    times = _timevals(t, args[2])
    return _set_times(t, resolve_at(t, args[0], args[1], 0, follow=True), times)


@syscall(132, "utime")
def sys_utime(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall utime(2) (struct utimbuf: actime, modtime in seconds)."""
    times = None
    if args[1]:
        a, m = struct.unpack("<qq", t.mm.copy_in(args[1], 16))
        times = [(a, 0), (m, 0)]
    return _set_times(t, resolve_at(t, AT_FDCWD, args[0], 0, follow=True), times)


@syscall(76, "truncate")
def sys_truncate(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall truncate(2)."""
    length = s64(args[1])
    vd = resolve_at(t, AT_FDCWD, args[0], 0, follow=True)
    if length < 0:
        raise EINVAL
    vfs_of(t).truncate(vd, length, t.creds)
    return 0
