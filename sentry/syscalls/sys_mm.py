"""Implements Linux syscalls brk(2), mmap(2), munmap(2), mprotect(2),
mremap(2), madvise(2), msync(2), mincore(2) and the mlock(2) family
(mm/mmap.c, mm/mprotect.c, mm/mremap.c, mm/madvise.c, mm/msync.c,
mm/mincore.c, mm/mlock.c)."""

from __future__ import annotations

from sentry.abi import sysno
from sentry.abi.errors import EACCES, EBADF, EINVAL, EOPNOTSUPP
from sentry.abi.mm import (
    MAP_32BIT,
    MAP_ANONYMOUS,
    MAP_DENYWRITE,
    MAP_EXECUTABLE,
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_GROWSDOWN,
    MAP_HUGETLB,
    MAP_LOCKED,
    MAP_NONBLOCK,
    MAP_NORESERVE,
    MAP_POPULATE,
    MAP_PRIVATE,
    MAP_SHARED,
    MAP_SHARED_VALIDATE,
    MAP_STACK,
    MAP_SYNC,
    MAP_TYPE,
    PROT_RWX,
    PROT_WRITE,
)
from sentry.kernel import SyscallArgs, Task
from sentry.kernel.mapfile import pinned_mappable
from sentry.syscalls.table import Support, syscall

#: Flags MAP_SHARED_VALIDATE accepts (mm/mmap.c LEGACY_MAP_MASK plus MAP_SYNC).
_KNOWN_FLAGS = (
    MAP_SHARED
    | MAP_PRIVATE
    | MAP_FIXED
    | MAP_ANONYMOUS
    | MAP_32BIT
    | MAP_DENYWRITE
    | MAP_EXECUTABLE
    | MAP_GROWSDOWN
    | MAP_LOCKED
    | MAP_NORESERVE
    | MAP_POPULATE
    | MAP_NONBLOCK
    | MAP_STACK
    | MAP_HUGETLB
    | MAP_FIXED_NOREPLACE
)


@syscall(sysno.BRK, "brk")
def sys_brk(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall brk(2).

    Returns the new break, or the old one on failure (never an error)."""
    return t.mm.brk(args[0])


@syscall(
    sysno.MMAP,
    "mmap",
    Support.PARTIAL,
    "anonymous and file-backed private/shared mappings, MAP_FIXED(_NOREPLACE), "
    "MAP_GROWSDOWN; MAP_HUGETLB, MAP_SYNC and MAP_32BIT placement are not supported",
)
def sys_mmap(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall mmap(2) (mm/mmap.c ksys_mmap_pgoff, do_mmap)."""
    addr, length, prot, flags, fd, offset = args
    map_type = flags & MAP_TYPE
    if map_type == MAP_SHARED_VALIDATE:
        if flags & ~(_KNOWN_FLAGS | MAP_SYNC | MAP_TYPE):
            raise EOPNOTSUPP
        if flags & MAP_SYNC:
            raise EOPNOTSUPP  # only DAX files support MAP_SYNC
        flags = (flags & ~MAP_TYPE) | MAP_SHARED
    elif map_type not in (MAP_SHARED, MAP_PRIVATE):
        raise EINVAL
    if flags & MAP_HUGETLB:
        raise EINVAL  # no hugetlbfs in the sandbox
    if prot & ~PROT_RWX:
        raise EINVAL
    if flags & MAP_ANONYMOUS:
        return t.mm.mmap(addr, length, prot, flags)
    fd = fd & 0xFFFFFFFF
    if fd >= 1 << 31:
        raise EBADF
    desc = t.fd_table.get(fd)
    # mm/mmap.c do_mmap: the file must be open for reading; a writable
    # shared mapping needs a file open for writing.
    if not desc.readable:
        raise EACCES
    max_prot = PROT_RWX
    if flags & MAP_SHARED and not desc.writable:
        if prot & PROT_WRITE:
            raise EACCES
        max_prot &= ~PROT_WRITE
    mappable = pinned_mappable(desc)  # ENODEV when the file cannot be mapped
    return t.mm.mmap(addr, length, prot, flags, mappable=mappable, offset=offset, max_prot=max_prot)


@syscall(sysno.MUNMAP, "munmap")
def sys_munmap(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall munmap(2)."""
    t.mm.munmap(args[0], args[1])
    return 0


@syscall(sysno.MPROTECT, "mprotect", Support.PARTIAL, "PROT_GROWSDOWN/PROT_GROWSUP are ignored")
def sys_mprotect(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall mprotect(2)."""
    prot = args[2] & ~(0x01000000 | 0x02000000)
    t.mm.mprotect(args[0], args[1], prot)
    return 0


@syscall(sysno.MREMAP, "mremap", Support.PARTIAL, "MREMAP_DONTUNMAP and old_size 0 are refused")
def sys_mremap(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall mremap(2)."""
    return t.mm.mremap(args[0], args[1], args[2], args[3], args[4])


@syscall(
    sysno.MADVISE,
    "madvise",
    Support.PARTIAL,
    "MADV_DONTNEED and MADV_FREE drop pages; other valid advice is accepted as a hint",
)
def sys_madvise(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall madvise(2)."""
    t.mm.madvise(args[0], args[1], args[2] & 0xFFFFFFFF)
    return 0


@syscall(sysno.MSYNC, "msync")
def sys_msync(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall msync(2): writes shared file pages back."""
    t.mm.msync(args[0], args[1], args[2])
    return 0


@syscall(sysno.MINCORE, "mincore")
def sys_mincore(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall mincore(2): populated pages count as resident."""
    vec = t.mm.mincore(args[0], args[1])
    t.mm.copy_out(args[2], vec)
    return 0


MLOCK_ONFAULT = 1
MCL_CURRENT = 1
MCL_FUTURE = 2
MCL_ONFAULT = 4


@syscall(sysno.MLOCK, "mlock", Support.PARTIAL, "checked; pages are never swapped anyway")
def sys_mlock(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall mlock(2): ENOMEM unless the range is mapped."""
    t.mm.mlock(args[0], args[1])
    return 0


@syscall(sysno.MLOCK2, "mlock2", Support.PARTIAL, "checked; pages are never swapped anyway")
def sys_mlock2(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall mlock2(2): only MLOCK_ONFAULT is a valid flag."""
    if args[2] & ~MLOCK_ONFAULT:
        raise EINVAL
    t.mm.mlock(args[0], args[1])
    return 0


@syscall(sysno.MUNLOCK, "munlock", Support.PARTIAL, "checked; nothing is locked")
def sys_munlock(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall munlock(2)."""
    t.mm.mlock(args[0], args[1])
    return 0


@syscall(sysno.MLOCKALL, "mlockall", Support.PARTIAL, "flags checked; nothing else to do")
def sys_mlockall(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall mlockall(2): EINVAL for no or unknown flags."""
    flags = args[0] & 0xFFFFFFFF
    if not flags & (MCL_CURRENT | MCL_FUTURE) or flags & ~(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT):
        raise EINVAL
    return 0


@syscall(sysno.MUNLOCKALL, "munlockall")
def sys_munlockall(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall munlockall(2)."""
    return 0
