"""Namespace changes: mkdir, mknod, unlink, rmdir, rename, symlink, link (fs/namei.c)."""

from __future__ import annotations

from typing import Any

from sentry.abi.errors import EINVAL
from sentry.syscalls._fileargs import read_path, resolve_at, s32, start_dir, vfs_of
from sentry.syscalls.table import Support, SyscallArgs, syscall
from sentry.vfs.flags import AT_EMPTY_PATH, AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_FOLLOW


def _mkdir(t: Any, dirfd: int, path_addr: int, mode: int) -> int:
    vfs = vfs_of(t)
    path = read_path(t, path_addr)
    vfs.mkdir(t.fs, start_dir(t, dirfd, path) if path else None, path, mode & 0o7777, t.creds)
    return 0


@syscall(83, "mkdir")
def sys_mkdir(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall mkdir(2)."""
    return _mkdir(t, AT_FDCWD, args[0], args[1])


@syscall(258, "mkdirat")
def sys_mkdirat(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall mkdirat(2)."""
    return _mkdir(t, args[0], args[1], args[2])


def _mknod(t: Any, dirfd: int, path_addr: int, mode: int, dev: int) -> int:
    vfs = vfs_of(t)
    path = read_path(t, path_addr)
    ftype = mode & 0o170000
    if ftype not in (0, 0o100000, 0o020000, 0o060000, 0o010000, 0o140000):
        raise EINVAL
    start = start_dir(t, dirfd, path) if path else None
    vfs.mknod(t.fs, start, path, mode & 0o177777, dev & 0xFFFFFFFF, t.creds)
    return 0


@syscall(133, "mknod", Support.PARTIAL, "regular files and FIFOs; device nodes give EPERM")
def sys_mknod(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall mknod(2)."""
    return _mknod(t, AT_FDCWD, args[0], s32(args[1]), args[2])


@syscall(259, "mknodat", Support.PARTIAL, "regular files and FIFOs; device nodes give EPERM")
def sys_mknodat(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall mknodat(2)."""
    return _mknod(t, args[0], args[1], s32(args[2]), args[3])


def _unlink(t: Any, dirfd: int, path_addr: int, flags: int) -> int:
    if flags & ~AT_REMOVEDIR:
        raise EINVAL
    vfs = vfs_of(t)
    path = read_path(t, path_addr)
    start = start_dir(t, dirfd, path) if path else None
    if flags & AT_REMOVEDIR:
        vfs.rmdir(t.fs, start, path, t.creds)
    else:
        vfs.unlink(t.fs, start, path, t.creds)
    return 0


@syscall(87, "unlink")
def sys_unlink(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall unlink(2)."""
    return _unlink(t, AT_FDCWD, args[0], 0)


@syscall(263, "unlinkat")
def sys_unlinkat(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall unlinkat(2)."""
    return _unlink(t, args[0], args[1], s32(args[2]))


@syscall(84, "rmdir")
def sys_rmdir(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall rmdir(2)."""
    return _unlink(t, AT_FDCWD, args[0], AT_REMOVEDIR)


def _rename(t: Any, olddirfd: int, oldp: int, newdirfd: int, newp: int, flags: int) -> int:  # noqa: PLR0917 - the syscall's argument list
    vfs = vfs_of(t)
    old = read_path(t, oldp)
    new = read_path(t, newp)
    ostart = start_dir(t, olddirfd, old) if old else None
    nstart = start_dir(t, newdirfd, new) if new else None
    vfs.rename(t.fs, ostart, old, nstart, new, flags & 0xFFFFFFFF, t.creds)
    return 0


@syscall(82, "rename")
def sys_rename(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall rename(2)."""
    return _rename(t, AT_FDCWD, args[0], AT_FDCWD, args[1], 0)


@syscall(264, "renameat")
def sys_renameat(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall renameat(2)."""
    return _rename(t, args[0], args[1], args[2], args[3], 0)


@syscall(316, "renameat2", Support.PARTIAL, "RENAME_WHITEOUT gives EINVAL")
def sys_renameat2(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall renameat2(2)."""
    return _rename(t, args[0], args[1], args[2], args[3], args[4])


def _symlink(t: Any, target_addr: int, dirfd: int, path_addr: int) -> int:
    vfs = vfs_of(t)
    target = read_path(t, target_addr)
    path = read_path(t, path_addr)
    vfs.symlink(t.fs, target, start_dir(t, dirfd, path) if path else None, path, t.creds)
    return 0


@syscall(88, "symlink")
def sys_symlink(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall symlink(2)."""
    return _symlink(t, args[0], AT_FDCWD, args[1])


@syscall(266, "symlinkat")
def sys_symlinkat(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall symlinkat(2)."""
    return _symlink(t, args[0], args[1], args[2])


def _link(t: Any, olddirfd: int, oldp: int, newdirfd: int, newp: int, flags: int) -> int:  # noqa: PLR0917 - the syscall's argument list
    if flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH):
        raise EINVAL
    vfs = vfs_of(t)
    old = resolve_at(t, olddirfd, oldp, flags, follow=bool(flags & AT_SYMLINK_FOLLOW))
    new = read_path(t, newp)
    vfs.link(t.fs, old, start_dir(t, newdirfd, new) if new else None, new, t.creds)
    return 0


@syscall(86, "link")
def sys_link(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall link(2)."""
    return _link(t, AT_FDCWD, args[0], AT_FDCWD, args[1], 0)


@syscall(265, "linkat")
def sys_linkat(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall linkat(2)."""
    return _link(t, args[0], args[1], args[2], args[3], s32(args[4]))
