"""execve's argv/envp arrays: read a page of pointers at a time, never past
the page of the terminating NULL (``sys_execve._strings``)."""

import struct
from types import SimpleNamespace
from typing import Any

import pytest

from sentry.abi.errors import EFAULT
from sentry.abi.mm import MAP_ANONYMOUS, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE
from sentry.memory import MemoryFile
from sentry.mm import MemoryManager
from sentry.syscalls.sys_execve import _strings
from tests.mm.fakes import RecordingAddressSpace

RW = PROT_READ | PROT_WRITE


@pytest.fixture
def mm():
    mf = MemoryFile(size=1 << 26)
    m = MemoryManager(mf, RecordingAddressSpace(), 0x10000, 0x7F0000000000)
    yield m
    m.release()
    mf.close()


def _task(mm: MemoryManager) -> Any:
    return SimpleNamespace(mm=mm)


def _strings_at(mm, base, words):
    mm.copy_out(base, struct.pack(f"<{len(words)}Q", *words))


def test_array_ending_at_a_page_end_before_an_unmapped_page(mm):
    area = mm.mmap(0, 3 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    mm.munmap(area + 2 * PAGE_SIZE, PAGE_SIZE)
    text = area
    mm.copy_out(text, b"one\0two\0")
    # Three words, the NULL the last of the second page; the next page is gone.
    array = area + 2 * PAGE_SIZE - 24
    _strings_at(mm, array, [text, text + 4, 0])
    assert _strings(_task(mm), array) == [b"one", b"two"]


def test_pointers_straddling_pages_and_many_entries(mm):
    area = mm.mmap(0, 4 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    strings = [f"s{i}".encode() for i in range(700)]  # > one page of pointers
    blob = b"".join(s + b"\0" for s in strings)
    mm.copy_out(area, blob)
    addrs, pos = [], area
    for s in strings:
        addrs.append(pos)
        pos += len(s) + 1
    array = area + 2 * PAGE_SIZE - 4  # the first pointer straddles a page boundary
    _strings_at(mm, array, [*addrs, 0])
    assert _strings(_task(mm), array) == strings


def test_a_bad_string_pointer_is_efault(mm):
    area = mm.mmap(0, PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    _strings_at(mm, area, [0x1000, 0])
    with pytest.raises(EFAULT):
        _strings(_task(mm), area)
