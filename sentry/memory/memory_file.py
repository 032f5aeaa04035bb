"""MemoryFile: a large sparse memfd, a page-range allocator with reference
counts (for copy-on-write) and the Sentry's own MAP_SHARED mapping of it."""

from __future__ import annotations

import bisect
import mmap
import os
import threading
from collections.abc import Iterable

from sentry.abi.mm import PAGE_SIZE
from sentry.memory._refcounts import add_refs, drop_refs, page_indices

#: Default size of the file. It is sparse: only pages written cost memory,
#: and memfd mappings are not charged to overcommit (mm/shmem.c, VM_NORESERVE).
DEFAULT_SIZE = 1 << 36
#: Freed pages kept resident for reuse (``MemoryFile._free_run``): 8 MiB.
DEFAULT_CACHE_PAGES = 2048
_ZEROES = memoryview(bytes(1 << 20))


class MemoryFileExhausted(Exception):
    """No free range of the requested size is left (the kernel turns this into ENOMEM)."""


class MemoryFile:
    """One memfd holding every page of application memory.

    Pages are handed out in contiguous runs (``allocate``) so that one
    ``AddressSpace.map_file`` call can mirror a whole run. Every allocated page
    has a reference count, 1 after ``allocate``; copy-on-write raises it with
    ``inc_ref`` when a page becomes shared and ``dec_ref`` frees a page (and
    gives its memory back to the host with MADV_REMOVE) when the count drops
    to zero. Freed pages read as zero when allocated again.
    """

    def __init__(self, size: int = DEFAULT_SIZE, name: str = "pysandbox-memory") -> None:
        if size <= 0 or size % PAGE_SIZE:
            raise ValueError(f"MemoryFile size must be a positive multiple of {PAGE_SIZE}")
        self.size = size
        self.fd = os.memfd_create(name, os.MFD_CLOEXEC)
        try:
            os.ftruncate(self.fd, size)
            self._map = mmap.mmap(self.fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(self.fd)
            raise
        self._view = memoryview(self._map)
        self._lock = threading.Lock()
        # Free ranges below the bump pointer as sorted (start_page, n_pages).
        self._free_starts: list[int] = []
        self._free_lens: list[int] = []
        self._bump = 0  # first never-allocated page
        # Reference counts above one; an allocated page absent from here has one.
        self._shared: dict[int, int] = {}
        self.allocated_pages = 0
        # Recently freed runs (start_page, n_pages) kept with their host memory,
        # most recent last, at most ``cache_pages`` in all (see ``_free_run``).
        self._cached: list[tuple[int, int]] = []
        self.cached_pages = 0
        self.cache_pages = DEFAULT_CACHE_PAGES
        #: The most pages ever allocated at once (cgroupfs memory.max_usage_in_bytes).
        self.peak_pages = 0

    # -- allocation ---------------------------------------------------------

    def allocate(self, n_pages: int) -> int:
        """Allocate ``n_pages`` contiguous zeroed pages; returns their byte offset."""
        if n_pages <= 0:
            raise ValueError("allocate needs at least one page")
        with self._lock:
            cached = self._cached
            for i in range(len(cached) - 1, -1, -1):
                start, length = cached[i]
                if length >= n_pages:
                    if length == n_pages:
                        del cached[i]
                    else:
                        cached[i] = (start + n_pages, length - n_pages)
                    self.cached_pages -= n_pages
                    self.allocated_pages += n_pages
                    self._zero_pages(start, n_pages)
                    self.peak_pages = max(self.peak_pages, self.allocated_pages)
                    return start * PAGE_SIZE
            if self.cached_pages >= n_pages:
                # Enough cached pages but no run long enough: give them back
                # to the free list, where neighbours coalesce.
                self._spill_cache()
            start = self._take_free(n_pages)
            if start < 0 and self._cached:
                self._spill_cache()
                start = self._take_free(n_pages)
            if start < 0:
                raise MemoryFileExhausted(f"MemoryFile full ({self.size} bytes)")
            self.allocated_pages += n_pages
            self.peak_pages = max(self.peak_pages, self.allocated_pages)
            return start * PAGE_SIZE

    def _take_free(self, n_pages: int) -> int:
        """First fit in the free list, else the bump pointer; -1 if full."""
        for i, length in enumerate(self._free_lens):
            if length >= n_pages:
                start = self._free_starts[i]
                if length == n_pages:
                    del self._free_starts[i]
                    del self._free_lens[i]
                else:
                    self._free_starts[i] = start + n_pages
                    self._free_lens[i] = length - n_pages
                return start
        start = self._bump
        if (start + n_pages) * PAGE_SIZE > self.size:
            return -1
        self._bump = start + n_pages
        return start

    def _spill_cache(self) -> None:
        cached, self._cached = self._cached, []
        self.cached_pages = 0
        for start, n_pages in cached:
            self._release_run(start, n_pages)

    def refcount(self, offset: int) -> int:
        """Reference count of the page at ``offset`` (allocated pages only)."""
        return self._shared.get(offset // PAGE_SIZE, 1)

    @property
    def memory(self) -> memoryview:
        """The whole mapping, for mm's copies in C (``sentry.mm._runs``),
        which index it by MemoryFile offset."""
        return self._view

    @property
    def shared_pages(self) -> dict[int, int]:
        """Page index -> owner count of the pages with more than one owner
        (read-only to callers: ``mm``'s C run lookup probes it directly)."""
        return self._shared

    def any_shared(self, offsets: Iterable[int]) -> bool:
        """Whether a page at one of ``offsets`` has more than one owner
        (one dict probe when nothing is shared, the state without fork)."""
        shared = self._shared
        if not shared:
            return False
        return any(offset // PAGE_SIZE in shared for offset in offsets)

    def inc_ref(self, offset: int, n_pages: int = 1) -> None:
        """One more owner for each page of the run (copy-on-write sharing)."""
        first = offset // PAGE_SIZE
        with self._lock:
            add_refs(self._shared, range(first, first + n_pages))

    def inc_ref_pages(self, offsets: Iterable[int]) -> None:
        """``inc_ref`` for many single pages (fork shares a whole address space)."""
        with self._lock:
            add_refs(self._shared, page_indices(offsets, PAGE_SIZE))

    def dec_ref(self, offset: int, n_pages: int = 1) -> None:
        """One owner fewer for each page of the run; pages reaching zero are freed."""
        first = offset // PAGE_SIZE
        self._dec_pages(range(first, first + n_pages))

    def dec_ref_pages(self, offsets: Iterable[int]) -> None:
        """``dec_ref`` for many single pages at once (an address space going
        away): freed pages are returned to the host in contiguous runs, one
        MADV_REMOVE per run instead of one per page."""
        self._dec_pages(page_indices(offsets, PAGE_SIZE))

    def _dec_pages(self, pages: Iterable[int]) -> None:
        with self._lock:
            for start, n_pages in drop_refs(self._shared, pages):
                self._free_run(start, n_pages)

    def _zero_pages(self, start: int, n_pages: int) -> None:
        offset = start * PAGE_SIZE
        end = offset + n_pages * PAGE_SIZE
        while offset < end:
            step = min(end - offset, len(_ZEROES))
            self._view[offset : offset + step] = _ZEROES[:step]
            offset += step

    def _free_run(self, start: int, n_pages: int) -> None:
        """Free a run. Up to ``cache_pages`` recently freed pages keep their
        host memory and are zeroed when handed out again: the first write to
        a fresh memfd page costs a host page fault and shmem allocation
        (~4 us a page here) against ~0.3 us to zero a resident one, and exec
        or fork churn frees and reallocates the same amount again and again
        (gVisor's MemoryFile likewise decommits lazily)."""
        self.allocated_pages -= n_pages
        if n_pages <= self.cache_pages:
            self._cached.append((start, n_pages))
            self.cached_pages += n_pages
            while self.cached_pages > self.cache_pages:
                old_start, old_len = self._cached.pop(0)
                self.cached_pages -= old_len
                self._release_run(old_start, old_len)
            return
        self._release_run(start, n_pages)

    def drop_cache(self) -> None:
        """Give every cached free page back to the host (tests, memory pressure)."""
        with self._lock:
            self._spill_cache()

    def _release_run(self, start: int, n_pages: int) -> None:
        # Give the memory back so a later allocate reads zeroes (mm/shmem.c
        # shmem_fallocate PUNCH_HOLE, reached through MADV_REMOVE).
        self._map.madvise(mmap.MADV_REMOVE, start * PAGE_SIZE, n_pages * PAGE_SIZE)
        starts, lens = self._free_starts, self._free_lens
        i = bisect.bisect_left(starts, start)
        # Coalesce with the previous and next free ranges.
        if i > 0 and starts[i - 1] + lens[i - 1] == start:
            i -= 1
            lens[i] += n_pages
        else:
            starts.insert(i, start)
            lens.insert(i, n_pages)
        if i + 1 < len(starts) and starts[i] + lens[i] == starts[i + 1]:
            lens[i] += lens[i + 1]
            del starts[i + 1]
            del lens[i + 1]
        if starts[-1] + lens[-1] == self._bump:
            self._bump = starts[-1]
            del starts[-1]
            del lens[-1]

    # -- access -------------------------------------------------------------

    def view(self, offset: int, length: int) -> memoryview:
        """The Sentry's view of ``[offset, offset+length)`` (read/write, shared
        with every application mapping of those pages)."""
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ValueError("MemoryFile view out of range")
        return self._view[offset : offset + length]

    def find_nul(self, offset: int, length: int) -> int:
        """The index of the first NUL byte in ``[offset, offset+length)``
        relative to ``offset``, or -1: searched in place (a string copied in
        from the application needs no copy of its whole page to find its end)."""
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ValueError("MemoryFile range out of range")
        found = self._map.find(b"\0", offset, offset + length)
        return found - offset if found >= 0 else -1

    def zero(self, offset: int, length: int) -> None:
        """Zero bytes in place (pages stay allocated)."""
        self._map[offset : offset + length] = bytes(length)

    def close(self) -> None:
        """Unmap and close the memfd. Idempotent."""
        if self.fd < 0:
            return
        self._view.release()
        self._map.close()
        os.close(self.fd)
        self.fd = -1
