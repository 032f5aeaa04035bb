"""Virtual memory areas: one contiguous range of an address space with one
set of attributes (Linux ``struct vm_area_struct``, gVisor ``mm.vma``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

from sentry.abi.mm import PROT_EXEC, PROT_READ, PROT_WRITE
from sentry.mm.mappable import Mappable


@dataclass(slots=True)
class VMA:
    """A mapping ``[start, end)``. ``offset`` is the file offset of ``start``
    for file mappings. ``max_prot`` bounds mprotect (a shared mapping of a file
    opened read-only never becomes writable: mm/mmap.c VM_MAYWRITE)."""

    start: int
    end: int
    prot: int
    max_prot: int
    shared: bool
    mappable: Mappable | None = None
    offset: int = 0
    name: str = ""
    growsdown: bool = False

    def slice(self, start: int, end: int) -> VMA:
        """A copy covering ``[start, end)`` of this one (offset adjusted)."""
        offset = self.offset + (start - self.start) if self.mappable is not None else 0
        return replace(self, start=start, end=end, offset=offset)

    def perms(self) -> str:
        """The ``rwxp`` column of /proc/PID/maps."""
        return (
            ("r" if self.prot & PROT_READ else "-")
            + ("w" if self.prot & PROT_WRITE else "-")
            + ("x" if self.prot & PROT_EXEC else "-")
            + ("s" if self.shared else "p")
        )


class VMARecord(NamedTuple):
    """One line of /proc/PID/maps (fs/proc/task_mmu.c show_map_vma)."""

    start: int
    end: int
    perms: str
    offset: int
    dev: int
    inode: int
    name: str
