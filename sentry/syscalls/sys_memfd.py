"""memfd_create (mm/memfd.c)."""

from __future__ import annotations

from typing import Any

from sentry.abi.errors import EINVAL, ENAMETOOLONG
from sentry.fsimpl.memfd import new_memfd
from sentry.syscalls._fileargs import nofile_limit
from sentry.syscalls.table import Support, SyscallArgs, syscall

MFD_CLOEXEC = 0x1
MFD_ALLOW_SEALING = 0x2
MFD_HUGETLB = 0x4
MFD_NOEXEC_SEAL = 0x8
MFD_EXEC = 0x10
#: NAME_MAX - strlen("memfd:")
MFD_NAME_MAX_LEN = 249


@syscall(319, "memfd_create", Support.PARTIAL, "tmpfs-backed; no seals, no MFD_HUGETLB")
def sys_memfd_create(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall memfd_create(2)."""
    flags = args[1] & 0xFFFFFFFF
    if flags & ~(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL | MFD_EXEC | MFD_HUGETLB):
        raise EINVAL
    if flags & MFD_HUGETLB:
        raise EINVAL("MFD_HUGETLB is not supported")
    if flags & MFD_NOEXEC_SEAL and flags & MFD_EXEC:
        raise EINVAL
    try:
        name: bytes = t.mm.copy_in_string(args[0], MFD_NAME_MAX_LEN + 1)
    except ENAMETOOLONG:
        raise EINVAL from None
    desc = new_memfd(name, t.creds)
    return int(t.fd_table.install(desc, cloexec=bool(flags & MFD_CLOEXEC), limit=nofile_limit(t)))
