"""Test doubles for mm: an AddressSpace that records what it mirrors and a
Mappable over bytes."""

from __future__ import annotations

from sentry.abi.mm import PAGE_SIZE
from sentry.platform import AddressSpace


class RecordingAddressSpace(AddressSpace):
    """Keeps page -> (MemoryFile offset, prot) like a real mirror would."""

    def __init__(self) -> None:
        self.pages: dict[int, tuple[int, int]] = {}
        self.calls: list[tuple] = []
        self.released = False

    def map_file(self, addr: int, length: int, offset: int, prot: int) -> None:
        assert addr % PAGE_SIZE == 0 and length % PAGE_SIZE == 0 and offset % PAGE_SIZE == 0
        self.calls.append(("map", addr, length, offset, prot))
        for i in range(0, length, PAGE_SIZE):
            self.pages[addr + i] = (offset + i, prot)

    def unmap(self, addr: int, length: int) -> None:
        self.calls.append(("unmap", addr, length))
        for page in range(addr, addr + length, PAGE_SIZE):
            self.pages.pop(page, None)

    def release(self) -> None:
        self.released = True


class BytesMappable:
    """A file whose contents are ``data``."""

    def __init__(self, data: bytes, name: str = "/file", ids: tuple[int, int] = (1, 2)) -> None:
        self.data = bytearray(data)
        self.name = name
        self.ids = ids

    def read_at(self, offset: int, length: int) -> bytes:
        return bytes(self.data[offset : offset + length])

    def write_at(self, offset: int, data: bytes) -> int:
        self.data[offset : offset + len(data)] = data
        return len(data)

    def size(self) -> int:
        return len(self.data)

    def map_name(self) -> str:
        return self.name

    def map_ids(self) -> tuple[int, int]:
        return self.ids


class StampedMappable(BytesMappable):
    """A ``BytesMappable`` that says when its bytes changed, so mm may cache
    its pages for private mappings (``sentry.mm.private_cache``)."""

    def __init__(self, data: bytes, name: str = "/prog", ids: tuple[int, int] = (1, 3)) -> None:
        super().__init__(data, name, ids)
        self.version = 0
        self.reads = 0

    def read_at(self, offset: int, length: int) -> bytes:
        self.reads += 1
        return super().read_at(offset, length)

    def write_at(self, offset: int, data: bytes) -> int:
        self.version += 1
        return super().write_at(offset, data)

    def content_stamp(self) -> tuple[int, int]:
        return (self.version, len(self.data))
