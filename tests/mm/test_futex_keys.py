"""Futex keys and the word update of MemoryManager (what sys_futex and the
robust-list walk use)."""

import pytest

from sentry.abi.errors import EFAULT, EINVAL
from sentry.abi.mm import MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PAGE_SIZE, PROT_READ, PROT_WRITE
from sentry.memory import MemoryFile
from sentry.mm import MemoryManager

from .fakes import BytesMappable, RecordingAddressSpace

LO = 0x10000
HI = 0x7F0000000000
RW = PROT_READ | PROT_WRITE


@pytest.fixture
def mf():
    f = MemoryFile(size=1 << 28)
    yield f
    f.close()


@pytest.fixture
def mm(mf):
    m = MemoryManager(mf, RecordingAddressSpace(), LO, HI)
    yield m
    m.release()


def test_private_keys_are_per_mm_and_address(mm, mf):
    addr = mm.mmap(0, PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    assert mm.futex_key(addr, private=True) == mm.futex_key(addr, private=False)
    child = mm.fork(RecordingAddressSpace())
    try:
        assert child.futex_key(addr, private=False) != mm.futex_key(addr, private=False)
    finally:
        child.release()


def test_shared_anonymous_memory_meets_across_fork(mm):
    addr = mm.mmap(0, 2 * PAGE_SIZE, RW, MAP_SHARED | MAP_ANONYMOUS)
    child = mm.fork(RecordingAddressSpace())
    try:
        word = addr + PAGE_SIZE + 8
        assert child.futex_key(word, private=False) == mm.futex_key(word, private=False)
        assert mm.futex_key(word, private=False) != mm.futex_key(word + 4, private=False)
        # FUTEX_PRIVATE_FLAG keeps them apart even in shared memory
        assert child.futex_key(word, private=True) != mm.futex_key(word, private=True)
    finally:
        child.release()


def test_one_file_mapped_twice_meets(mm):
    data = BytesMappable(bytes(2 * PAGE_SIZE))
    a = mm.mmap(0, 2 * PAGE_SIZE, RW, MAP_SHARED, mappable=data)
    b = mm.mmap(0, PAGE_SIZE, RW, MAP_SHARED, mappable=data, offset=PAGE_SIZE)
    assert mm.futex_key(a + PAGE_SIZE + 4, private=False) == mm.futex_key(b + 4, private=False)


def test_shared_key_of_unmapped_address_faults(mm):
    with pytest.raises(EFAULT):
        mm.futex_key(LO + PAGE_SIZE, private=False)
    mm.futex_key(LO + PAGE_SIZE, private=True)  # Linux does not look


def test_update_u32(mm):
    addr = mm.mmap(0, PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    mm.copy_out(addr, (7).to_bytes(4, "little"))
    assert mm.update_u32(addr, lambda v: v | 0x40000000) == 7
    assert mm.copy_in(addr, 4) == (0x40000007).to_bytes(4, "little")
    with pytest.raises(EINVAL):
        mm.update_u32(addr + 1, lambda v: v)
    ro = mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)
    with pytest.raises(EFAULT):
        mm.update_u32(ro, lambda v: v)
