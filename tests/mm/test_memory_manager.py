import pytest

from sentry.abi.errors import EACCES, EEXIST, EFAULT, EINVAL, ENAMETOOLONG, ENOMEM
from sentry.abi.mm import (
    MADV_DONTNEED,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_GROWSDOWN,
    MAP_PRIVATE,
    MAP_SHARED,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_NONE,
    PROT_READ,
    PROT_RWX,
    PROT_WRITE,
)
from sentry.memory import MemoryFile
from sentry.mm import MemoryManager
from sentry.platform import AccessType

from .fakes import BytesMappable, RecordingAddressSpace

LO = 0x10000
HI = 0x7F0000000000
ANON = MAP_PRIVATE | MAP_ANONYMOUS
RW = PROT_READ | PROT_WRITE


@pytest.fixture
def mf():
    f = MemoryFile(size=1 << 30)
    yield f
    f.close()


@pytest.fixture
def mm(mf):
    m = MemoryManager(mf, RecordingAddressSpace(), LO, HI)
    yield m
    m.release()


def test_anonymous_mapping_reads_zero_and_round_trips(mm):
    addr = mm.mmap(0, 3 * PAGE_SIZE, RW, ANON)
    assert addr % PAGE_SIZE == 0 and LO <= addr < HI
    assert mm.copy_in(addr, 16) == bytes(16)
    mm.copy_out(addr + PAGE_SIZE - 2, b"hello")  # crosses a page boundary
    assert mm.copy_in(addr + PAGE_SIZE - 2, 5) == b"hello"


def test_top_down_placement_and_hint(mm):
    a = mm.mmap(0, PAGE_SIZE, RW, ANON)
    b = mm.mmap(0, PAGE_SIZE, RW, ANON)
    assert b == a - PAGE_SIZE
    hint = 0x200000000
    assert mm.mmap(hint, PAGE_SIZE, RW, ANON) == hint


def test_fault_populates_and_mirrors(mm):
    addr = mm.mmap(0, 64 * PAGE_SIZE, RW, ANON)
    assert mm.handle_fault(addr + 5 * PAGE_SIZE + 3, AccessType.WRITE)
    space = mm.address_space
    assert (addr + 5 * PAGE_SIZE) in space.pages
    # fault-around mirrored a whole window with one call
    maps = [c for c in space.calls if c[0] == "map"]
    assert len(maps) == 1 and maps[0][2] == 16 * PAGE_SIZE and maps[0][4] == RW


def test_fault_denied_by_protection(mm):
    addr = mm.mmap(0, PAGE_SIZE, PROT_READ, ANON)
    assert not mm.handle_fault(addr, AccessType.WRITE)
    assert mm.handle_fault(addr, AccessType.READ)
    assert not mm.handle_fault(addr, AccessType.EXECUTE)
    none = mm.mmap(0, PAGE_SIZE, PROT_NONE, ANON)
    assert not mm.handle_fault(none, AccessType.READ)
    assert not mm.handle_fault(0x1000, AccessType.READ)  # below min address, unmapped


def test_copy_respects_protection(mm):
    ro = mm.mmap(0, PAGE_SIZE, PROT_READ, ANON)
    with pytest.raises(EFAULT):
        mm.copy_out(ro, b"x")
    mm.copy_out(ro, b"x", force=True)  # the loader writes read-only segments
    assert mm.copy_in(ro, 1) == b"x"
    none = mm.mmap(0, PAGE_SIZE, PROT_NONE, ANON)
    with pytest.raises(EFAULT):
        mm.copy_in(none, 1)
    with pytest.raises(EFAULT):
        mm.copy_in(0x7000, 1)


def test_file_private_mapping(mm):
    data = bytes(range(256)) * 40  # 10240 bytes: 2.5 pages
    f = BytesMappable(data)
    addr = mm.mmap(0, 3 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, mappable=f, offset=0)
    assert mm.copy_in(addr + 4000, 300) == data[4000:4300]
    assert mm.copy_in(addr + len(data), 16) == bytes(16)  # past EOF reads zero
    mm.copy_out(addr, b"XY")
    assert f.data[:2] == data[:2]  # private: the file is untouched
    off = mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE, mappable=f, offset=PAGE_SIZE)
    assert mm.copy_in(off, 4) == data[PAGE_SIZE : PAGE_SIZE + 4]
    rec = next(r for r in mm.vmas() if r.start == addr)
    assert rec.perms == "rw-p" and rec.name == "/file" and (rec.dev, rec.inode) == (1, 2)


def test_file_shared_mapping_is_coherent_and_written_back(mf):
    f = BytesMappable(b"a" * PAGE_SIZE + b"b" * 100)
    m1 = MemoryManager(mf, RecordingAddressSpace(), LO, HI)
    m2 = MemoryManager(mf, RecordingAddressSpace(), LO, HI, file_cache=m1.file_cache)
    a1 = m1.mmap(0, 2 * PAGE_SIZE, RW, MAP_SHARED, mappable=f)
    a2 = m2.mmap(0, 2 * PAGE_SIZE, RW, MAP_SHARED, mappable=f)
    m1.copy_out(a1 + PAGE_SIZE, b"XYZ")
    assert m2.copy_in(a2 + PAGE_SIZE, 3) == b"XYZ"
    m1.msync(a1, 2 * PAGE_SIZE, 4)
    assert bytes(f.data[PAGE_SIZE : PAGE_SIZE + 4]) == b"XYZb"
    assert len(f.data) == PAGE_SIZE + 100  # never extends the file
    m2.copy_out(a2, b"Q")
    m2.munmap(a2, 2 * PAGE_SIZE)
    assert f.data[0:1] == b"Q"
    m1.release()
    m2.release()


def test_map_fixed_replaces_and_noreplace_refuses(mm):
    base = mm.mmap(0, 4 * PAGE_SIZE, RW, ANON)
    mm.copy_out(base, b"old")
    assert mm.mmap(base, PAGE_SIZE, PROT_READ, ANON | MAP_FIXED) == base
    assert mm.copy_in(base, 3) == bytes(3)
    with pytest.raises(EEXIST):
        mm.mmap(base, PAGE_SIZE, RW, ANON | MAP_FIXED_NOREPLACE)
    with pytest.raises(EINVAL):
        mm.mmap(base + 1, PAGE_SIZE, RW, ANON | MAP_FIXED)
    with pytest.raises(ENOMEM):
        mm.mmap(HI, PAGE_SIZE, RW, ANON | MAP_FIXED)


def test_mmap_argument_errors(mm):
    with pytest.raises(EINVAL):
        mm.mmap(0, 0, RW, ANON)
    with pytest.raises(EINVAL):
        mm.mmap(0, PAGE_SIZE, RW, MAP_PRIVATE, mappable=BytesMappable(b""), offset=1)
    with pytest.raises(EINVAL):
        mm.mmap(0, PAGE_SIZE, 0x80, ANON)


def test_munmap_splits_and_frees(mm, mf):
    base = mm.mmap(0, 3 * PAGE_SIZE, RW, ANON)
    mm.copy_out(base, b"1" * 3 * PAGE_SIZE)
    used = mf.allocated_pages
    mm.munmap(base + PAGE_SIZE, PAGE_SIZE)
    assert mf.allocated_pages == used - 1
    assert mm.copy_in(base, 1) == b"1" and mm.copy_in(base + 2 * PAGE_SIZE, 1) == b"1"
    with pytest.raises(EFAULT):
        mm.copy_in(base + PAGE_SIZE, 1)
    with pytest.raises(EINVAL):
        mm.munmap(base + 1, PAGE_SIZE)
    mm.munmap(base, 3 * PAGE_SIZE)  # holes are fine
    assert len(list(mm.vmas())) == 0


def test_mprotect(mm):
    base = mm.mmap(0, 3 * PAGE_SIZE, RW, ANON)
    mm.handle_fault(base, AccessType.WRITE)
    mm.mprotect(base + PAGE_SIZE, PAGE_SIZE, PROT_READ)
    perms = [r.perms for r in mm.vmas()]
    assert perms == ["rw-p", "r--p", "rw-p"]
    # A small range is re-mirrored at once with the new protections.
    assert mm.address_space.pages[base + PAGE_SIZE][1] == PROT_READ
    assert not mm.handle_fault(base + PAGE_SIZE, AccessType.WRITE)
    with pytest.raises(ENOMEM):
        mm.mprotect(base, 5 * PAGE_SIZE, PROT_READ)
    with pytest.raises(EINVAL):
        mm.mprotect(base + 1, PAGE_SIZE, PROT_READ)


def test_mprotect_respects_max_prot(mm):
    f = BytesMappable(b"x" * PAGE_SIZE)
    addr = mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_SHARED, mappable=f, max_prot=PROT_READ | PROT_EXEC)
    with pytest.raises(EACCES):
        mm.mprotect(addr, PAGE_SIZE, RW)


def test_brk(mm):
    mm.brk_start = mm.brk_end = 0x600000
    assert mm.brk(0) == 0x600000
    assert mm.brk(0x600000 + 5000) == 0x600000 + 5000
    mm.copy_out(0x600000 + 4999, b"z")
    assert [r.name for r in mm.vmas()] == ["[heap]"]
    assert mm.brk(0x600000 + 100) == 0x600000 + 100
    with pytest.raises(EFAULT):
        mm.copy_in(0x600000 + PAGE_SIZE, 1)
    assert mm.brk(0x600000 + 5000) == 0x600000 + 5000
    assert mm.copy_in(0x600000 + 4999, 1) == b"\0"  # shrunk pages come back zeroed
    mm.mmap(0x800000, PAGE_SIZE, RW, ANON | MAP_FIXED)
    assert mm.brk(0x900000) == 0x600000 + 5000  # collides: unchanged


def test_mremap_grow_move_shrink(mm):
    base = mm.mmap(0x200000000, 2 * PAGE_SIZE, RW, ANON)
    mm.mmap(base + 2 * PAGE_SIZE, PAGE_SIZE, RW, ANON | MAP_FIXED)  # blocks growth in place
    mm.copy_out(base, b"data")
    with pytest.raises(ENOMEM):
        mm.mremap(base, 2 * PAGE_SIZE, 4 * PAGE_SIZE, 0, 0)
    moved = mm.mremap(base, 2 * PAGE_SIZE, 4 * PAGE_SIZE, MREMAP_MAYMOVE, 0)
    assert moved != base and mm.copy_in(moved, 4) == b"data"
    with pytest.raises(EFAULT):
        mm.copy_in(base, 1)
    assert mm.mremap(moved, 4 * PAGE_SIZE, PAGE_SIZE, 0, 0) == moved
    target = 0x300000000
    assert mm.mremap(moved, PAGE_SIZE, PAGE_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED, target) == target
    assert mm.copy_in(target, 4) == b"data"
    with pytest.raises(EINVAL):
        mm.mremap(target, PAGE_SIZE, PAGE_SIZE, MREMAP_FIXED, 0x400000000)
    with pytest.raises(EFAULT):
        mm.mremap(0x500000000, PAGE_SIZE, 2 * PAGE_SIZE, MREMAP_MAYMOVE, 0)


def test_madvise_dontneed_zeroes_private_anon(mm):
    base = mm.mmap(0, PAGE_SIZE, RW, ANON)
    mm.copy_out(base, b"abc")
    mm.madvise(base, PAGE_SIZE, MADV_DONTNEED)
    assert mm.copy_in(base, 3) == bytes(3)
    with pytest.raises(EINVAL):
        mm.madvise(base, PAGE_SIZE, 999)
    with pytest.raises(ENOMEM):
        mm.madvise(base, 3 * PAGE_SIZE, MADV_DONTNEED)


def test_mincore(mm):
    base = mm.mmap(0, 3 * PAGE_SIZE, RW, ANON)
    mm.copy_out(base + PAGE_SIZE, b"x")
    assert mm.mincore(base, 3 * PAGE_SIZE) == b"\0\1\0"
    with pytest.raises(ENOMEM):
        mm.mincore(base, 4 * PAGE_SIZE)


def test_stack_grows_down_with_guard(mm):
    top = 0x7E0000000000
    stack = mm.mmap(top - 4 * PAGE_SIZE, 4 * PAGE_SIZE, RW, ANON | MAP_FIXED | MAP_GROWSDOWN)
    assert mm.handle_fault(stack - 10 * PAGE_SIZE, AccessType.WRITE)
    assert mm.vma_at(stack - 10 * PAGE_SIZE) is not None
    assert not mm.handle_fault(top - (9 << 20), AccessType.WRITE)  # beyond the stack limit
    mm.mmap(top - (600 << 10), PAGE_SIZE, RW, ANON | MAP_FIXED)
    # now a mapping sits inside the guard gap below the stack
    assert not mm.handle_fault(stack - 12 * PAGE_SIZE, AccessType.WRITE)


def test_copy_on_write(mm, mf):
    base = mm.mmap(0, 2 * PAGE_SIZE, RW, ANON)
    mm.copy_out(base, b"parent" + bytes(PAGE_SIZE - 6) + b"second")
    first, second = mm._pages[base], mm._pages[base + PAGE_SIZE]
    mf.inc_ref(first)  # what fork will do: another owner
    mf.inc_ref(second)
    # A read of shared pages of writable private memory copies the
    # window's shared pages at once (writes nearly always follow), into
    # one contiguous run, mirrored writable in one call.
    calls = len(mm.address_space.calls)
    assert mm.handle_fault(base, AccessType.READ)
    fresh, prot = mm.address_space.pages[base]
    assert fresh not in (first, second) and prot == RW
    assert mm.address_space.pages[base + PAGE_SIZE] == (fresh + PAGE_SIZE, RW)
    assert len(mm.address_space.calls) == calls + 1
    assert bytes(mf.view(fresh, 6)) == b"parent"
    assert bytes(mf.view(fresh + PAGE_SIZE, 6)) == b"second"
    assert mf.refcount(first) == 1 and mf.refcount(second) == 1
    mf.dec_ref(first)
    mf.dec_ref(second)
    # A write copies the page written, leaving the others shared.
    mf.inc_ref(fresh, 2)
    assert mm.handle_fault(base + PAGE_SIZE, AccessType.WRITE)
    copied, prot = mm.address_space.pages[base + PAGE_SIZE]
    assert copied != fresh + PAGE_SIZE and prot == RW
    assert bytes(mf.view(copied, 6)) == b"second"
    assert mm.address_space.pages[base] == (fresh, PROT_READ)  # still shared
    mf.dec_ref(fresh, 2)


def test_copy_on_write_of_a_read_only_mapping_waits_for_the_write(mm, mf):
    base = mm.mmap(0, PAGE_SIZE, RW, ANON)
    mm.copy_out(base, b"parent")
    offset = mm._pages[base]
    mf.inc_ref(offset)
    mm.mprotect(base, PAGE_SIZE, PROT_READ)
    assert mm.handle_fault(base, AccessType.READ)
    assert mm.address_space.pages[base] == (offset, PROT_READ)  # nothing copied
    assert not mm.handle_fault(base, AccessType.WRITE)  # and no write allowed
    mf.dec_ref(offset)


def test_write_fault_maps_only_the_copied_page_when_the_window_is_mirrored(mf):
    space = RecordingAddressSpace()
    space.write_faults_imply_mapped = True  # as the ptrace back end reports faults
    m = MemoryManager(mf, space, LO, HI)
    base = m.mmap(0, 4 * PAGE_SIZE, RW, ANON)
    m.copy_out(base, b"x" * 4 * PAGE_SIZE)
    for page in range(base, base + 4 * PAGE_SIZE, PAGE_SIZE):
        mf.inc_ref(m._pages[page])
    space.calls.clear()
    assert m.handle_fault(base + 2 * PAGE_SIZE, AccessType.WRITE)
    fresh = m._pages[base + 2 * PAGE_SIZE]
    assert space.calls == [("map", base + 2 * PAGE_SIZE, PAGE_SIZE, fresh, RW)]
    for page in (base, base + PAGE_SIZE, base + 3 * PAGE_SIZE):
        mf.dec_ref(m._pages[page])
    m.release()


def test_copy_in_string_and_iovecs(mm):
    base = mm.mmap(0, 2 * PAGE_SIZE, RW, ANON)
    mm.copy_out(base + PAGE_SIZE - 3, b"abcdef\0")
    assert mm.copy_in_string(base + PAGE_SIZE - 3) == b"abcdef"
    with pytest.raises(ENAMETOOLONG):
        mm.copy_in_string(base + PAGE_SIZE - 3, 4)
    mm.copy_out(base + 2 * PAGE_SIZE - 2, b"zz")
    with pytest.raises(EFAULT):
        mm.copy_in_string(base + 2 * PAGE_SIZE - 2)
    iov = (0x1000).to_bytes(8, "little") + (5).to_bytes(8, "little")
    mm.copy_out(base, iov * 2)
    assert mm.copy_in_iovecs(base, 2) == [(0x1000, 5), (0x1000, 5)]
    with pytest.raises(EINVAL):
        mm.copy_in_iovecs(base, 5000)


def test_copy_in_strings_as_copy_in_string_each(mm):
    base = mm.mmap(0, 2 * PAGE_SIZE, RW, ANON)
    strings = [b"PATH=/bin", b"", b"x" * 40, b"HOME=/root"]
    addrs, pos = [], base + PAGE_SIZE - 50  # the third one crosses the page
    for s in strings:
        mm.copy_out(pos, s + b"\0")
        addrs.append(pos)
        pos += len(s) + 1
    assert mm.copy_in_strings(addrs) == strings
    assert mm.copy_in_strings(addrs, 4096) == [mm.copy_in_string(a) for a in addrs]
    assert mm.copy_in_strings([]) == []
    with pytest.raises(ENAMETOOLONG):
        mm.copy_in_strings(addrs, 20)  # the 40-byte one is too long
    with pytest.raises(EFAULT):
        mm.copy_in_strings([*addrs, base + 4 * PAGE_SIZE])


def test_release_frees_everything(mf):
    space = RecordingAddressSpace()
    m = MemoryManager(mf, space, LO, HI)
    base = m.mmap(0, 8 * PAGE_SIZE, PROT_RWX, ANON)
    m.copy_out(base, b"x" * 8 * PAGE_SIZE)
    m.release()
    assert mf.allocated_pages == 0 and space.released


def test_fork_is_copy_on_write(mm, mf):
    private = mm.mmap(0, 2 * PAGE_SIZE, RW, ANON)
    shared = mm.mmap(0, PAGE_SIZE, RW, MAP_SHARED | MAP_ANONYMOUS)
    mm.copy_out(private, b"before")
    mm.copy_out(shared, b"shared")
    assert mm.handle_fault(private, AccessType.WRITE)
    assert mm.address_space.pages[private][1] == RW
    used = mf.allocated_pages

    child = mm.fork(RecordingAddressSpace())
    assert private not in mm.address_space.pages  # the parent's next write faults
    assert mf.allocated_pages == used  # nothing copied yet
    assert child.handle_fault(private, AccessType.EXECUTE) is False  # not PROT_EXEC
    assert child.handle_fault(private, AccessType.READ)
    # The shared page read is copied at once (writable private memory).
    assert child.address_space.pages[private][1] == RW
    assert mf.allocated_pages == used + 1

    mm.copy_out(private, b"parent")  # the parent writes: it gets its own copy
    assert child.copy_in(private, 6) == b"before"
    assert mm.copy_in(private, 6) == b"parent"
    assert child.handle_fault(private, AccessType.WRITE)  # last owner: no copy needed
    child.copy_out(private, b"child!")
    assert mm.copy_in(private, 6) == b"parent"

    child.copy_out(shared, b"SHARED")  # shared mappings stay shared
    assert mm.copy_in(shared, 6) == b"SHARED"
    assert [r.perms for r in child.vmas()] == [r.perms for r in mm.vmas()]

    child.release()
    assert all(mf.refcount(off) == 1 for off in mm._pages.values())


def test_fork_hot_windows_are_the_childs_own_and_stay_writable_in_the_parent(mm, mf):
    """``fork(hot=...)``: the windows a fork's two sides touch first (stack,
    TLS, text) are mirrored in the child at once; in writable private
    memory the child gets copies, so the parent keeps writing without a
    copy-on-write fault. Everything else is copy-on-write as usual."""
    region = mm.mmap(0, 32 * PAGE_SIZE, RW, ANON)  # two fault-around windows
    cold = region + 20 * PAGE_SIZE
    shared = mm.mmap(0, PAGE_SIZE, RW, MAP_SHARED | MAP_ANONYMOUS)
    mm.copy_out(region, b"hot")
    mm.copy_out(cold, b"cold")
    assert mm.handle_fault(region, AccessType.WRITE)
    assert mm.handle_fault(cold, AccessType.WRITE)
    parent_offset = mm.address_space.pages[region][0]

    child = mm.fork(RecordingAddressSpace(), hot=(region + 100, shared, HI + PAGE_SIZE))

    assert mm.address_space.pages[region] == (parent_offset, RW)  # still writable
    assert cold not in mm.address_space.pages  # write-protected: its next write faults
    child_offset, prot = child.address_space.pages[region]
    assert prot == RW and child_offset != parent_offset
    assert mf.refcount(parent_offset) == mf.refcount(child_offset) == 1
    assert mf.refcount(mm._pages[cold]) == 2  # still shared copy-on-write
    assert cold not in child.address_space.pages
    assert child.address_space.pages[shared][1] == RW  # mirrored, the same page
    assert child.address_space.pages[shared][0] == mm._pages[shared]

    mm.copy_out(region, b"PAR")
    child.copy_out(region + 1, b"C")
    assert (mm.copy_in(region, 3), child.copy_in(region, 3)) == (b"PAR", b"hCt")
    child.release()
    assert all(mf.refcount(off) == 1 for off in mm._pages.values())


class _FullHostAddressSpace(RecordingAddressSpace):
    """The host refuses every mapping, as when the sandbox's memory cgroup is full."""

    def map_file(self, addr: int, length: int, offset: int, prot: int) -> None:
        import errno

        raise OSError(errno.ENOMEM, "stub mmap: Cannot allocate memory")


def test_host_refusing_to_mirror_is_enomem_not_a_sentry_bug(mf):
    m = MemoryManager(mf, _FullHostAddressSpace(), LO, HI)
    try:
        addr = m.mmap(0, PAGE_SIZE, RW, ANON)
        with pytest.raises(ENOMEM):
            m.handle_fault(addr, AccessType.WRITE)
    finally:
        m.release()


def test_multi_page_copies_take_the_fast_path_but_still_break_copy_on_write(mm, mf):
    base = mm.mmap(0, 4 * PAGE_SIZE, RW, ANON)
    data = bytes(range(256)) * (3 * PAGE_SIZE // 256)
    mm.copy_out(base + 100, data)  # populates the pages as one run
    assert mm._fast_runs(base + 100, len(data), True, False, PROT_WRITE) == [
        (mm._pages[base] + 100, len(data))
    ]
    assert mm.copy_in(base + 100, len(data)) == data
    child = mm.fork(RecordingAddressSpace())
    # Shared after fork: a write may not use the fast path (no copy made).
    assert mm._fast_runs(base + 100, len(data), True, False, PROT_WRITE) is None
    mm.copy_out(base + 100, b"p" * len(data))
    assert child.copy_in(base + 100, len(data)) == data
    assert mm.copy_in(base + 100, len(data)) == b"p" * len(data)
    child.release()


def test_fast_path_merges_scattered_pages_into_runs(mm, mf):
    base = mm.mmap(0, 4 * PAGE_SIZE, RW, ANON)
    for page in (base + 2 * PAGE_SIZE, base, base + PAGE_SIZE, base + 3 * PAGE_SIZE):
        mm.copy_out(page, b"x")  # one page at a time, out of order
    pages = [mm._pages[base + i * PAGE_SIZE] for i in range(4)]
    n = 3 * PAGE_SIZE + 10
    pieces = [(pages[0] + 5, PAGE_SIZE - 5), (pages[1], PAGE_SIZE), (pages[2], PAGE_SIZE)]
    pieces.append((pages[3], 15))
    expected: list[tuple[int, int]] = []
    for off, length in pieces:  # merged where consecutive in the MemoryFile
        if expected and sum(expected[-1]) == off:
            expected[-1] = (expected[-1][0], expected[-1][1] + length)
        else:
            expected.append((off, length))
    assert len(expected) > 1  # the pages really are scattered
    assert mm._fast_runs(base + 5, n, False, False, PROT_READ) == expected
    data = bytes(i % 251 for i in range(n))
    mm.copy_out(base + 5, data)
    assert mm.copy_in(base + 5, n) == data


def test_fast_path_spans_adjacent_mappings_but_not_holes(mm, mf):
    base = mm.mmap(0, 4 * PAGE_SIZE, RW, ANON)
    mm.mprotect(base + 2 * PAGE_SIZE, 2 * PAGE_SIZE, PROT_RWX)  # two VMAs now
    mm.copy_out(base, b"y" * 4 * PAGE_SIZE)
    assert len(list(mm.vmas())) == 2
    runs = mm._fast_runs(base + 1, 4 * PAGE_SIZE - 2, True, False, PROT_WRITE)
    assert runs is not None and sum(length for _, length in runs) == 4 * PAGE_SIZE - 2
    mm.munmap(base + PAGE_SIZE, PAGE_SIZE)  # a hole
    assert mm._fast_runs(base + 1, 4 * PAGE_SIZE - 2, False, False, PROT_READ) is None
    with pytest.raises(EFAULT):
        mm.copy_in(base + 1, 4 * PAGE_SIZE - 2)


def test_a_read_of_shared_pages_does_not_fail_when_memory_is_full():
    small = MemoryFile(size=4 * PAGE_SIZE)
    try:
        m = MemoryManager(small, RecordingAddressSpace(), LO, HI)
        base = m.mmap(0, 2 * PAGE_SIZE, RW, ANON)
        m.copy_out(base, b"a" * 2 * PAGE_SIZE)
        space = RecordingAddressSpace()
        child = m.fork(space)
        filler = child.mmap(0, 2 * PAGE_SIZE, RW, ANON)
        child.copy_out(filler, b"f" * 2 * PAGE_SIZE)  # the MemoryFile is full now
        assert small.allocated_pages == 4
        # No room to copy the window: the read maps the shared pages read-only.
        assert child.handle_fault(base, AccessType.READ)
        assert space.pages[base][1] == PROT_READ
        assert child.copy_in(base, 2) == b"aa"
        child.release()
        m.release()
    finally:
        small.close()


def test_copy_out_of_a_word_view_across_pages_takes_the_general_path(mm):
    addr = mm.mmap(0, 3 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    mm.copy_out(addr, bytes(3 * PAGE_SIZE))  # every page present
    words = memoryview(bytearray(b"\x01\x02\x03\x04" * 2048)).cast("I")
    mm.copy_out(addr + 100, words)
    assert mm.copy_in(addr + 100, 8192) == b"\x01\x02\x03\x04" * 2048
    assert mm.copy_in(addr, 100) == bytes(100)


def test_copy_in_of_present_pages_honours_a_later_mprotect(mm):
    addr = mm.mmap(0, 2 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    mm.copy_out(addr, b"q" * (2 * PAGE_SIZE))
    mm.mprotect(addr + PAGE_SIZE, PAGE_SIZE, PROT_NONE)
    with pytest.raises(EFAULT):
        mm.copy_in(addr + 100, PAGE_SIZE)
    assert mm.copy_in(addr + 100, PAGE_SIZE - 100) == b"q" * (PAGE_SIZE - 100)
