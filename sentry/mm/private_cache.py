"""Pages of private file mappings that no mapping has written yet (Linux's
page cache as MAP_PRIVATE mappings see it before copy-on-write).

Without it every fault in a private file mapping copied its window from the
file into fresh MemoryFile pages, so each exec of a program read its text
again (~50 µs per 64-page window, seven windows for busybox). Here a file's
pages are read once, in contiguous chunks, and every private mapping of an
unchanged file gets references to them: the pages are shared copy-on-write
exactly like a fork's (a reference count above one makes ``mm`` map them
read-only and copy a page on its first write), so a mapping never sees
another's writes.

A file is cached only when its ``Mappable`` offers ``content_stamp()``: a
value that changes whenever the file's bytes may have changed (the host's
size, mtime and ctime plus a count of the Sentry's own writes, see
``sentry.fsimpl.gofer.directfs``). A lookup with a different stamp drops the
file's old pages (mappings holding them keep them) and reads anew, so a
rewritten program is never run from stale pages. The cache holds one
reference on each page and at most ``max_pages`` pages, dropping the least
recently used files beyond that; ``drop_all`` empties it (the MemoryFile is
full, or the sandbox's init ended and leak checks count pages)."""

from __future__ import annotations

import threading
from collections.abc import Hashable

from sentry.abi.mm import PAGE_SIZE
from sentry.memory import MemoryFile, MemoryFileExhausted
from sentry.mm.mappable import Mappable

#: Pages read from the file at a time (256 KiB); a chunk is one contiguous
#: MemoryFile run, and neighbouring chunks read together are one run too.
CHUNK_PAGES = 64
#: The most pages cached (128 MiB), and at most an eighth of the MemoryFile.
DEFAULT_MAX_PAGES = 32768


class _CachedFile:
    """One file's cached chunks, valid for ``stamp``."""

    __slots__ = ("chunks", "n_pages", "stamp")

    def __init__(self, stamp: Hashable) -> None:
        self.stamp = stamp
        #: chunk index -> (MemoryFile offset, pages held)
        self.chunks: dict[int, tuple[int, int]] = {}
        self.n_pages = 0


class PrivateFileCache:
    """(device, inode) -> the file's chunks, least recently used first."""

    def __init__(self, memory_file: MemoryFile, max_pages: int | None = None) -> None:
        self._mf = memory_file
        self._lock = threading.Lock()
        self._files: dict[tuple[int, int], _CachedFile] = {}
        #: Pages the cache holds a reference on.
        self.pages = 0
        self.max_pages = (
            max_pages
            if max_pages is not None
            else min(DEFAULT_MAX_PAGES, memory_file.size // PAGE_SIZE // 8)
        )

    def runs(
        self, mappable: Mappable, file_offset: int, n_pages: int
    ) -> list[tuple[int, int]] | None:
        """The MemoryFile runs ``(offset, pages)`` holding the file's pages
        ``[file_offset, file_offset + n_pages * PAGE_SIZE)`` in order, each
        page with a new reference for the caller (the bytes of the file's
        last page past its end are zeros). None when the file cannot be
        cached (no content stamp), the range reaches past the file's last
        page or the MemoryFile has no room: the caller copies instead."""
        stamp_of = getattr(mappable, "content_stamp", None)
        if stamp_of is None or file_offset % PAGE_SIZE or n_pages <= 0:
            return None
        stamp = stamp_of()
        if stamp is None:
            return None
        key = mappable.map_ids()
        first = file_offset // PAGE_SIZE
        end = first + n_pages
        with self._lock:
            entry = self._files.pop(key, None)
            if entry is not None and entry.stamp != stamp:
                self._release(entry)
                entry = None
            if entry is None:
                entry = _CachedFile(stamp)
            self._files[key] = entry  # most recently used last
            try:
                self._fill(mappable, entry, first // CHUNK_PAGES, (end - 1) // CHUNK_PAGES + 1)
            except MemoryFileExhausted:
                self._evict(0, keep=key)
                try:
                    self._fill(mappable, entry, first // CHUNK_PAGES, (end - 1) // CHUNK_PAGES + 1)
                except MemoryFileExhausted:
                    return None
            runs = self._runs(entry, first, end)
            if runs is None:
                return None
            for offset, pages in runs:
                self._mf.inc_ref(offset, pages)
            self._evict(self.max_pages, keep=key)
            if self.pages > self.max_pages:
                # This file alone is over the limit: keep none of it (the
                # caller's references keep what it maps).
                self._release(self._files.pop(key))
        return runs

    def _fill(self, mappable: Mappable, entry: _CachedFile, lo: int, hi: int) -> None:
        """Read the missing chunks of ``[lo, hi)``, each gap of neighbouring
        missing chunks into one allocation."""
        chunks = entry.chunks
        k = lo
        size_pages = -1
        while k < hi:
            if k in chunks:
                k += 1
                continue
            gap_end = k + 1
            while gap_end < hi and gap_end not in chunks:
                gap_end += 1
            if size_pages < 0:
                size_pages = (mappable.size() + PAGE_SIZE - 1) // PAGE_SIZE
            first_page = k * CHUNK_PAGES
            # Only what the file has: a request reaching past its end is
            # left to the caller's copy path (``_runs`` says None).
            want = min(gap_end * CHUNK_PAGES, size_pages) - first_page
            if want <= 0:
                return
            offset = self._mf.allocate(want)
            read_into = getattr(mappable, "read_into", None)
            length = want * PAGE_SIZE
            try:
                if read_into is not None:
                    read_into(first_page * PAGE_SIZE, self._mf.view(offset, length))
                else:
                    data = mappable.read_at(first_page * PAGE_SIZE, length)
                    self._mf.view(offset, len(data))[:] = data
            except BaseException:
                self._mf.dec_ref(offset, want)  # the file failed to read (EIO)
                raise
            for c in range(k, gap_end):
                held = min(CHUNK_PAGES, want - (c - k) * CHUNK_PAGES)
                if held > 0:
                    chunks[c] = (offset + (c - k) * CHUNK_PAGES * PAGE_SIZE, held)
            entry.n_pages += want
            self.pages += want
            k = gap_end

    @staticmethod
    def _runs(entry: _CachedFile, first: int, end: int) -> list[tuple[int, int]] | None:
        runs: list[tuple[int, int]] = []
        page = first
        while page < end:
            k, within = divmod(page, CHUNK_PAGES)
            chunk = entry.chunks.get(k)
            if chunk is None or within >= chunk[1]:
                return None  # past the end of the file
            base, held = chunk
            take = min(held - within, end - page)
            offset = base + within * PAGE_SIZE
            if runs and runs[-1][0] + runs[-1][1] * PAGE_SIZE == offset:
                runs[-1] = (runs[-1][0], runs[-1][1] + take)
            else:
                runs.append((offset, take))
            page += take
        return runs

    def _release(self, entry: _CachedFile) -> None:
        for offset, held in entry.chunks.values():
            self._mf.dec_ref(offset, held)
        self.pages -= entry.n_pages
        entry.chunks.clear()
        entry.n_pages = 0

    def _evict(self, limit: int, *, keep: tuple[int, int]) -> None:
        """Drop least recently used files (never ``keep``) until at most
        ``limit`` pages are cached."""
        for key in list(self._files):
            if self.pages <= limit:
                return
            if key != keep:
                self._release(self._files.pop(key))

    def drop_all(self) -> None:
        """Forget every file (their pages live on in the mappings holding them)."""
        with self._lock:
            for entry in self._files.values():
                self._release(entry)
            self._files.clear()
