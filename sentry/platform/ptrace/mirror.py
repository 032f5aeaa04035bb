"""The platform's record of what it mapped into a stub.

``mm`` owns the truth; this copy exists so the ptrace back end can (1) replay
mappings into a stub it starts lazily and (2) infer the access type of a
fault, which Linux does not report through ptrace (see ``infer_access``).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import NamedTuple

from sentry.hostsys.mm import PROT_EXEC, PROT_READ, PROT_WRITE
from sentry.platform import AccessType

#: SEGV_MAPERR / SEGV_ACCERR (include/uapi/asm-generic/siginfo.h).
SEGV_MAPERR = 1
SEGV_ACCERR = 2

#: The longest x86 instruction: a fetch fault lies within this of rip.
_MAX_INSN = 15


class Mapping(NamedTuple):
    """``[start, end)`` shows MemoryFile bytes from ``offset`` with ``prot``."""

    start: int
    end: int
    offset: int
    prot: int


class Mirror:
    """Non-overlapping mappings sorted by start address."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._maps: list[Mapping] = []

    def __iter__(self) -> Iterator[Mapping]:
        return iter(list(self._maps))

    def __len__(self) -> int:
        return len(self._maps)

    def find(self, addr: int) -> Mapping | None:
        """The mapping containing ``addr``, if any."""
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0 and self._maps[i].end > addr:
            return self._maps[i]
        return None

    def overlaps(self, start: int, end: int) -> bool:
        """Whether anything is mapped in ``[start, end)``."""
        i = bisect.bisect_left(self._starts, end) - 1
        return i >= 0 and self._maps[i].end > start

    def remove(self, start: int, end: int) -> None:
        """Forget ``[start, end)``, splitting mappings that straddle it."""
        i = max(bisect.bisect_right(self._starts, start) - 1, 0)
        keep: list[Mapping] = []
        j = i
        while j < len(self._maps) and self._maps[j].start < end:
            m = self._maps[j]
            if m.end <= start:
                keep.append(m)
            else:
                if m.start < start:
                    keep.append(Mapping(m.start, start, m.offset, m.prot))
                if m.end > end:
                    keep.append(Mapping(end, m.end, m.offset + (end - m.start), m.prot))
            j += 1
        self._maps[i:j] = keep
        self._starts[i:j] = [m.start for m in keep]

    def add(self, start: int, end: int, offset: int, prot: int) -> None:
        """Record a mapping, replacing whatever overlapped it."""
        self.remove(start, end)
        i = bisect.bisect_right(self._starts, start)
        self._maps.insert(i, Mapping(start, end, offset, prot))
        self._starts.insert(i, start)

    def write_protect(self, start: int, end: int) -> list[tuple[int, int, int]]:
        """Drop PROT_WRITE from the mappings in ``[start, end)`` (split at
        the edges) and return what the host must change: ``(start, end,
        prot)`` ranges, each fully mapped with one new protection, adjacent
        pieces merged so one mprotect covers them (gaps split ranges: the
        host's mprotect fails on holes)."""
        if not any(m.prot & PROT_WRITE for m in self._maps if m.start < end and m.end > start):
            return []
        for m in list(self._maps):
            if m.start < end and m.end > start and m.prot & PROT_WRITE:
                lo, hi = max(m.start, start), min(m.end, end)
                self.add(lo, hi, m.offset + (lo - m.start), m.prot & ~PROT_WRITE)
        out: list[tuple[int, int, int]] = []
        i = max(bisect.bisect_right(self._starts, start) - 1, 0)
        while i < len(self._maps) and self._maps[i].start < end:
            m = self._maps[i]
            i += 1
            lo, hi = max(m.start, start), min(m.end, end)
            if lo >= hi:
                continue
            if out and out[-1][1] == lo and out[-1][2] == m.prot:
                out[-1] = (out[-1][0], hi, m.prot)
            else:
                out.append((lo, hi, m.prot))
        return out

    def infer_access(self, addr: int, code: int, rip: int) -> AccessType:
        """Best guess of what a SIGSEGV at ``addr`` wanted.

        The page-fault error code (x86 PF_WRITE/PF_INSTR) reaches only a
        signal frame, never ptrace, so: a fault at (or just after) rip on a
        page we did not map executable is an EXECUTE; a permission fault on a
        readable page must be a WRITE; otherwise READ. A write to an unmapped
        page is therefore first reported as READ; once ``mm`` has mapped the
        page readable the retried write faults again and is reported as WRITE,
        so copy-on-write and SIGSEGV decisions still come out right.
        """
        m = self.find(addr)
        prot = m.prot if m is not None else 0
        if rip <= addr < rip + _MAX_INSN and not prot & PROT_EXEC:
            return AccessType.EXECUTE
        if code == SEGV_ACCERR and prot & PROT_READ and not prot & PROT_WRITE:
            return AccessType.WRITE
        return AccessType.READ
