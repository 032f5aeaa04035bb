# cython: language_level=3, boundscheck=False, wraparound=False
"""The MemoryFile runs behind a present application buffer, in C because
every pipe and socket transfer asks for them (``MemoryManager._fast_runs``).

A 64 KiB buffer is 16 or 17 pages; looking each up in the page dict and
merging the consecutive ones took ~6 µs as a Python loop whenever the
pages were not one contiguous MemoryFile range (a static buffer straddling
the file-backed and anonymous parts of a data segment always is not). Here
it is one pass of dict probes in C."""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_GetItem
from cpython.object cimport PyObject
from libc.string cimport memcpy

cdef long long _PAGE_SIZE = 4096
cdef long long _PAGE_MASK = ~(4096 - 1)


def present_runs(dict pages, long long addr, long long n, dict shared):
    """The (offset, length) MemoryFile runs backing ``[addr, addr+n)``,
    consecutive pages merged, or None if a page is absent from ``pages``
    (application page address -> MemoryFile offset) or, when ``shared`` (a
    MemoryFile's page index -> owner count of shared pages) is not empty,
    if one of them is shared (a write must break copy-on-write first).
    ``n`` must be positive."""
    cdef long long first = addr & _PAGE_MASK
    cdef long long end = addr + n
    cdef long long page = first
    cdef long long offset, prev = 0, run_start = 0, run_len = 0, take
    cdef bint check_shared = shared is not None and len(shared) > 0
    cdef PyObject *found
    cdef list runs = []
    while page < end:
        found = PyDict_GetItem(pages, page)
        if found is NULL:
            return None
        offset = <object>found
        if check_shared and PyDict_GetItem(shared, offset // _PAGE_SIZE) is not NULL:
            return None
        if page == first:
            run_start = offset + (addr - first)
            take = min(end, first + _PAGE_SIZE) - addr
            run_len = take
        else:
            take = min(end - page, _PAGE_SIZE)
            if offset == prev + _PAGE_SIZE:
                run_len += take
            else:
                runs.append((run_start, run_len))
                run_start = offset
                run_len = take
        prev = offset
        page += _PAGE_SIZE
    runs.append((run_start, run_len))
    return runs


def mirror_runs(dict pages, long long start, long long end, dict shared):
    """The runs ``(addr, length, offset, cow)`` to mirror for the populated
    pages of ``[start, end)`` (page aligned): absent pages skipped,
    neighbours merged when both their addresses and their MemoryFile
    offsets follow on and they agree on ``cow``, which is whether the page
    is shared (in ``shared``, a MemoryFile's page index -> owner count) and
    must be mapped without write access. ``shared`` None: no page is
    copy-on-write (shared or read-only mappings). One pass in C for
    ``MemoryManager._mirror``, which walked up to 512 pages per fault in
    Python (~60 us for a text window)."""
    cdef long long page = start
    cdef long long offset, run_addr = 0, run_off = 0, run_len = 0
    cdef bint cow, run_cow = False
    cdef bint check_shared = shared is not None and len(shared) > 0
    cdef PyObject *found
    cdef list runs = []
    while page < end:
        found = PyDict_GetItem(pages, page)
        if found is NULL:
            if run_len:
                runs.append((run_addr, run_len, run_off, run_cow))
                run_len = 0
            page += _PAGE_SIZE
            continue
        offset = <object>found
        cow = check_shared and PyDict_GetItem(shared, offset // _PAGE_SIZE) is not NULL
        if run_len and cow == run_cow and offset == run_off + run_len:
            run_len += _PAGE_SIZE
        else:
            if run_len:
                runs.append((run_addr, run_len, run_off, run_cow))
            run_addr, run_off, run_len, run_cow = page, offset, _PAGE_SIZE, cow
        page += _PAGE_SIZE
    if run_len:
        runs.append((run_addr, run_len, run_off, run_cow))
    return runs


cdef bint _all_present(dict pages, long long addr, long long n, dict shared):
    """Whether every page of ``[addr, addr+n)`` is in ``pages`` and, when
    ``shared`` is not empty, none of them is shared."""
    cdef long long page = addr & _PAGE_MASK
    cdef long long end = addr + n
    cdef bint check_shared = shared is not None and len(shared) > 0
    cdef PyObject *found
    while page < end:
        found = PyDict_GetItem(pages, page)
        if found is NULL:
            return False
        if check_shared and PyDict_GetItem(shared, (<object>found) // _PAGE_SIZE) is not NULL:
            return False
        page += _PAGE_SIZE
    return True


cdef void _copy_pages(dict pages, long long addr, long long n, char *base, char *buf, bint out):
    """memcpy between ``buf`` and the pages behind ``[addr, addr+n)``
    (all present): into them when ``out``, else out of them."""
    cdef long long pos = addr
    cdef long long end = addr + n
    cdef long long page, take, offset
    cdef char *mem
    while pos < end:
        page = pos & _PAGE_MASK
        offset = <long long><object>PyDict_GetItem(pages, page)
        take = min(end, page + _PAGE_SIZE) - pos
        mem = base + offset + (pos - page)
        if out:
            memcpy(mem, buf + (pos - addr), take)
        else:
            memcpy(buf + (pos - addr), mem, take)
        pos += take


def copy_in_present(dict pages, long long addr, long long n, unsigned char[::1] memory):
    """``n`` bytes of application memory at ``addr`` copied straight out of
    ``memory`` (the MemoryFile's mapping) when every page is present, else
    None (the caller walks the pages, populating them). One allocation and
    one memcpy per page, no runs list: a pipe read's copy-out and a pipe
    write's copy-in cost ~1 µs less than through ``present_runs``."""
    if n <= 0 or not _all_present(pages, addr, n, None):
        return None
    cdef bytes out = PyBytes_FromStringAndSize(NULL, n)
    _copy_pages(pages, addr, n, <char *>&memory[0], PyBytes_AS_STRING(out), False)
    return out


def copy_out_present(
    dict pages, long long addr, const unsigned char[::1] data, unsigned char[::1] memory, dict shared
):
    """Write ``data`` to application memory at ``addr`` through ``memory``
    when every page is present and (``shared`` not empty) none of them is
    copy-on-write; False (nothing written) otherwise."""
    cdef long long n = data.shape[0]
    if n <= 0 or not _all_present(pages, addr, n, shared):
        return False
    _copy_pages(pages, addr, n, <char *>&memory[0], <char *>&data[0], True)
    return True
