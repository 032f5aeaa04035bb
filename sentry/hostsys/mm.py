"""memfd_create(2), mmap(2), munmap(2), mprotect(2) on host addresses (ints).

The standard library's ``mmap`` module is fine for the Sentry's own view of
the MemoryFile; these exist for fixed-address mappings (tests of the
platform, and the KVM back end's guest memory).
"""

from __future__ import annotations

from sentry.hostsys._lib import check, ffi, lib

PROT_NONE: int = lib.PROT_NONE
PROT_READ: int = lib.PROT_READ
PROT_WRITE: int = lib.PROT_WRITE
PROT_EXEC: int = lib.PROT_EXEC
MAP_SHARED: int = lib.MAP_SHARED
MAP_PRIVATE: int = lib.MAP_PRIVATE
MAP_FIXED: int = lib.MAP_FIXED
MAP_ANONYMOUS: int = lib.MAP_ANONYMOUS
MAP_POPULATE: int = lib.MAP_POPULATE
MAP_NORESERVE: int = lib.MAP_NORESERVE
MFD_CLOEXEC: int = lib.MFD_CLOEXEC
MFD_ALLOW_SEALING: int = lib.MFD_ALLOW_SEALING

_MAP_FAILED = (1 << 64) - 1


def memfd_create(name: str, flags: int = MFD_CLOEXEC) -> int:
    """memfd_create(2); returns the descriptor."""
    return check(int(lib.memfd_create(name.encode(), flags)), f"memfd_create({name!r})")


def mmap(addr: int, length: int, prot: int, flags: int, fd: int = -1, offset: int = 0) -> int:  # noqa: PLR0917
    """mmap(2) returning the address as an int."""
    if length <= 0:
        raise ValueError(f"mmap: bad length {length}")
    ptr = lib.mmap(ffi.cast("void *", addr), length, prot, flags, fd, offset)
    result = int(ffi.cast("uintptr_t", ptr))
    if result == _MAP_FAILED:
        check(-1, "mmap")
    return result


def munmap(addr: int, length: int) -> None:
    """munmap(2)."""
    check(int(lib.munmap(ffi.cast("void *", addr), length)), "munmap")


def mprotect(addr: int, length: int, prot: int) -> None:
    """mprotect(2)."""
    check(int(lib.mprotect(ffi.cast("void *", addr), length, prot)), "mprotect")
