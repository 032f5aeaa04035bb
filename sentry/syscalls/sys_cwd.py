"""The file system context: getcwd, chdir, fchdir, umask (fs/d_path.c, fs/open.c)."""

from __future__ import annotations

from typing import Any

from sentry.abi.errors import ENOTDIR, ERANGE
from sentry.syscalls._fileargs import get_file, resolve_at, vfs_of
from sentry.syscalls.table import SyscallArgs, syscall
from sentry.vfs.flags import AT_FDCWD


@syscall(79, "getcwd")
def sys_getcwd(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall getcwd(2): returns the length including the NUL."""
    path = vfs_of(t).getcwd(t.fs) + b"\0"
    if len(path) > args[1]:
        raise ERANGE
    t.mm.copy_out(args[0], path)
    return len(path)


@syscall(80, "chdir")
def sys_chdir(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall chdir(2)."""
    vd = resolve_at(t, AT_FDCWD, args[0], 0, follow=True)
    vfs_of(t).chdir(t.fs, vd, t.creds)
    return 0


@syscall(81, "fchdir")
def sys_fchdir(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall fchdir(2)."""
    desc = get_file(t, args[0])
    if desc.vd is None:
        raise ENOTDIR
    vfs_of(t).chdir(t.fs, desc.vd, t.creds)
    return 0


@syscall(95, "umask")
def sys_umask(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall umask(2)."""
    return int(t.fs.swap_umask(args[0] & 0o777))
