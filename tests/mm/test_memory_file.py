import pytest

from sentry.abi.mm import PAGE_SIZE
from sentry.memory import MemoryFile, MemoryFileExhausted


@pytest.fixture
def mf():
    f = MemoryFile(size=64 * PAGE_SIZE)
    yield f
    f.close()


def test_allocate_is_contiguous_and_zeroed(mf):
    a = mf.allocate(3)
    b = mf.allocate(2)
    assert b == a + 3 * PAGE_SIZE
    mf.view(a, 4)[:] = b"abcd"
    mf.dec_ref(a, 3)
    c = mf.allocate(1)
    assert c == a
    assert bytes(mf.view(c, 4)) == bytes(4)  # freed pages come back zeroed


def test_refcounts_keep_shared_pages(mf):
    a = mf.allocate(1)
    mf.inc_ref(a)
    assert mf.refcount(a) == 2
    mf.view(a, 1)[:] = b"x"
    mf.dec_ref(a)
    assert mf.refcount(a) == 1
    assert bytes(mf.view(a, 1)) == b"x"  # still allocated
    assert mf.allocated_pages == 1
    mf.dec_ref(a)
    assert mf.allocated_pages == 0


def test_exhaustion_is_reported(mf):
    mf.allocate(60)
    with pytest.raises(MemoryFileExhausted):
        mf.allocate(5)


def test_free_ranges_coalesce(mf):
    pages = [mf.allocate(1) for _ in range(4)]
    mf.allocate(1)  # keep the bump pointer above
    for p in (pages[0], pages[2], pages[1]):
        mf.dec_ref(p)
    assert mf.allocate(3) == pages[0]


def test_bad_size_rejected():
    with pytest.raises(ValueError):
        MemoryFile(size=PAGE_SIZE + 1)


def test_view_out_of_range(mf):
    with pytest.raises(ValueError):
        mf.view(63 * PAGE_SIZE, 2 * PAGE_SIZE)


def test_dec_ref_pages_frees_in_runs(mf):
    a = mf.allocate(4)
    b = mf.allocate(1)
    mf.inc_ref(b)
    mf.dec_ref_pages([a + 3 * PAGE_SIZE, a, b, a + PAGE_SIZE, a + 2 * PAGE_SIZE])
    assert mf.refcount(b) == 1
    assert mf.allocated_pages == 1
    assert mf.allocate(4) == a


def test_freed_pages_are_cached_and_come_back_zeroed(mf):
    a = mf.allocate(4)
    mf.view(a, 4 * PAGE_SIZE)[:] = b"\xff" * (4 * PAGE_SIZE)
    mf.dec_ref(a, 4)
    assert mf.cached_pages == 4 and mf.allocated_pages == 0
    b = mf.allocate(2)
    assert b == a  # reused from the cache, not the bump pointer
    assert bytes(mf.view(b, 2 * PAGE_SIZE)) == bytes(2 * PAGE_SIZE)
    assert mf.cached_pages == 2


def test_cache_is_bounded(mf):
    mf.cache_pages = 3
    runs = [mf.allocate(2) for _ in range(3)]
    for run in runs:
        mf.dec_ref(run, 2)
    assert mf.cached_pages <= 3


def test_cached_pages_are_given_back_when_the_file_is_full(mf):
    a = mf.allocate(30)
    mf.allocate(30)
    mf.dec_ref(a, 30)
    assert mf.cached_pages == 30
    # 34 pages do not fit in the bump space or one cached run: the cache is
    # spilled into the free list, where it coalesces with the tail.
    with pytest.raises(MemoryFileExhausted):
        mf.allocate(35)
    assert mf.cached_pages == 0
    assert mf.allocate(30) == a


def test_drop_cache(mf):
    a = mf.allocate(2)
    mf.dec_ref(a, 2)
    mf.drop_cache()
    assert mf.cached_pages == 0
    assert mf.allocate(2) == a


def test_peak_pages_is_the_high_water_mark(mf):
    a = mf.allocate(3)
    b = mf.allocate(2)
    mf.dec_ref(a, 3)
    assert (mf.allocated_pages, mf.peak_pages) == (2, 5)
    c = mf.allocate(1)  # reuses freed pages
    assert mf.peak_pages == 5
    mf.allocate(4)
    assert mf.peak_pages == 7
    del b, c
