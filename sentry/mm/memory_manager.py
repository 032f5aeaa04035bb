"""MemoryManager: one application address space (Linux ``struct mm_struct``,
gVisor ``mm.MemoryManager``).

It keeps the VMAs (what the application asked for) and the page table (which
MemoryFile page backs each populated application page), populates pages on
demand when the platform reports a fault, and mirrors them into the
platform's ``AddressSpace``. The Sentry reads and writes application memory
through the MemoryFile (``copy_in``/``copy_out``), never through the host.

Copy-on-write: a private page whose MemoryFile reference count is above one is
shared (after fork); it is mirrored read-only and copied on the first write.

Known differences from Linux (part 1): a page of a file mapping past the
end of the file reads as zeroes instead of raising SIGBUS; MAP_SHARED pages
are written back whole (up to the file size) on msync/munmap/exit rather
than tracked dirty; no mlock, no hugetlb, no address-space randomization.

Lock order: ``MemoryManager._lock`` then the MemoryFile's lock.
"""

from __future__ import annotations

import bisect
import errno
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence

from sentry.abi.errors import (
    EACCES,
    EEXIST,
    EFAULT,
    EINVAL,
    ENAMETOOLONG,
    ENOMEM,
    EOVERFLOW,
    LinuxError,
)
from sentry.abi.mm import (
    MADV_DONTNEED,
    MADV_FREE,
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_GROWSDOWN,
    MAP_SHARED,
    MREMAP_DONTUNMAP,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    MS_ASYNC,
    MS_INVALIDATE,
    MS_SYNC,
    PAGE_MASK,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_READ,
    PROT_RWX,
    PROT_WRITE,
)
from sentry.memory import MemoryFile, MemoryFileExhausted
from sentry.mm._runs import copy_in_present, copy_out_present, mirror_runs, present_runs
from sentry.mm.file_cache import SharedFileCache
from sentry.mm.mappable import Mappable
from sentry.mm.vma import VMA, VMARecord
from sentry.platform import AccessType, AddressSpace

#: Pages populated around a faulting page (gVisor's fault-around): one trap
#: and one platform mapping call instead of one per page.
FAULT_AROUND_PAGES = 16
#: The window for private file mappings (program text and data): a fault
#: costs a trap and an injected mmap (~100 us on ptrace) while reading 48
#: more pages of a cached file costs a few, so exec'ing busybox takes fewer
#: faults with a wider window (gVisor maps file ranges in large units too).
FILE_FAULT_AROUND_PAGES = 64
#: The window for program text (private, executable, not writable file
#: mappings): its pages come from the private file cache without a copy
#: (``private_cache``), so a fault maps up to 2 MiB of it in one call and
#: busybox's text takes one fault instead of seven.
TEXT_FAULT_AROUND_PAGES = 512

#: mprotect re-mirrors the present pages of ranges up to this size at once
#: (one injected mmap instead of a fault after it); larger ones on faults,
#: because walking them page by page would cost more than it saves.
EAGER_MPROTECT_PAGES = 16

#: Linux keeps this gap below a stack VMA free of new mappings
#: (mm/mmap.c stack_guard_gap, 256 pages).
STACK_GUARD_GAP = 256 * PAGE_SIZE

#: advice values madvise accepts and treats as hints (mm/madvise.c madvise_behavior_valid).
_MADV_HINTS = frozenset({0, 1, 2, 3, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21})

_IOVEC_MAX = 1024  # UIO_MAXIOV


class MemoryManager:
    """The VMAs and pages of one address space, bound to one platform
    ``AddressSpace`` (which it owns and releases)."""

    def __init__(
        self,
        memory_file: MemoryFile,
        address_space: AddressSpace,
        min_address: int,
        max_address: int,
        *,
        file_cache: SharedFileCache | None = None,
        stack_limit: int = 8 << 20,
    ) -> None:
        self.mf = memory_file
        self.address_space = address_space
        self.min_address = (min_address + PAGE_SIZE - 1) & PAGE_MASK
        self.max_address = max_address & PAGE_MASK
        self.file_cache = file_cache if file_cache is not None else SharedFileCache(memory_file)
        self.stack_limit = stack_limit
        self._lock = threading.RLock()
        self._vmas: list[VMA] = []
        self._starts: list[int] = []
        #: application page address -> MemoryFile offset of its page
        self._pages: dict[int, int] = {}
        # Top-down mmap allocation starts here (set by the loader below the stack).
        self.mmap_base = self.max_address
        self.brk_start = 0
        self.brk_end = 0
        # /proc/PID/cmdline and environ ranges (set by the loader).
        self.arg_start = self.arg_end = self.env_start = self.env_end = 0
        self.auxv: list[tuple[int, int]] = []

    # -- VMA bookkeeping ----------------------------------------------------

    def _find(self, addr: int) -> VMA | None:
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0:
            vma = self._vmas[i]
            if addr < vma.end:
                return vma
        return None

    def _find_or_grow(self, addr: int) -> VMA | None:
        """The VMA containing ``addr``, growing a stack VMA down to it when
        ``addr`` is just below one (mm/mmap.c expand_stack)."""
        vma = self._find(addr)
        if vma is not None:
            return vma
        i = bisect.bisect_right(self._starts, addr)
        if i >= len(self._vmas):
            return None
        above = self._vmas[i]
        if not above.growsdown:
            return None
        new_start = addr & PAGE_MASK
        if above.end - new_start > self.stack_limit:
            return None
        prev_end = self._vmas[i - 1].end if i > 0 else self.min_address
        if new_start < prev_end + STACK_GUARD_GAP or new_start < self.min_address:
            return None
        above.start = new_start
        self._starts[i] = new_start
        return above

    def _insert(self, vma: VMA) -> None:
        i = bisect.bisect_left(self._starts, vma.start)
        self._vmas.insert(i, vma)
        self._starts.insert(i, vma.start)

    @staticmethod
    def _mergeable(a: VMA, b: VMA) -> bool:
        # mm/mmap.c vma_merge: adjacent, same flags, same file at contiguous offsets.
        return (
            a.end == b.start
            and a.prot == b.prot
            and a.max_prot == b.max_prot
            and a.shared == b.shared
            and a.mappable is b.mappable
            and (a.mappable is None or b.offset == a.offset + (a.end - a.start))
            and a.name == b.name
            and not a.growsdown
            and not b.growsdown
        )

    def _merge_range(self, start: int, end: int) -> None:
        """Merge compatible neighbours from the VMA before ``start`` to the one
        at ``end``, so a range changed piecewise is one VMA again (mremap and
        /proc/PID/maps see what Linux shows)."""
        i = max(bisect.bisect_right(self._starts, start) - 2, 0)
        vmas, starts = self._vmas, self._starts
        while i + 1 < len(vmas) and vmas[i].start <= end:
            a, b = vmas[i], vmas[i + 1]
            if self._mergeable(a, b):
                a.end = b.end
                del vmas[i + 1]
                del starts[i + 1]
            else:
                i += 1

    def _overlaps(self, start: int, end: int) -> bool:
        i = bisect.bisect_left(self._starts, end) - 1
        return i >= 0 and self._vmas[i].end > start

    def _split_at(self, addr: int) -> None:
        """Make ``addr`` a VMA boundary if it falls inside one."""
        vma = self._find(addr)
        if vma is None or vma.start == addr:
            return
        i = bisect.bisect_left(self._starts, vma.start)
        upper = vma.slice(addr, vma.end)
        upper.growsdown = False
        self._vmas[i] = vma.slice(vma.start, addr)
        self._vmas.insert(i + 1, upper)
        self._starts.insert(i + 1, addr)

    def _covering(self, start: int, end: int) -> list[VMA]:
        """VMAs inside ``[start, end)`` after splitting at both ends; ENOMEM if
        any byte of the range is unmapped (mm/mprotect.c)."""
        self._split_at(start)
        self._split_at(end)
        i = bisect.bisect_left(self._starts, start)
        out: list[VMA] = []
        pos = start
        while i < len(self._vmas) and self._vmas[i].start < end:
            vma = self._vmas[i]
            if vma.start != pos:
                raise ENOMEM
            out.append(vma)
            pos = vma.end
            i += 1
        if pos < end:
            raise ENOMEM
        return out

    def _check_range(self, start: int, end: int) -> None:
        """ENOMEM unless ``[start, end)`` is fully mapped (no splitting)."""
        pos = start
        while pos < end:
            vma = self._find(pos)
            if vma is None:
                raise ENOMEM
            pos = vma.end

    def _remove_range(self, start: int, end: int, *, free_pages: bool = True) -> None:
        """Unmap ``[start, end)``: VMAs, pages and the platform mirror."""
        self._split_at(start)
        self._split_at(end)
        lo = bisect.bisect_left(self._starts, start)
        hi = bisect.bisect_left(self._starts, end)
        removed = self._vmas[lo:hi]
        if not removed:
            return
        for vma in removed:
            self._write_back(vma, vma.offset, vma.end - vma.start)
        del self._vmas[lo:hi]
        del self._starts[lo:hi]
        if free_pages:
            self._drop_pages(start, end)
        self.address_space.unmap(start, end - start)

    def _drop_pages(self, start: int, end: int) -> None:
        pages = self._pages
        if (end - start) // PAGE_SIZE <= len(pages):
            dropped = [pages.pop(p) for p in range(start, end, PAGE_SIZE) if p in pages]
        else:
            dropped = [pages.pop(p) for p in [p for p in pages if start <= p < end]]
        if dropped:
            self.mf.dec_ref_pages(dropped)

    def _write_back(self, vma: VMA, file_offset: int, length: int) -> None:
        # Only a shared mapping of a file opened for writing can change it.
        if vma.shared and vma.mappable is not None and vma.max_prot & PROT_WRITE:
            self.file_cache.writeback(vma.mappable, file_offset, length)

    # -- address selection ---------------------------------------------------

    def _free_range(self, start: int, length: int) -> bool:
        end = start + length
        return (
            self.min_address <= start
            and end <= self.max_address
            and end > start
            and not self._overlaps(start, end)
        )

    def find_unmapped(self, length: int, hint: int = 0) -> int:
        """An unmapped page-aligned range of ``length`` bytes: ``hint`` if it
        is free, else top-down from ``mmap_base`` (mm/mmap.c
        arch_get_unmapped_area_topdown), else bottom-up above it."""
        if hint and self._free_range(hint & PAGE_MASK, length):
            return hint & PAGE_MASK
        hi = self.mmap_base
        for vma in reversed(self._vmas):
            if vma.start >= hi:
                continue
            if vma.end <= hi and hi - vma.end >= length:
                return hi - length
            hi = min(hi, vma.start - (STACK_GUARD_GAP if vma.growsdown else 0))
            if hi < self.min_address:
                break
        if hi - self.min_address >= length:
            return hi - length
        lo = self.mmap_base
        for vma in self._vmas:
            if vma.end <= lo:
                continue
            if vma.start >= lo and vma.start - lo >= length:
                return lo
            lo = max(lo, vma.end)
        if self.max_address - lo >= length:
            return lo
        raise ENOMEM

    # -- mmap family -----------------------------------------------------------

    def mmap(
        self,
        addr: int,
        length: int,
        prot: int,
        flags: int,
        *,
        mappable: Mappable | None = None,
        offset: int = 0,
        max_prot: int = PROT_RWX,
        name: str = "",
    ) -> int:
        """Create a mapping (mm/mmap.c do_mmap); returns its address.

        The caller has validated the file (EACCES/ENODEV) and decided
        ``max_prot``; this checks sizes, alignment and placement."""
        if length <= 0:
            raise EINVAL
        if offset & ~PAGE_MASK:
            raise EINVAL
        if prot & ~PROT_RWX:
            raise EINVAL
        length = (length + PAGE_SIZE - 1) & PAGE_MASK
        if length == 0 or length > self.max_address:
            raise ENOMEM
        if mappable is not None and offset + length > 1 << 63:
            raise EOVERFLOW
        fixed = bool(flags & (MAP_FIXED | MAP_FIXED_NOREPLACE))
        with self._lock:
            if fixed:
                if addr & ~PAGE_MASK:
                    raise EINVAL
                if addr < self.min_address or addr + length > self.max_address:
                    raise ENOMEM
                if self._overlaps(addr, addr + length):
                    if flags & MAP_FIXED_NOREPLACE and not flags & MAP_FIXED:
                        raise EEXIST
                    self._remove_range(addr, addr + length)
            else:
                addr = self.find_unmapped(length, addr)
            vma = VMA(
                start=addr,
                end=addr + length,
                prot=prot,
                max_prot=max_prot,
                shared=bool(flags & MAP_SHARED),
                mappable=mappable,
                offset=offset if mappable is not None else 0,
                name=name,
                growsdown=bool(flags & MAP_GROWSDOWN),
            )
            self._insert(vma)
            self._merge_range(addr, addr + length)
            return addr

    def munmap(self, addr: int, length: int) -> None:
        """Remove mappings in the range (mm/mmap.c do_munmap); holes are fine."""
        if addr & ~PAGE_MASK or length <= 0:
            raise EINVAL
        end = addr + ((length + PAGE_SIZE - 1) & PAGE_MASK)
        if end > self.max_address or addr < self.min_address:
            raise EINVAL
        with self._lock:
            self._remove_range(addr, end)

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        """Change protections of a fully mapped range (mm/mprotect.c)."""
        if addr & ~PAGE_MASK:
            raise EINVAL
        if prot & ~PROT_RWX:
            raise EINVAL
        end = addr + ((length + PAGE_SIZE - 1) & PAGE_MASK)
        if end < addr:
            raise ENOMEM
        if end == addr:
            return
        with self._lock:
            self._check_range(addr, end)
            vmas = self._covering(addr, end)
            for vma in vmas:
                if prot & ~vma.max_prot:
                    raise EACCES
            for vma in vmas:
                vma.prot = prot
            self._merge_range(addr, end)
            self.address_space.unmap(addr, end - addr)
            if prot and end - addr <= EAGER_MPROTECT_PAGES * PAGE_SIZE:
                # A small range (RELRO after relocation, a JIT's page) is
                # used right away: mirror its present pages now with the
                # new protections, as the next fault would.
                pos = addr
                while pos < end:
                    part = self._find(pos)
                    if part is None:
                        break
                    stop = min(part.end, end)
                    self._mirror(part, pos, stop)
                    pos = stop
            # Otherwise lazily, on the next fault.

    def brk(self, addr: int) -> int:
        """Move the program break (mm/mmap.c brk); returns the new break, or
        the old one when the request cannot be met."""
        with self._lock:
            if addr < self.brk_start:
                return self.brk_end
            old_top = (self.brk_end + PAGE_SIZE - 1) & PAGE_MASK
            new_top = (addr + PAGE_SIZE - 1) & PAGE_MASK
            if new_top > old_top:
                if new_top > self.max_address or self._overlaps(old_top, new_top + PAGE_SIZE):
                    return self.brk_end
                heap = self._find(old_top - PAGE_SIZE) if old_top > self.brk_start else None
                if heap is not None and heap.name == "[heap]" and heap.end == old_top:
                    heap.end = new_top
                else:
                    heap = VMA(old_top, new_top, PROT_READ | PROT_WRITE, PROT_RWX, False)
                    heap.name = "[heap]"
                    self._insert(heap)
                    self._merge_range(old_top, new_top)
            elif new_top < old_top:
                self._remove_range(new_top, old_top)
            self.brk_end = addr
            return addr

    def mremap(self, old_addr: int, old_len: int, new_len: int, flags: int, new_addr: int) -> int:
        """Resize and/or move a mapping (mm/mremap.c)."""
        if flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP):
            raise EINVAL
        if flags & (MREMAP_FIXED | MREMAP_DONTUNMAP) and not flags & MREMAP_MAYMOVE:
            raise EINVAL
        if flags & MREMAP_DONTUNMAP:
            raise EINVAL  # not supported: gVisor also refuses it for most mappings
        if old_addr & ~PAGE_MASK:
            raise EINVAL
        old_len = (old_len + PAGE_SIZE - 1) & PAGE_MASK
        new_len = (new_len + PAGE_SIZE - 1) & PAGE_MASK
        if new_len == 0:
            raise EINVAL
        with self._lock:
            vma = self._find(old_addr)
            if vma is None:
                raise EFAULT
            if old_len == 0:
                # Duplicating a mapping only works for shared ones (mm/mremap.c).
                raise EINVAL
            if old_addr + old_len > vma.end:
                raise EFAULT
            if flags & MREMAP_FIXED:
                if new_addr & ~PAGE_MASK:
                    raise EINVAL
                if new_addr < old_addr + old_len and old_addr < new_addr + new_len:
                    raise EINVAL
                if new_addr < self.min_address or new_addr + new_len > self.max_address:
                    raise EINVAL
                self._remove_range(new_addr, new_addr + new_len)
                return self._move(old_addr, old_len, new_len, new_addr)
            if new_len <= old_len:
                if new_len < old_len:
                    self._remove_range(old_addr + new_len, old_addr + old_len)
                return old_addr
            # Grow in place when the VMA ends the range and the space after is free.
            if old_addr + old_len == vma.end and self._free_range(vma.end, new_len - old_len):
                vma.end = old_addr + new_len
                return old_addr
            if not flags & MREMAP_MAYMOVE:
                raise ENOMEM
            return self._move(old_addr, old_len, new_len, self.find_unmapped(new_len))

    def _move(self, old_addr: int, old_len: int, new_len: int, new_addr: int) -> int:
        self._split_at(old_addr)
        self._split_at(old_addr + old_len)
        src = self._find(old_addr)
        assert src is not None
        moved = src.slice(new_addr, new_addr + new_len)
        if src.mappable is not None:
            moved.offset = src.offset
        keep = min(old_len, new_len)
        pages = self._pages
        moving = {
            page: pages.pop(page)
            for page in range(old_addr, old_addr + keep, PAGE_SIZE)
            if page in pages
        }
        self._remove_range(old_addr, old_addr + old_len)
        self._insert(moved)
        self._merge_range(new_addr, new_addr + new_len)
        delta = new_addr - old_addr
        for page, offset in moving.items():
            pages[page + delta] = offset
        return new_addr

    def madvise(self, addr: int, length: int, advice: int) -> None:
        """mm/madvise.c: DONTNEED/FREE drop pages (private pages read back as
        zero or file data); the other valid advice values are hints."""
        if addr & ~PAGE_MASK:
            raise EINVAL
        end = addr + ((length + PAGE_SIZE - 1) & PAGE_MASK)
        if end < addr:
            raise EINVAL
        if advice not in _MADV_HINTS and advice not in (MADV_DONTNEED, MADV_FREE):
            raise EINVAL
        if end == addr:
            return
        with self._lock:
            self._check_range(addr, end)
            if advice in (MADV_DONTNEED, MADV_FREE):
                self._drop_pages(addr, end)
                self.address_space.unmap(addr, end - addr)

    def msync(self, addr: int, length: int, flags: int) -> None:
        """Write shared file pages back (mm/msync.c)."""
        if addr & ~PAGE_MASK:
            raise EINVAL
        if flags & ~(MS_ASYNC | MS_INVALIDATE | MS_SYNC) or (flags & MS_ASYNC and flags & MS_SYNC):
            raise EINVAL
        end = addr + ((length + PAGE_SIZE - 1) & PAGE_MASK)
        with self._lock:
            self._check_range(addr, end)
            pos = addr
            while pos < end:
                vma = self._find(pos)
                assert vma is not None
                stop = min(end, vma.end)
                self._write_back(vma, vma.offset + (pos - vma.start), stop - pos)
                pos = stop

    def mlock(self, addr: int, length: int) -> None:
        """mlock(2)'s checks (mm/mlock.c): every page must be mapped. Pages
        of the MemoryFile are never swapped by the Sentry, so locking them
        changes nothing else."""
        end = ((addr + length + PAGE_SIZE - 1) & PAGE_MASK) if length else addr
        start = addr & PAGE_MASK
        if end < start:
            raise EINVAL
        with self._lock:
            self._check_range(start, end)

    def mincore(self, addr: int, length: int) -> bytes:
        """One byte per page, 1 if resident (mm/mincore.c)."""
        if addr & ~PAGE_MASK:
            raise EINVAL
        end = addr + ((length + PAGE_SIZE - 1) & PAGE_MASK)
        with self._lock:
            self._check_range(addr, end)
            pages = self._pages
            return bytes(1 if p in pages else 0 for p in range(addr, end, PAGE_SIZE))

    # -- faults and population ----------------------------------------------

    @staticmethod
    def _allowed(vma: VMA, write: bool, execute: bool) -> bool:
        # arch/x86/mm/fault.c access_error: a write needs VM_WRITE, any other
        # access needs one of read/write/exec; we also require exec for fetches.
        if write:
            return bool(vma.prot & PROT_WRITE)
        if execute:
            return bool(vma.prot & PROT_EXEC)
        return bool(vma.prot & PROT_RWX)

    def _populate(self, vma: VMA, start: int, end: int) -> None:
        """Give every page of ``[start, end)`` (inside ``vma``) a MemoryFile page."""
        pages = self._pages
        mf = self.mf
        if vma.shared and vma.mappable is not None:
            for page in range(start, end, PAGE_SIZE):
                if page not in pages:
                    pages[page] = self.file_cache.page(
                        vma.mappable, vma.offset + (page - vma.start)
                    )
            return
        page = start
        while page < end:
            if page in pages:
                page += PAGE_SIZE
                continue
            run_end = page + PAGE_SIZE
            while run_end < end and run_end not in pages:
                run_end += PAGE_SIZE
            n = (run_end - page) // PAGE_SIZE
            if vma.mappable is not None and not vma.prot & PROT_WRITE:
                # Not writable: the file's cached pages, shared copy-on-write.
                runs = self.file_cache.private_runs(
                    vma.mappable, vma.offset + (page - vma.start), n
                )
                if runs is not None:
                    for offset, k in runs:
                        pages.update(
                            zip(
                                range(page, page + k * PAGE_SIZE, PAGE_SIZE),
                                range(offset, offset + k * PAGE_SIZE, PAGE_SIZE),
                                strict=True,
                            )
                        )
                        page += k * PAGE_SIZE
                    continue
            try:
                offset = mf.allocate(n)
            except MemoryFileExhausted as exc:
                raise ENOMEM from exc
            if vma.mappable is not None:
                file_offset = vma.offset + (page - vma.start)
                read_into = getattr(vma.mappable, "read_into", None)
                if read_into is not None:
                    # Straight into the MemoryFile: no intermediate bytes.
                    read_into(file_offset, mf.view(offset, run_end - page))
                else:
                    data = vma.mappable.read_at(file_offset, run_end - page)
                    if data:
                        mf.view(offset, len(data))[:] = data
            for i in range(n):
                pages[page + i * PAGE_SIZE] = offset + i * PAGE_SIZE
            page = run_end

    def _others_exclusive(self, vma: VMA, start: int, end: int, page: int) -> bool:
        """Whether a page of ``[start, end)`` other than ``page`` is present,
        private, writable and ours alone (mirrored read-only by fork's
        write protection but no longer shared)."""
        if vma.shared or not vma.prot & PROT_WRITE:
            return False
        pages = self._pages
        refcount = self.mf.refcount
        for p in range(start, end, PAGE_SIZE):
            if p != page:
                offset = pages.get(p)
                if offset is not None and refcount(offset) == 1:
                    return True
        return False

    def _break_cow_window(self, vma: VMA, start: int, end: int) -> None:
        """Give every shared page of ``[start, end)`` (a private VMA) its own
        copy, the copies consecutive in the MemoryFile. Best effort: when
        the MemoryFile cannot hold the copies nothing changes (a read must
        not fail for lack of memory; a later write copies its page)."""
        pages = self._pages
        mf = self.mf
        shared = [
            p for p in range(start, end, PAGE_SIZE) if p in pages and mf.refcount(pages[p]) > 1
        ]
        if not shared:
            return
        try:
            fresh = mf.allocate(len(shared))
        except MemoryFileExhausted:
            return
        for i, p in enumerate(shared):
            old = pages[p]
            mf.view(fresh + i * PAGE_SIZE, PAGE_SIZE)[:] = mf.view(old, PAGE_SIZE)
            mf.dec_ref(old)
            pages[p] = fresh + i * PAGE_SIZE

    def _break_cow(self, vma: VMA, page: int) -> int:
        """Give ``page`` its own copy if it is shared copy-on-write."""
        offset = self._pages[page]
        if vma.shared or self.mf.refcount(offset) == 1:
            return offset
        fresh = self.mf.allocate(1)
        self.mf.view(fresh, PAGE_SIZE)[:] = self.mf.view(offset, PAGE_SIZE)
        self.mf.dec_ref(offset)
        self._pages[page] = fresh
        return fresh

    def _mirror(self, vma: VMA, start: int, end: int) -> None:
        """Map populated pages of ``[start, end)`` into the platform, one call
        per run of contiguous MemoryFile pages with equal protection (shared
        pages of a writable private mapping without write access: copy-on-
        write). The runs are computed in C (``_runs.mirror_runs``)."""
        prot = vma.prot
        cow_check = not vma.shared and prot & PROT_WRITE
        shared = self.mf.shared_pages if cow_check else None
        for addr, length, offset, cow in mirror_runs(self._pages, start, end, shared):
            self._map(addr, length, offset, prot & ~PROT_WRITE if cow else prot)

    def populate_image(self, entry: int) -> None:
        """After exec's loader: populate the fault-around window of each
        mapping it made that a new program touches at once: the text
        window holding ``entry`` and the first window of every other
        accessible mapping (data, bss, read-only data, the interpreter's).
        ``mirror_populated`` then maps them with the stack before the
        first instruction: each is a platform call now instead of a trap
        and a fault later (busybox: 8 faults after exec, then 4). The
        stack is left alone: the loader populated what it wrote."""
        with self._lock:
            for vma in list(self._vmas):
                if vma.growsdown or not vma.prot & (PROT_READ | PROT_EXEC):
                    continue
                page = entry & PAGE_MASK if vma.start <= entry < vma.end else vma.start
                start, end = self._window(vma, page)
                self._populate(vma, start, end)

    def mirror_populated(self) -> None:
        """Mirror every populated page now (after exec's loader wrote the
        stack and the data segment's tail): the first switch of a new
        address space maps them (on ptrace, replayed when its stub starts)
        instead of the program faulting on each window of them."""
        with self._lock:
            run_start = run_end = -1
            vma: VMA | None = None
            for page in sorted(self._pages):
                if vma is not None and page == run_end and page < vma.end:
                    run_end += PAGE_SIZE
                    continue
                if vma is not None:
                    self._mirror(vma, run_start, run_end)
                vma = self._find(page)
                run_start, run_end = page, page + PAGE_SIZE
            if vma is not None:
                self._mirror(vma, run_start, run_end)

    def _map(self, addr: int, length: int, offset: int, prot: int) -> None:
        """Mirror one run. The host may refuse with ENOMEM when the sandbox's
        memory cgroup is full (the stub's page tables are charged there):
        that is the application running out of memory, not a Sentry bug, so
        it surfaces as ENOMEM (a fault then SIGKILLs the task, as Linux's OOM
        killer would)."""
        try:
            self.address_space.map_file(addr, length, offset, prot)
        except OSError as exc:
            if exc.errno in (errno.ENOMEM, errno.EAGAIN):
                raise ENOMEM(f"host refused to map {length:#x} bytes at {addr:#x}") from exc
            raise

    @staticmethod
    def _window(vma: VMA, page: int) -> tuple[int, int]:
        """The fault-around window of ``page`` (inside ``vma``)."""
        if vma.mappable is None or vma.shared:
            pages = FAULT_AROUND_PAGES
        elif vma.prot & (PROT_EXEC | PROT_WRITE) == PROT_EXEC and hasattr(
            vma.mappable, "content_stamp"
        ):
            pages = TEXT_FAULT_AROUND_PAGES
        else:
            pages = FILE_FAULT_AROUND_PAGES
        span = pages * PAGE_SIZE
        start = max(vma.start, page - (page - vma.start) % span)
        return start, min(vma.end, start + span)

    def handle_fault(self, addr: int, access: AccessType) -> bool:
        """Resolve an application fault: populate and mirror, or return False
        when the VMA forbids the access (the task gets SIGSEGV)."""
        write = bool(access & AccessType.WRITE)
        execute = bool(access & AccessType.EXECUTE)
        with self._lock:
            if not self.min_address <= addr < self.max_address:
                return False
            vma = self._find_or_grow(addr)
            if vma is None or not self._allowed(vma, write, execute):
                return False
            page = addr & PAGE_MASK
            start, end = self._window(vma, page)
            if page in self._pages:
                # Present but not mirrored (a fork child, a parent whose
                # writable mirrors fork dropped) or copy-on-write: mirror the
                # whole window's present pages, as Linux's fault-around maps
                # what the page cache already holds, so a fork child pays one
                # fault per window instead of one per page.
                if write:
                    self._break_cow(vma, page)
                    if self.address_space.write_faults_imply_mapped and not (
                        self._others_exclusive(vma, start, end, page)
                    ):
                        # The window is mirrored already (the write hit a
                        # page mapped read-only) and its other pages are
                        # still shared: only this page changed.
                        self._mirror(vma, page, page + PAGE_SIZE)
                        return True
                    # Otherwise remap the window: pages whose other owner
                    # went away since fork (the child exited or exec'd) are
                    # writable again without a fault each.
                elif not execute and not vma.shared and vma.prot & PROT_WRITE:
                    # A read of copy-on-write pages in writable private
                    # memory (data, heap, stack of a fork child) is nearly
                    # always followed by writes to them; copying the
                    # window's shared pages now, into one contiguous run,
                    # saves those faults and maps the window in one call
                    # (the copies are what the writes would see).
                    self._break_cow_window(vma, start, end)
                self._mirror(vma, start, end)
                return True
            if vma.growsdown:
                start, end = page, min(vma.end, page + PAGE_SIZE)
            self._populate(vma, start, end)
            self._mirror(vma, start, end)
            return True

    # -- copy-in / copy-out ----------------------------------------------------

    def _page_offset(self, page: int, write: bool, force: bool) -> int:
        """MemoryFile offset of application ``page``, populated; EFAULT if the
        access is not allowed (``force`` ignores protections, as the loader
        and ptrace's access_process_vm do)."""
        offset = self._pages.get(page)
        vma = self._find_or_grow(page) if self.min_address <= page < self.max_address else None
        if vma is None:
            raise EFAULT
        if not force and not (vma.prot & (PROT_WRITE if write else (PROT_READ | PROT_WRITE))):
            raise EFAULT
        if offset is None:
            self._populate(vma, page, page + PAGE_SIZE)
            offset = self._pages[page]
        elif write and not vma.shared and self.mf.refcount(offset) > 1:
            offset = self._break_cow(vma, page)
            self.address_space.unmap(page, PAGE_SIZE)
        return offset

    def _runs(self, addr: int, n: int, write: bool, force: bool) -> list[tuple[int, int]]:
        """The MemoryFile ranges (offset, length) backing ``[addr, addr+n)``,
        contiguous pieces merged, populated (and copy-on-write broken for a
        write) on the way; EFAULT at the first page not allowed.

        One VMA lookup per VMA rather than per page: a 64 KiB pipe read or
        write is 16 pages, and per-page lookups were most of its cost."""
        runs: list[tuple[int, int]] = []
        pages = self._pages
        mf = self.mf
        pos = addr
        end = addr + n
        need = PROT_WRITE if write else (PROT_READ | PROT_WRITE)
        fast = self._fast_runs(addr, n, write, force, need)
        if fast is not None:
            return fast
        while pos < end:
            vma = (
                self._find_or_grow(pos & PAGE_MASK)
                if self.min_address <= pos < self.max_address
                else None
            )
            if vma is None or (not force and not vma.prot & need):
                raise EFAULT
            stop = min(end, vma.end)
            cow = write and not vma.shared
            while pos < stop:
                page = pos & PAGE_MASK
                offset = pages.get(page)
                if offset is None:
                    self._populate(vma, page, min(vma.end, (stop + PAGE_SIZE - 1) & PAGE_MASK))
                    offset = pages[page]
                elif cow and mf.refcount(offset) > 1:
                    offset = self._break_cow(vma, page)
                    self.address_space.unmap(page, PAGE_SIZE)
                take = min(stop, page + PAGE_SIZE) - pos
                start = offset + (pos - page)
                if runs and runs[-1][0] + runs[-1][1] == start:
                    runs[-1] = (runs[-1][0], runs[-1][1] + take)
                else:
                    runs.append((start, take))
                pos += take
        return runs

    def _fast_runs(
        self, addr: int, n: int, write: bool, force: bool, need: int
    ) -> list[tuple[int, int]] | None:
        """``_runs`` for the usual buffer of a pipe or socket transfer: no
        hole, every page present and (for a write) none copy-on-write. The
        VMAs are checked here, the pages looked up and merged in C
        (``_runs.present_runs``). None sends the caller to the general walk
        (which populates pages and raises the errors)."""
        private = self._covered(addr, n, force, need)
        if private is None:
            return None
        shared = self.mf.shared_pages if write and private else None
        return present_runs(self._pages, addr, n, shared)

    def _covered(self, addr: int, n: int, force: bool, need: int) -> bool | None:
        """Whether VMAs allowing ``need`` (any, with ``force``) cover
        ``[addr, addr+n)`` without a hole: None if not, else whether one of
        them is private (a write there may have to break copy-on-write)."""
        first = addr & PAGE_MASK
        end = addr + n
        if not self.min_address <= first < self.max_address:
            return None
        # The VMAs covering the range, without holes (a static buffer often
        # straddles the file-backed and anonymous parts of a data segment).
        vma = self._find(first)
        private = False
        while True:
            if vma is None or not (force or vma.prot & need):
                return None
            private = private or not vma.shared
            if vma.end >= end:
                return private
            following = self._find(vma.end)
            if following is None or following.start != vma.end:
                return None
            vma = following

    def copy_in(self, addr: int, n: int, *, force: bool = False) -> bytes:
        """``n`` bytes of application memory at ``addr``; EFAULT on a bad address."""
        if n <= 0:
            if n < 0:
                raise EFAULT
            return b""
        if addr < 0 or addr + n > self.max_address:
            raise EFAULT
        with self._lock:
            mf = self.mf
            in_page = addr & ~PAGE_MASK
            if in_page + n <= PAGE_SIZE:
                offset = self._page_offset(addr - in_page, False, force)
                return bytes(mf.view(offset + in_page, n))
            if self._covered(addr, n, force, PROT_READ | PROT_WRITE) is not None:
                data = copy_in_present(self._pages, addr, n, mf.memory)
                if data is not None:
                    return data
            runs = self._runs(addr, n, False, force)
            if len(runs) == 1:
                return bytes(mf.view(*runs[0]))
            return b"".join([mf.view(off, length) for off, length in runs])  # one copy

    def futex_key(self, addr: int, *, private: bool) -> Hashable:
        """What identifies the futex word at ``addr`` (kernel/futex/core.c
        get_futex_key): this mm and the address for a private futex or a word
        in private memory; the backing MemoryFile offset for a shared futex in
        a MAP_SHARED mapping, so processes sharing the page meet. EFAULT if
        ``addr`` is not mapped."""
        if private:
            # Linux does not look at the memory for a private key either.
            return (self, addr)
        if addr < self.min_address or addr + 4 > self.max_address:
            raise EFAULT
        with self._lock:
            vma = self._find_or_grow(addr)
            if vma is None:
                raise EFAULT
            if not vma.shared:
                return (self, addr)
            page = addr & PAGE_MASK
            return ("shared", self._page_offset(page, False, True) + (addr - page))

    def update_u32(self, addr: int, update: Callable[[int], int]) -> int:
        """Replace the aligned 32-bit word at ``addr`` by ``update(old)`` under
        this mm's lock; returns the old value (EFAULT if not writable).

        Atomic against the Sentry's other accesses, not against application
        threads doing their own atomics on the word at the same instant
        (Linux uses a locked cmpxchg); callers are futex paths where the
        word's owner is the caller or dead."""
        if addr & 3:
            raise EINVAL
        if addr < 0 or addr + 4 > self.max_address:
            raise EFAULT
        with self._lock:
            page = addr & PAGE_MASK
            offset = self._page_offset(page, True, False) + (addr - page)
            view = self.mf.view(offset, 4)
            old = int.from_bytes(view, "little")
            view[:] = (update(old) & 0xFFFFFFFF).to_bytes(4, "little")
            return old

    def copy_out(
        self, addr: int, data: bytes | bytearray | memoryview, *, force: bool = False
    ) -> None:
        """Write ``data`` to application memory at ``addr``; EFAULT on a bad address.

        Like Linux's copy_to_user, bytes before a bad page are written before
        EFAULT is raised (pages are resolved first, so only whole runs land)."""
        if data.__class__ is memoryview and (data.itemsize != 1 or not data.c_contiguous):
            data = memoryview(bytes(data))  # len() must count bytes
        n = len(data)
        if n == 0:
            return
        if addr < 0 or addr + n > self.max_address:
            raise EFAULT
        with self._lock:
            mf = self.mf
            in_page = addr & ~PAGE_MASK
            if in_page + n <= PAGE_SIZE:
                offset = self._page_offset(addr - in_page, True, force)
                mf.view(offset + in_page, n)[:] = data
                return
            private = self._covered(addr, n, force, PROT_WRITE)
            if private is not None:
                shared = mf.shared_pages if private else None
                try:
                    if copy_out_present(self._pages, addr, data, mf.memory, shared):
                        return
                except (ValueError, TypeError):
                    pass  # not a flat byte buffer: the general path copes
            try:
                runs = self._runs(addr, n, True, force)
                fault = None
            except LinuxError as exc:
                # Write what precedes the bad page, then report it.
                runs = self._runs_before_fault(addr, n, force)
                fault = exc
            src = memoryview(data).cast("B")
            done = 0
            for off, length in runs:
                mf.view(off, length)[:] = src[done : done + length]
                done += length
            if fault is not None:
                raise fault

    def _runs_before_fault(self, addr: int, n: int, force: bool) -> list[tuple[int, int]]:
        """The writable runs of ``[addr, addr+n)`` up to the first bad page."""
        good = 0
        pos = addr
        end = addr + n
        while pos < end:
            page = pos & PAGE_MASK
            take = min(end, page + PAGE_SIZE) - pos
            try:
                self._page_offset(page, True, force)
            except LinuxError:
                break
            good += take
            pos += take
        return self._runs(addr, good, True, force) if good else []

    def zero_out(self, addr: int, n: int, *, force: bool = False) -> None:
        """Write ``n`` zero bytes at ``addr``."""
        self.copy_out(addr, bytes(n), force=force)

    def copy_in_string(self, addr: int, maxlen: int = 4096) -> bytes:
        """A NUL-terminated string at ``addr`` without the NUL; ENAMETOOLONG if
        no NUL within ``maxlen`` bytes (fs/namei.c getname), EFAULT if unmapped."""
        with self._lock:
            return self._string(addr, maxlen, {})

    def copy_in_strings(self, addrs: list[int], maxlen: int = 4096) -> list[bytes]:
        """``copy_in_string`` of each address under one lock, each page
        looked up once: execve's argv and envp are often forty strings on
        one or two pages. Errors as ``copy_in_string``'s, for the first
        string that has one."""
        offsets: dict[int, int] = {}
        with self._lock:
            return [self._string(addr, maxlen, offsets) for addr in addrs]

    def _string(self, addr: int, maxlen: int, offsets: dict[int, int]) -> bytes:
        """``copy_in_string`` with the lock held; ``offsets`` remembers the
        MemoryFile offset of pages already looked up (reads move no page)."""
        out = bytearray()
        pos = addr
        while len(out) < maxlen:
            if pos < 0 or pos >= self.max_address:
                raise EFAULT
            page = pos & PAGE_MASK
            take = min(page + PAGE_SIZE - pos, maxlen - len(out))
            base = offsets.get(page)
            if base is None:
                base = offsets[page] = self._page_offset(page, False, False)
            offset = base + (pos - page)
            nul = self.mf.find_nul(offset, take)
            if nul >= 0:
                if not out:
                    return bytes(self.mf.view(offset, nul))
                out += self.mf.view(offset, nul)
                return bytes(out)
            out += self.mf.view(offset, take)
            pos += take
        raise ENAMETOOLONG

    def copy_in_iovecs(self, addr: int, count: int) -> list[tuple[int, int]]:
        """``count`` ``struct iovec`` at ``addr`` as (base, length) pairs
        (lib/iov_iter.c: EINVAL for a bad count or a negative total)."""
        if count < 0 or count > _IOVEC_MAX:
            raise EINVAL
        raw = self.copy_in(addr, 16 * count)
        out = []
        total = 0
        for i in range(count):
            base = int.from_bytes(raw[16 * i : 16 * i + 8], "little")
            length = int.from_bytes(raw[16 * i + 8 : 16 * i + 16], "little")
            if length >= 1 << 63:
                raise EINVAL
            total += length
            if total >= 1 << 63:
                raise EINVAL
            out.append((base, length))
        return out

    # -- fork -------------------------------------------------------------------

    def fork(self, address_space: AddressSpace, hot: Sequence[int] = ()) -> MemoryManager:
        """A copy of this address space for a child (kernel/fork.c dup_mmap).

        Private pages become shared copy-on-write: both sides hold a
        reference and mirror them read-only until one writes (handle_fault
        or copy_out then copies). Shared mappings keep sharing their pages.
        The parent's writable private mirrors lose write access
        (``AddressSpace.write_protect``) so its next write faults too.

        ``hot`` are addresses both sides touch right after the fork (the
        caller's stack pointer, TLS base and instruction pointer). Their
        fault-around windows cost a fault on each side otherwise: the
        child mirrors them now (one platform call each, against a trap
        and a fault), and in writable private memory the child gets its
        own copies of the window's pages, so the parent's stay its own and
        writable (a copy of a few pages, against a copy-on-write fault on
        the parent's next push)."""
        with self._lock:
            # Shared anonymous memory is one set of pages for both sides:
            # give every page of it a MemoryFile page now, or a page first
            # touched after the fork would be private to whoever touched it
            # (Linux backs these mappings with one shmem file).
            for vma in self._vmas:
                if vma.shared and vma.mappable is None:
                    self._populate(vma, vma.start, vma.end)  # ENOMEM when full
            child = MemoryManager(
                self.mf,
                address_space,
                self.min_address,
                self.max_address,
                file_cache=self.file_cache,
                stack_limit=self.stack_limit,
            )
            child._vmas = [vma.copy() for vma in self._vmas]
            child._starts = list(self._starts)
            child._pages = dict(self._pages)
            self.mf.inc_ref_pages(self._pages.values())
            for attr in (
                "mmap_base", "brk_start", "brk_end", "arg_start", "arg_end", "env_start",
                "env_end",
            ):  # fmt: skip
                setattr(child, attr, getattr(self, attr))
            child.auxv = list(self.auxv)
            try:
                kept = child._take_hot_windows(hot)
            except BaseException:
                child.release()
                raise
            for vma in self._vmas:
                if not vma.shared and vma.prot & PROT_WRITE:
                    for start, end in _without(vma.start, vma.end, kept):
                        self.address_space.write_protect(start, end - start)
            return child

    def _take_hot_windows(self, hot: Sequence[int]) -> list[tuple[int, int]]:
        """In a fork child: mirror the fault-around windows of ``hot``,
        first copying the shared pages of those in writable private memory;
        returns those windows whose pages are now the parent's alone."""
        kept: list[tuple[int, int]] = []
        for addr in hot:
            vma = self._find(addr) if self.min_address <= addr < self.max_address else None
            if vma is None:
                continue
            page = addr & PAGE_MASK
            start, end = self._window(vma, page)
            if (start, end) in kept:
                continue
            if end - start > FAULT_AROUND_PAGES * PAGE_SIZE:
                # Program text: the pages around the instruction pointer,
                # not the 2 MiB a fault maps (a child that execs needs few).
                span = FAULT_AROUND_PAGES * PAGE_SIZE
                start = max(vma.start, page - (page - vma.start) % span)
                end = min(vma.end, start + span)
            if not vma.shared and vma.prot & PROT_WRITE:
                self._break_cow_window(vma, start, end)
                pages, refcount = self._pages, self.mf.refcount
                if all(refcount(pages[p]) == 1 for p in range(start, end, PAGE_SIZE) if p in pages):
                    kept.append((start, end))
            self._mirror(vma, start, end)
        return kept

    # -- introspection and teardown -------------------------------------------

    def vmas(self) -> Iterator[VMARecord]:
        """Records for /proc/PID/maps, lowest address first."""
        with self._lock:
            snapshot = list(self._vmas)
        for vma in snapshot:
            dev = inode = 0
            name = vma.name
            if vma.mappable is not None:
                dev, inode = vma.mappable.map_ids()
                name = name or vma.mappable.map_name()
            yield VMARecord(vma.start, vma.end, vma.perms(), vma.offset, dev, inode, name)

    def vma_at(self, addr: int) -> VMA | None:
        """The VMA containing ``addr`` (tests and /proc)."""
        with self._lock:
            return self._find(addr)

    def resident_pages(self) -> int:
        """Populated application pages (for /proc and sysinfo)."""
        return len(self._pages)

    def release(self) -> None:
        """Write back shared file pages, free every page and the platform
        address space. Idempotent."""
        with self._lock:
            for vma in self._vmas:
                self._write_back(vma, vma.offset, vma.end - vma.start)
            self._vmas.clear()
            self._starts.clear()
            self.mf.dec_ref_pages(self._pages.values())
            self._pages.clear()
        self.address_space.release()


def _without(start: int, end: int, holes: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """``[start, end)`` less the ``holes`` inside it, as ascending ranges."""
    pos = start
    for hole_start, hole_end in sorted(holes):
        if hole_end <= pos or hole_start >= end:
            continue
        if hole_start > pos:
            yield pos, hole_start
        pos = max(pos, hole_end)
    if pos < end:
        yield pos, end
