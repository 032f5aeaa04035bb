"""Small stand-ins for the kernel's objects (the contract attributes only)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from sentry.abi.errors import EFAULT, ENAMETOOLONG
from sentry.vfs import FDTable, FSContext, VirtualFilesystem

FULL_CAPS = frozenset(range(41))


@dataclass
class FakeCreds:
    """Credentials with the attributes the VFS reads."""

    uid: int = 0
    gid: int = 0
    groups: tuple[int, ...] = ()
    caps: frozenset[int] = frozenset()

    @classmethod
    def root(cls) -> FakeCreds:
        return cls(0, 0, (), FULL_CAPS)

    @property
    def euid(self) -> int:
        return self.uid

    @property
    def egid(self) -> int:
        return self.gid

    @property
    def suid(self) -> int:
        return self.uid

    @property
    def sgid(self) -> int:
        return self.gid

    @property
    def fsuid(self) -> int:
        return self.uid

    @property
    def fsgid(self) -> int:
        return self.gid

    def has_capability(self, cap: int) -> bool:
        return cap in self.caps


class FakeMM:
    """User memory: a bytearray mapped at ``base``; anything else is EFAULT."""

    def __init__(self, size: int = 1 << 20, base: int = 0x10000) -> None:
        self.base = base
        self.mem = bytearray(size)
        self.brk = base + 4096  # allocation cursor for tests

    def _span(self, addr: int, n: int) -> int:
        off = addr - self.base
        if addr < self.base or n < 0 or off + n > len(self.mem):
            raise EFAULT
        return off

    def copy_in(self, addr: int, n: int) -> bytes:
        off = self._span(addr, n)
        return bytes(self.mem[off : off + n])

    def copy_out(self, addr: int, data: bytes) -> None:
        off = self._span(addr, len(data))
        self.mem[off : off + len(data)] = data

    def copy_in_string(self, addr: int, maxlen: int) -> bytes:
        out = bytearray()
        while len(out) < maxlen:
            b = self.copy_in(addr + len(out), 1)
            if b == b"\0":
                return bytes(out)
            out += b
        raise ENAMETOOLONG

    def copy_in_strings(self, addrs: list[int], maxlen: int) -> list[bytes]:
        return [self.copy_in_string(addr, maxlen) for addr in addrs]

    def copy_in_iovecs(self, addr: int, count: int) -> list[tuple[int, int]]:
        raw = self.copy_in(addr, 16 * count)
        return [struct.unpack_from("<QQ", raw, 16 * i) for i in range(count)]

    # helpers for tests
    def alloc(self, data: bytes | int) -> int:
        n = data if isinstance(data, int) else len(data)
        addr = self.brk
        self.brk += (n + 15) & ~15
        if not isinstance(data, int):
            self.copy_out(addr, data)
        return addr

    def cstr(self, s: bytes | str) -> int:
        if isinstance(s, str):
            s = s.encode()
        return self.alloc(s + b"\0")


@dataclass
class FakeKernel:
    vfs: VirtualFilesystem
    tasks: dict[int, Any] = field(default_factory=dict)
    boot_time: float = 0.0
    uts: Any = None


@dataclass
class FakeTask:
    """A task with the attributes the file syscalls use."""

    kernel: FakeKernel
    fs: FSContext
    creds: FakeCreds
    mm: FakeMM = field(default_factory=FakeMM)
    fd_table: FDTable = field(default_factory=FDTable)
    tid: int = 1
    tgid: int = 1
    comm: str = "test"
    exe: str = "/bin/test"
    rlimits: Any = None

    def ppid(self) -> int:
        return 0
