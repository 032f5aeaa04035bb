"""Discretionary access control (fs/namei.c: generic_permission, acl_permission_check).

The VFS sees the caller's credentials only through the small ``Credentials``
protocol below; the kernel's ``Credentials`` class satisfies it.
"""

from __future__ import annotations

from typing import Protocol

from sentry.abi.errors import EACCES

MAY_EXEC = 1
MAY_WRITE = 2
MAY_READ = 4

CAP_CHOWN = 0
CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2
CAP_FOWNER = 3
CAP_FSETID = 4


class Credentials(Protocol):
    """What the VFS reads from a task's credentials."""

    @property
    def fsuid(self) -> int: ...

    @property
    def fsgid(self) -> int: ...

    @property
    def groups(self) -> tuple[int, ...]: ...

    def has_capability(self, cap: int) -> bool: ...


def in_group(creds: Credentials, gid: int) -> bool:
    """``in_group_p`` (kernel/groups.c): the fs gid or a supplementary group."""
    return creds.fsgid == gid or gid in creds.groups


def may_access(creds: Credentials, mode: int, uid: int, gid: int, want: int) -> bool:
    """Whether ``creds`` may access a file of ``mode``/``uid``/``gid`` for ``want``.

    Follows generic_permission(): the owner class is chosen first (owner,
    then group, then other, with no fall-through), then CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH may override. Execute is only overridden when some
    execute bit is set (or the file is a directory).
    """
    if creds.fsuid == uid:
        bits = (mode >> 6) & 7
    elif in_group(creds, gid):
        bits = (mode >> 3) & 7
    else:
        bits = mode & 7
    if want & ~bits == 0:
        return True
    is_dir = (mode & 0o170000) == 0o040000
    if creds.has_capability(CAP_DAC_OVERRIDE) and (
        not (want & MAY_EXEC) or is_dir or (mode & 0o111)
    ):
        return True
    return creds.has_capability(CAP_DAC_READ_SEARCH) and (
        want == MAY_READ or (is_dir and not (want & MAY_WRITE))
    )


def check_access(creds: Credentials, mode: int, uid: int, gid: int, want: int) -> None:
    """Raise EACCES unless ``may_access``."""
    if not may_access(creds, mode, uid, gid, want):
        raise EACCES


def is_owner_or_capable(creds: Credentials, uid: int) -> bool:
    """``inode_owner_or_capable`` (fs/inode.c): needed for chmod, utimes with times."""
    return creds.fsuid == uid or creds.has_capability(CAP_FOWNER)
