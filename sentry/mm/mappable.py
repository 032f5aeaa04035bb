"""The ``Mappable`` protocol: what a file must offer to be mmap'ed.

gVisor's ``memmap.Mappable`` hands out host file ranges; here every page of
application memory lives in the MemoryFile, so a mappable only needs to read
and write its bytes: ``mm`` copies file data into MemoryFile pages on fault
(private mappings) or keeps one shared copy per file and writes it back on
msync/munmap (shared mappings)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Mappable(Protocol):
    """A file that can back a memory mapping (the vfs files implement it).

    A mappable may also offer ``read_into(offset, buf: memoryview) -> int``
    (fill ``buf``, short at end of file): mm then reads file pages straight
    into the MemoryFile instead of through an intermediate ``bytes``."""

    def read_at(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset``; short at end of file."""
        ...

    def write_at(self, offset: int, data: bytes) -> int:
        """Write ``data`` at ``offset``; returns the byte count written."""
        ...

    def size(self) -> int:
        """Current file size in bytes."""
        ...

    def map_name(self) -> str:
        """The path shown in /proc/PID/maps."""
        ...

    def map_ids(self) -> tuple[int, int]:
        """(device, inode) shown in /proc/PID/maps and used to share pages."""
        ...
