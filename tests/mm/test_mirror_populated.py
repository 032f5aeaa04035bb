"""``MemoryManager.mirror_populated``: exec maps what the loader wrote
before the program runs, with the protections a fault would give."""

from sentry.abi.mm import MAP_ANONYMOUS, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE
from sentry.memory import MemoryFile
from sentry.mm import MemoryManager

from .fakes import RecordingAddressSpace

RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS


def test_populated_pages_are_mirrored_in_runs_and_shared_ones_read_only():
    mf = MemoryFile(size=1 << 26)
    space = RecordingAddressSpace()
    mm = MemoryManager(mf, space, 0x10000, 0x7F0000000000)
    a = mm.mmap(0, 8 * PAGE_SIZE, RW, ANON)
    b = mm.mmap(0, 2 * PAGE_SIZE, PROT_READ, ANON)
    mm.copy_out(a + PAGE_SIZE, bytes(2 * PAGE_SIZE))  # pages 1 and 2
    mm.copy_out(a + 6 * PAGE_SIZE, b"x")  # page 6
    mm.copy_out(b, b"y", force=True)
    assert not space.pages
    mm.mirror_populated()
    assert sorted(space.pages) == sorted([a + PAGE_SIZE, a + 2 * PAGE_SIZE, a + 6 * PAGE_SIZE, b])
    assert {space.pages[p][1] for p in (a + PAGE_SIZE, a + 6 * PAGE_SIZE)} == {RW}
    assert space.pages[b][1] == PROT_READ
    # After a fork the parent's writable pages are shared: mirrored read-only.
    child_space = RecordingAddressSpace()
    child = mm.fork(child_space)
    child.mirror_populated()
    assert child_space.pages[a + PAGE_SIZE][1] == PROT_READ
    child.release()
    mm.release()
    assert mf.allocated_pages == 0
    mf.close()


def test_mprotect_of_a_small_range_remirrors_present_pages_at_once():
    mf = MemoryFile(size=1 << 26)
    space = RecordingAddressSpace()
    mm = MemoryManager(mf, space, 0x10000, 0x7F0000000000)
    a = mm.mmap(0, 4 * PAGE_SIZE, RW, ANON)
    mm.copy_out(a, b"x")  # page 0 present
    mm.mirror_populated()
    mm.mprotect(a, 2 * PAGE_SIZE, PROT_READ)
    assert space.pages == {a: (space.pages[a][0], PROT_READ)}  # page 1 absent: not mapped
    # The VMAs stay merged: one per protection.
    assert [(v.start, v.end, v.perms) for v in mm.vmas()] == [
        (a, a + 2 * PAGE_SIZE, "r--p"),
        (a + 2 * PAGE_SIZE, a + 4 * PAGE_SIZE, "rw-p"),
    ]
    mm.mprotect(a, 2 * PAGE_SIZE, 0)
    assert not space.pages
    mm.release()
    mf.close()
