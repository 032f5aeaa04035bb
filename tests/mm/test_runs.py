"""``sentry.mm._runs``: the C run lookups behind ``MemoryManager._fast_runs`` and ``_mirror``."""

from sentry.abi.mm import PAGE_SIZE
from sentry.mm._runs import copy_in_present, copy_out_present, mirror_runs, present_runs

BASE = 0x400000


def test_contiguous_pages_are_one_run_from_the_offset_in_the_first_page():
    pages = {BASE + i * PAGE_SIZE: 10 * PAGE_SIZE + i * PAGE_SIZE for i in range(3)}
    assert present_runs(pages, BASE + 100, 2 * PAGE_SIZE, None) == [
        (10 * PAGE_SIZE + 100, 2 * PAGE_SIZE)
    ]


def test_scattered_pages_split_into_runs_with_the_right_lengths():
    # Pages 0 and 1 consecutive in the MemoryFile, page 2 elsewhere, page 3
    # right after page 2.
    offsets = [5 * PAGE_SIZE, 6 * PAGE_SIZE, 40 * PAGE_SIZE, 41 * PAGE_SIZE]
    pages = {BASE + i * PAGE_SIZE: off for i, off in enumerate(offsets)}
    n = 3 * PAGE_SIZE  # from 768 into page 0 to 768 into page 3
    runs = present_runs(pages, BASE + 768, n, {})
    assert runs == [(5 * PAGE_SIZE + 768, 2 * PAGE_SIZE - 768), (40 * PAGE_SIZE, PAGE_SIZE + 768)]
    assert sum(length for _, length in runs) == n


def test_within_one_page():
    pages = {BASE: 7 * PAGE_SIZE}
    assert present_runs(pages, BASE + 10, 20, None) == [(7 * PAGE_SIZE + 10, 20)]


def test_an_absent_page_gives_none():
    pages = {BASE: 0, BASE + 2 * PAGE_SIZE: 2 * PAGE_SIZE}
    assert present_runs(pages, BASE, 3 * PAGE_SIZE, None) is None


def test_a_shared_page_gives_none_only_when_shared_is_given():
    pages = {BASE: 0, BASE + PAGE_SIZE: 9 * PAGE_SIZE}
    shared = {9: 2}
    assert present_runs(pages, BASE, 2 * PAGE_SIZE, shared) is None
    assert present_runs(pages, BASE, 2 * PAGE_SIZE, None) == [
        (0, PAGE_SIZE),
        (9 * PAGE_SIZE, PAGE_SIZE),
    ]
    assert present_runs(pages, BASE, 2 * PAGE_SIZE, {3: 2}) == [
        (0, PAGE_SIZE),
        (9 * PAGE_SIZE, PAGE_SIZE),
    ]


def test_mirror_runs_skip_holes_and_split_on_copy_on_write() -> None:
    P = 4096
    pages = {0x10000: 0, 0x11000: P, 0x12000: 2 * P, 0x14000: 3 * P, 0x15000: 9 * P}
    # page 0x12000's MemoryFile page (index 2) is shared: mapped without write
    runs = mirror_runs(pages, 0x10000, 0x16000, {2: 2})
    assert runs == [
        (0x10000, 2 * P, 0, False),
        (0x12000, P, 2 * P, True),
        (0x14000, P, 3 * P, False),  # a hole before it, and not contiguous after it
        (0x15000, P, 9 * P, False),
    ]
    assert mirror_runs(pages, 0x10000, 0x13000, None) == [(0x10000, 3 * P, 0, False)]
    assert mirror_runs(pages, 0x20000, 0x22000, None) == []


def _memory(n_pages: int) -> bytearray:
    return bytearray(bytes(range(256)) * (n_pages * PAGE_SIZE // 256))


def test_copy_in_present_follows_scattered_pages():
    memory = _memory(50)
    offsets = [5 * PAGE_SIZE, 6 * PAGE_SIZE, 40 * PAGE_SIZE, 41 * PAGE_SIZE]
    pages = {BASE + i * PAGE_SIZE: off for i, off in enumerate(offsets)}
    memory[5 * PAGE_SIZE + 768 : 7 * PAGE_SIZE] = b"a" * (2 * PAGE_SIZE - 768)
    memory[40 * PAGE_SIZE : 41 * PAGE_SIZE + 768] = b"b" * (PAGE_SIZE + 768)
    data = copy_in_present(pages, BASE + 768, 3 * PAGE_SIZE, memoryview(memory))
    assert data == b"a" * (2 * PAGE_SIZE - 768) + b"b" * (PAGE_SIZE + 768)


def test_copy_in_present_gives_none_for_an_absent_page_or_nothing_to_copy():
    memory = memoryview(_memory(4))
    pages = {BASE: 0, BASE + 2 * PAGE_SIZE: 2 * PAGE_SIZE}
    assert copy_in_present(pages, BASE, 3 * PAGE_SIZE, memory) is None
    assert copy_in_present(pages, BASE, 0, memory) is None
    assert copy_in_present(pages, BASE + 10, 20, memory) == bytes(range(10, 30))


def test_copy_out_present_writes_across_pages_or_nothing():
    memory = _memory(50)
    before = bytes(memory)
    pages = {BASE: 3 * PAGE_SIZE, BASE + PAGE_SIZE: 30 * PAGE_SIZE}
    data = b"z" * (PAGE_SIZE + 100)
    assert copy_out_present(pages, BASE + 50, data, memoryview(memory), None)
    assert memory[3 * PAGE_SIZE + 50 : 4 * PAGE_SIZE] == b"z" * (PAGE_SIZE - 50)
    assert memory[30 * PAGE_SIZE : 30 * PAGE_SIZE + 150] == b"z" * 150
    assert memory[30 * PAGE_SIZE + 150 :] == before[30 * PAGE_SIZE + 150 :]
    # A copy-on-write page or an absent one: nothing is written.
    memory[:] = before
    assert not copy_out_present(pages, BASE, data, memoryview(memory), {30: 2})
    assert not copy_out_present(pages, BASE, b"y" * (3 * PAGE_SIZE), memoryview(memory), None)
    assert bytes(memory) == before


def test_copy_out_present_refuses_a_buffer_that_is_not_flat_bytes():
    memory = memoryview(_memory(2))
    pages = {BASE: 0}
    words = memoryview(bytearray(16)).cast("I")
    try:
        copy_out_present(pages, BASE, words, memory, None)
    except ValueError:
        pass  # MemoryManager.copy_out falls back to its general path
    else:
        raise AssertionError("a uint32 view was taken as bytes")
