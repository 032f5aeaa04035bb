"""The private file cache: program pages read once and shared copy-on-write
between private mappings (``sentry.mm.private_cache``)."""

import pytest

from sentry.abi.mm import MAP_PRIVATE, PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE
from sentry.memory import MemoryFile
from sentry.mm import MemoryManager, SharedFileCache
from sentry.mm.private_cache import CHUNK_PAGES, PrivateFileCache
from sentry.platform import AccessType

from .fakes import BytesMappable, RecordingAddressSpace, StampedMappable

LO = 0x10000
HI = 0x7F0000000000
RX = PROT_READ | PROT_EXEC


def _pattern(n_pages: int, tag: bytes = b"p") -> bytes:
    return b"".join(tag + i.to_bytes(4, "little") + bytes(PAGE_SIZE - 5) for i in range(n_pages))


@pytest.fixture
def mf():
    f = MemoryFile(size=1 << 30)
    yield f
    f.close()


def test_two_lookups_share_pages_and_read_the_file_once(mf):
    cache = PrivateFileCache(mf)
    prog = StampedMappable(_pattern(10))
    a = cache.runs(prog, PAGE_SIZE, 4)
    b = cache.runs(prog, PAGE_SIZE, 4)
    assert a is not None and a == b and len(a) == 1 and a[0][1] == 4
    assert prog.reads == 1
    offset = a[0][0]
    assert bytes(mf.view(offset, 5)) == b"p" + (1).to_bytes(4, "little")
    assert mf.refcount(offset) == 3  # the cache and two callers


def _only_run(runs: list[tuple[int, int]] | None) -> int:
    assert runs is not None and len(runs) == 1
    return runs[0][0]


def test_a_new_stamp_reads_the_new_bytes_and_old_holders_keep_theirs(mf):
    cache = PrivateFileCache(mf)
    prog = StampedMappable(_pattern(3))
    old = _only_run(cache.runs(prog, 0, 3))
    prog.write_at(0, b"q")
    new = _only_run(cache.runs(prog, 0, 3))
    assert new != old
    assert bytes(mf.view(new, 1)) == b"q" and bytes(mf.view(old, 1)) == b"p"
    assert mf.refcount(old) == 1  # only the first caller still holds it


def test_unstamped_files_and_ranges_past_the_end_are_not_cached(mf):
    cache = PrivateFileCache(mf)
    assert cache.runs(BytesMappable(_pattern(2)), 0, 1) is None
    assert cache.runs(StampedMappable(_pattern(2)), 0, 3) is None
    assert cache.runs(StampedMappable(_pattern(2)), 0, 2) is not None


def test_neighbouring_chunks_read_together_are_one_run(mf):
    cache = PrivateFileCache(mf)
    prog = StampedMappable(_pattern(3 * CHUNK_PAGES))
    runs = cache.runs(prog, 5 * PAGE_SIZE, 2 * CHUNK_PAGES)
    assert runs is not None and len(runs) == 1 and prog.reads == 1
    offset, n = runs[0]
    assert n == 2 * CHUNK_PAGES
    last = offset + (n - 1) * PAGE_SIZE
    assert bytes(mf.view(last + 1, 4)) == (5 + n - 1).to_bytes(4, "little")


def test_eviction_and_drop_all_free_what_no_mapping_holds(mf):
    cache = PrivateFileCache(mf, max_pages=4)
    a = StampedMappable(_pattern(4), ids=(1, 10))
    b = StampedMappable(_pattern(4), ids=(1, 11))
    runs_a = cache.runs(a, 0, 4)
    assert runs_a is not None
    for offset, n in runs_a:
        mf.dec_ref(offset, n)  # the mapping went away
    assert mf.allocated_pages == 4
    cache.runs(b, 0, 4)  # over the limit: a's pages go
    assert cache.pages == 4 and mf.allocated_pages == 8 - 4
    cache.drop_all()
    assert cache.pages == 0 and mf.allocated_pages == 4  # the caller's references


def _mm(mf, cache):
    return MemoryManager(mf, RecordingAddressSpace(), LO, HI, file_cache=cache)


def test_text_mappings_share_cached_pages_copy_on_write(mf):
    cache = SharedFileCache(mf)
    prog = StampedMappable(_pattern(8))
    one, two = _mm(mf, cache), _mm(mf, cache)
    a1 = one.mmap(0, 8 * PAGE_SIZE, RX, MAP_PRIVATE, mappable=prog)
    a2 = two.mmap(0, 8 * PAGE_SIZE, RX, MAP_PRIVATE, mappable=prog)
    assert one.handle_fault(a1 + 3 * PAGE_SIZE, AccessType.EXECUTE)
    assert two.handle_fault(a2, AccessType.READ)
    assert prog.reads == 1
    # The whole text was mapped by one fault each, read-only.
    assert len(one.address_space.pages) == 8
    assert one.address_space.pages[a1] == two.address_space.pages[a2]
    # A write (after mprotect) copies the page for that mapping only.
    one.mprotect(a1, 8 * PAGE_SIZE, PROT_READ | PROT_WRITE)
    one.copy_out(a1 + 1, b"XY")
    assert one.copy_in(a1, 3) == b"pXY"
    assert two.copy_in(a2, 3) == b"p\x00\x00"
    assert prog.data[:3] == b"p\x00\x00"
    # A process forked from the writer shares its copy, and writes of
    # either side stay their own.
    child = one.fork(RecordingAddressSpace())
    child.copy_out(a1 + 1, b"C")
    assert one.copy_in(a1, 3) == b"pXY" and child.copy_in(a1, 3) == b"pCY"
    for m in (one, two, child):
        m.release()
    cache.private.drop_all()
    assert mf.allocated_pages == 0


def test_writable_private_mappings_still_copy(mf):
    cache = SharedFileCache(mf)
    prog = StampedMappable(_pattern(2))
    m = _mm(mf, cache)
    addr = m.mmap(0, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, mappable=prog)
    assert m.handle_fault(addr, AccessType.WRITE)
    assert cache.private.pages == 0
    m.release()
    assert mf.allocated_pages == 0


def test_a_file_larger_than_the_limit_is_not_kept(mf):
    cache = PrivateFileCache(mf, max_pages=4)
    big = StampedMappable(_pattern(8))
    runs = cache.runs(big, 0, 8)
    assert runs is not None and cache.pages == 0
    assert mf.allocated_pages == 8  # held by the caller alone
    for offset, n in runs:
        mf.dec_ref(offset, n)
    assert mf.allocated_pages == 0


def test_a_failing_read_leaves_nothing_allocated(mf):
    class Broken(StampedMappable):
        def read_at(self, offset: int, length: int) -> bytes:
            raise OSError(5, "EIO")

    cache = PrivateFileCache(mf)
    with pytest.raises(OSError):
        cache.runs(Broken(_pattern(4)), 0, 4)
    assert mf.allocated_pages == 0 and cache.pages == 0
