# cython: language_level=3, boundscheck=False, wraparound=False
"""The MemoryFile's reference-count updates over many pages, in C because
an exec or exit releases every page of an address space (500 for busybox,
whose text the private file cache shares) and a fork shares them all: as
Python loops these cost ~0.3 µs a page, on the critical path of wait(2).

``shared`` is the MemoryFile's page index -> owner count of the pages with
more than one owner; a page absent from it has one owner. The caller holds
the MemoryFile's lock."""

from cpython.dict cimport PyDict_DelItem, PyDict_GetItem, PyDict_SetItem
from cpython.object cimport PyObject


def add_refs(dict shared, pages):
    """One more owner for each page index of ``pages``."""
    cdef PyObject *found
    cdef long long count
    for page in pages:
        found = PyDict_GetItem(shared, page)
        count = 1 if found is NULL else <object>found
        PyDict_SetItem(shared, page, count + 1)


def drop_refs(dict shared, pages):
    """One owner fewer for each page index of ``pages`` (ascending); returns
    the pages that had their last owner, as runs ``[(first, n), ...]`` of
    consecutive indices, for the caller to free."""
    cdef PyObject *found
    cdef long long count
    cdef long long index
    cdef long long run_start = -1
    cdef long long run_len = 0
    cdef list runs = []
    for page in pages:
        found = PyDict_GetItem(shared, page)
        if found is not NULL:
            count = <object>found
            if count > 2:
                PyDict_SetItem(shared, page, count - 1)
            else:
                PyDict_DelItem(shared, page)
            continue
        index = page
        if run_len and index == run_start + run_len:
            run_len += 1
            continue
        if run_len:
            runs.append((run_start, run_len))
        run_start = index
        run_len = 1
    if run_len:
        runs.append((run_start, run_len))
    return runs


def page_indices(offsets, long long page_size):
    """The sorted page indices of MemoryFile byte ``offsets``."""
    cdef list pages = [offset // page_size for offset in offsets]
    pages.sort()
    return pages
