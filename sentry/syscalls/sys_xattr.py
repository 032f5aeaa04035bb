"""Extended attributes (fs/xattr.c). No file system here stores them yet:
names are validated, the file is resolved (so ENOENT/ENOTDIR/EACCES come
first, as in Linux), then get/set/remove give EOPNOTSUPP and list is empty,
which is what programs see on a file system without xattr support."""

from __future__ import annotations

from typing import Any

from sentry.abi.errors import EINVAL, ENAMETOOLONG, ENOTSUP, ERANGE
from sentry.syscalls._fileargs import get_file, resolve_at
from sentry.syscalls.table import Support, SyscallArgs, syscall
from sentry.vfs.flags import AT_FDCWD

XATTR_NAME_MAX = 255
XATTR_CREATE, XATTR_REPLACE = 1, 2
NOTE = "no file system stores extended attributes yet: EOPNOTSUPP"


def _name(t: Any, addr: int) -> bytes:
    try:
        name: bytes = t.mm.copy_in_string(addr, XATTR_NAME_MAX + 1)
    except ENAMETOOLONG:
        raise ERANGE from None  # fs/xattr.c: a name of 0 or > 255 bytes
    if not name:
        raise ERANGE
    return name


def _path(t: Any, addr: int, *, follow: bool) -> None:
    resolve_at(t, AT_FDCWD, addr, 0, follow=follow)


def _get(t: Any, name_addr: int) -> int:
    _name(t, name_addr)
    raise ENOTSUP


def _set(t: Any, name_addr: int, flags: int) -> int:
    if flags & ~(XATTR_CREATE | XATTR_REPLACE):
        raise EINVAL
    _name(t, name_addr)
    raise ENOTSUP


@syscall(191, "getxattr", Support.PARTIAL, NOTE)
def sys_getxattr(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall getxattr(2)."""
    _path(t, args[0], follow=True)
    return _get(t, args[1])


@syscall(192, "lgetxattr", Support.PARTIAL, NOTE)
def sys_lgetxattr(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall lgetxattr(2)."""
    _path(t, args[0], follow=False)
    return _get(t, args[1])


@syscall(193, "fgetxattr", Support.PARTIAL, NOTE)
def sys_fgetxattr(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall fgetxattr(2)."""
    get_file(t, args[0])
    return _get(t, args[1])


@syscall(188, "setxattr", Support.PARTIAL, NOTE)
def sys_setxattr(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall setxattr(2)."""
    _path(t, args[0], follow=True)
    return _set(t, args[1], args[4])


@syscall(189, "lsetxattr", Support.PARTIAL, NOTE)
def sys_lsetxattr(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall lsetxattr(2)."""
    _path(t, args[0], follow=False)
    return _set(t, args[1], args[4])


@syscall(190, "fsetxattr", Support.PARTIAL, NOTE)
def sys_fsetxattr(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall fsetxattr(2)."""
    get_file(t, args[0])
    return _set(t, args[1], args[4])


@syscall(194, "listxattr", Support.PARTIAL, "always an empty list")
def sys_listxattr(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall listxattr(2)."""
    _path(t, args[0], follow=True)
    return 0


@syscall(195, "llistxattr", Support.PARTIAL, "always an empty list")
def sys_llistxattr(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall llistxattr(2)."""
    _path(t, args[0], follow=False)
    return 0


@syscall(196, "flistxattr", Support.PARTIAL, "always an empty list")
def sys_flistxattr(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall flistxattr(2)."""
    get_file(t, args[0])
    return 0


@syscall(197, "removexattr", Support.PARTIAL, NOTE)
def sys_removexattr(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall removexattr(2)."""
    _path(t, args[0], follow=True)
    return _get(t, args[1])


@syscall(198, "lremovexattr", Support.PARTIAL, NOTE)
def sys_lremovexattr(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall lremovexattr(2)."""
    _path(t, args[0], follow=False)
    return _get(t, args[1])


@syscall(199, "fremovexattr", Support.PARTIAL, NOTE)
def sys_fremovexattr(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall fremovexattr(2)."""
    get_file(t, args[0])
    return _get(t, args[1])
