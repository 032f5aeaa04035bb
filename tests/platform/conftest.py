"""Fixtures for the platform conformance suite: a MemoryFile stand-in (a memfd
the test owns) and one platform back end per parameter."""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from sentry.arch import Registers
from sentry.platform import AddressSpace, Context, Platform, Trap

PAGE = 4096
#: Where the tests put code and data (well inside every back end's range).
CODE = 0x400000
DATA = 0x600000

#: Back ends the suite runs on (each is probed; a skip prints why).
BACKENDS = ["ptrace", "kvm"]

_probe_cache: dict[str, str | None] = {}


def make_platform(name: str, memory_fd: int) -> Platform:
    """Construct back end ``name`` over ``memory_fd``."""
    if name == "ptrace":
        from sentry.platform.ptrace import PtracePlatform

        # No spare stubs: these tests count the host processes one address
        # space starts and leaves (test_ptrace.py covers the pool).
        return PtracePlatform(memory_fd, spare_stubs=0)
    if name == "kvm":
        from sentry.platform.kvm import KvmPlatform

        return KvmPlatform(memory_fd)
    raise ValueError(f"unknown platform {name!r}")


def probe(name: str) -> str | None:
    """None if back end ``name`` can run code here, else why not."""
    if name in _probe_cache:
        return _probe_cache[name]
    reason: str | None = None
    fd = os.memfd_create("probe")
    try:
        os.ftruncate(fd, PAGE)
        with mmap.mmap(fd, PAGE) as m:
            m[0:2] = b"\x0f\x05"  # syscall
        p = make_platform(name, fd)
        try:
            a = p.new_address_space()
            a.map_file(CODE, PAGE, 0, mmap.PROT_READ | mmap.PROT_EXEC)
            p.new_context().switch(a, Registers(rip=CODE))
        finally:
            p.close()
    except (OSError, RuntimeError, ImportError) as exc:
        reason = f"platform {name} cannot run here: {exc}"
    finally:
        os.close(fd)
    _probe_cache[name] = reason
    return reason


@dataclass
class Machine:
    """A platform, one address space, one context, and a MemoryFile of pages."""

    platform: Platform
    space: AddressSpace
    context: Context
    memory_fd: int
    memory: mmap.mmap
    pages: int
    _next: int = field(default=0)

    def page(self, data: bytes = b"") -> int:
        """Allocate a MemoryFile page holding ``data``; returns its offset."""
        if self._next >= self.pages:
            raise RuntimeError("test MemoryFile is full")
        off = self._next * PAGE
        self._next += 1
        self.memory[off : off + len(data)] = data
        return off

    def map(self, addr: int, offset: int, prot: int, length: int = PAGE) -> None:
        self.space.map_file(addr, length, offset, prot)

    def code(self, code: bytes, addr: int = CODE) -> int:
        """Map ``code`` read+exec at ``addr``; returns addr."""
        self.map(addr, self.page(code), mmap.PROT_READ | mmap.PROT_EXEC)
        return addr

    def run(self, regs: Registers) -> Trap:
        return self.context.switch(self.space, regs)


@pytest.fixture(params=BACKENDS)
def machine(request: pytest.FixtureRequest) -> Iterator[Machine]:
    name: str = request.param
    reason = probe(name)
    if reason is not None:
        pytest.skip(reason)
    pages = 64
    fd = os.memfd_create("test-memory-file")
    os.ftruncate(fd, pages * PAGE)
    mem = mmap.mmap(fd, pages * PAGE)
    platform = make_platform(name, fd)
    m = Machine(platform, platform.new_address_space(), platform.new_context(), fd, mem, pages)
    try:
        yield m
    finally:
        m.context.release()
        m.space.release()
        platform.close()
        mem.close()
        os.close(fd)
