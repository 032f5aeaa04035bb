"""Virtual memory areas: one contiguous range of an address space with one
set of attributes (Linux ``struct vm_area_struct``, gVisor ``mm.vma``)."""

from __future__ import annotations

from typing import NamedTuple

from sentry.abi.mm import PROT_EXEC, PROT_READ, PROT_WRITE
from sentry.mm.mappable import Mappable


class VMA:
    """A mapping ``[start, end)``. ``offset`` is the file offset of ``start``
    for file mappings. ``max_prot`` bounds mprotect (a shared mapping of a file
    opened read-only never becomes writable: mm/mmap.c VM_MAYWRITE)."""

    __slots__ = (
        "end",
        "growsdown",
        "mappable",
        "max_prot",
        "name",
        "offset",
        "prot",
        "shared",
        "start",
    )

    start: int
    end: int
    prot: int
    max_prot: int
    shared: bool
    mappable: Mappable | None
    offset: int
    name: str
    growsdown: bool

    def __init__(  # noqa: PLR0917 - positional, as the dataclass's were
        self,
        start: int,
        end: int,
        prot: int,
        max_prot: int,
        shared: bool,
        mappable: Mappable | None = None,
        offset: int = 0,
        name: str = "",
        growsdown: bool = False,
    ) -> None:
        self.start = start
        self.end = end
        self.prot = prot
        self.max_prot = max_prot
        self.shared = shared
        self.mappable = mappable
        self.offset = offset
        self.name = name
        self.growsdown = growsdown

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VMA) or other.__class__ is not self.__class__:
            return NotImplemented
        return (
            self.start,
            self.end,
            self.prot,
            self.max_prot,
            self.shared,
            self.mappable,
            self.offset,
            self.name,
            self.growsdown,
        ) == (
            other.start,
            other.end,
            other.prot,
            other.max_prot,
            other.shared,
            other.mappable,
            other.offset,
            other.name,
            other.growsdown,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable and compared by value

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{n}={getattr(self, n)!r}"
            for n in (
                "start",
                "end",
                "prot",
                "max_prot",
                "shared",
                "mappable",
                "offset",
                "name",
                "growsdown",
            )
        )
        return f"VMA({fields})"

    def slice(self, start: int, end: int) -> VMA:
        """A copy covering ``[start, end)`` of this one (offset adjusted)."""
        offset = self.offset + (start - self.start) if self.mappable is not None else 0
        return VMA(
            start,
            end,
            self.prot,
            self.max_prot,
            self.shared,
            self.mappable,
            offset,
            self.name,
            self.growsdown,
        )

    def copy(self) -> VMA:
        """An independent copy (a forked address space's own VMA)."""
        return VMA(
            self.start,
            self.end,
            self.prot,
            self.max_prot,
            self.shared,
            self.mappable,
            self.offset,
            self.name,
            self.growsdown,
        )

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
