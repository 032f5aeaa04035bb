"""Pages of shared file mappings.

Every MAP_SHARED mapping of one file sees the same MemoryFile pages (Linux's
page cache, gVisor ``fsutil.FileRangeSet``): they are filled from the file on
first use and written back on msync, munmap and exit."""

from __future__ import annotations

import threading

from sentry.abi.mm import PAGE_SIZE
from sentry.memory import MemoryFile
from sentry.mm.mappable import Mappable
from sentry.mm.private_cache import PrivateFileCache


class SharedFileCache:
    """(device, inode) -> file page index -> MemoryFile offset. The cache
    holds one reference on each page; each mm mapping it holds another."""

    def __init__(self, memory_file: MemoryFile) -> None:
        self._mf = memory_file
        self._files: dict[tuple[int, int], dict[int, int]] = {}
        self._lock = threading.Lock()
        #: The pages private mappings read (see ``private_runs``).
        self.private = PrivateFileCache(memory_file)

    def private_runs(
        self, mappable: Mappable, file_offset: int, n_pages: int
    ) -> list[tuple[int, int]] | None:
        """``PrivateFileCache.runs`` for a private mapping's fault, unless a
        shared mapping holds pages of the file: then its private mappings
        keep reading the file itself (as before this cache), so a shared
        mapping's writes reach them the same way whether cached or not."""
        if mappable.map_ids() in self._files:
            return None
        return self.private.runs(mappable, file_offset, n_pages)

    def page(self, mappable: Mappable, file_offset: int) -> int:
        """The MemoryFile offset caching the file page at ``file_offset``
        (page aligned), with a new reference for the caller."""
        key = mappable.map_ids()
        index = file_offset // PAGE_SIZE
        with self._lock:
            pages = self._files.setdefault(key, {})
            offset = pages.get(index)
            if offset is None:
                offset = self._mf.allocate(1)
                data = mappable.read_at(file_offset, PAGE_SIZE)
                self._mf.view(offset, len(data))[:] = data
                pages[index] = offset
            self._mf.inc_ref(offset)
            return offset

    def writeback(self, mappable: Mappable, file_offset: int, length: int) -> None:
        """Write cached pages of ``[file_offset, file_offset+length)`` back to
        the file, never past its current size (a shared mapping does not
        extend a file: mm/filemap.c)."""
        pages = self._files.get(mappable.map_ids())
        if not pages:
            return
        size = mappable.size()
        first = file_offset // PAGE_SIZE
        last = (file_offset + length + PAGE_SIZE - 1) // PAGE_SIZE
        for index in range(first, last):
            offset = pages.get(index)
            pos = index * PAGE_SIZE
            if offset is None or pos >= size:
                continue
            n = min(PAGE_SIZE, size - pos)
            mappable.write_at(pos, bytes(self._mf.view(offset, n)))
