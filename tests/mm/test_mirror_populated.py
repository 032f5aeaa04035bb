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


def test_populate_image_fills_the_first_window_of_each_mapping_and_the_entrys():
    """exec populates the windows a new program touches at once (the text
    window at its entry, the first of every other accessible mapping) so
    ``mirror_populated`` maps them before its first instruction; a
    PROT_NONE mapping and a stack (grows down) are left alone."""
    from sentry.abi.mm import MAP_GROWSDOWN, PROT_EXEC, PROT_NONE
    from sentry.mm.memory_manager import FAULT_AROUND_PAGES, FILE_FAULT_AROUND_PAGES

    from .fakes import BytesMappable

    mf = MemoryFile(size=1 << 26)
    space = RecordingAddressSpace()
    mm = MemoryManager(mf, space, 0x10000, 0x7F0000000000)
    size = 200 * PAGE_SIZE
    text_file = BytesMappable(b"\x90" * size)
    text = mm.mmap(0, size, PROT_READ | PROT_EXEC, MAP_PRIVATE, mappable=text_file)
    data = mm.mmap(0, 100 * PAGE_SIZE, RW, MAP_PRIVATE, mappable=BytesMappable(b"d" * 4096))
    bss = mm.mmap(0, 40 * PAGE_SIZE, RW, ANON)
    guard = mm.mmap(0, 4 * PAGE_SIZE, PROT_NONE, ANON)
    stack = mm.mmap(0, 8 * PAGE_SIZE, RW, ANON | MAP_GROWSDOWN)
    entry = text + 150 * PAGE_SIZE + 12

    mm.populate_image(entry)
    mm.mirror_populated()

    mapped = set(space.pages)
    window = FILE_FAULT_AROUND_PAGES * PAGE_SIZE  # a file without content stamps
    text_window = text + 2 * window  # the entry's, not the mapping's first
    assert all(p in mapped for p in range(text_window, text_window + window, PAGE_SIZE))
    assert text not in mapped and text_window - PAGE_SIZE not in mapped
    assert all(data + i * PAGE_SIZE in mapped for i in range(FILE_FAULT_AROUND_PAGES))
    assert data + FILE_FAULT_AROUND_PAGES * PAGE_SIZE not in mapped
    assert all(bss + i * PAGE_SIZE in mapped for i in range(FAULT_AROUND_PAGES))
    assert bss + FAULT_AROUND_PAGES * PAGE_SIZE not in mapped
    assert not any(p in mapped for p in range(guard, guard + 4 * PAGE_SIZE, PAGE_SIZE))
    assert not any(p in mapped for p in range(stack, stack + 8 * PAGE_SIZE, PAGE_SIZE))
    assert mm.copy_in(data, 2) == b"dd" and mm.copy_in(entry, 1) == b"\x90"
    mm.release()
    mf.close()
