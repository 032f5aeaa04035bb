"""A ``Mappable`` over any seekable FileImpl (what mm maps a file through)."""

from __future__ import annotations

from sentry.vfs.inode import FileImpl


class ImplMappable:
    """Adapts a seekable FileImpl to the Mappable protocol."""

    def __init__(self, impl: FileImpl, name: str, ids: tuple[int, int]) -> None:
        self._impl = impl
        self._name = name
        self._ids = ids
        # Offered only when the impl can tell whether its bytes changed:
        # mm then caches the file's pages for private mappings
        # (sentry.mm.private_cache).
        stamp = getattr(impl, "content_stamp", None)
        if stamp is not None:
            self.content_stamp = stamp

    def read_at(self, offset: int, length: int) -> bytes:
        return self._impl.read(offset, length)

    def read_into(self, offset: int, buf: memoryview) -> int:
        """Fill ``buf`` from ``offset`` (short at end of file); the host
        reads straight into it when the file is a host file."""
        direct = getattr(self._impl, "read_into", None)
        if direct is not None:
            n: int = direct(offset, buf)
            return n
        data = self._impl.read(offset, len(buf))
        buf[: len(data)] = data
        return len(data)

    def write_at(self, offset: int, data: bytes) -> int:
        return self._impl.write(offset, data)

    def size(self) -> int:
        return self._impl.size()

    def map_name(self) -> str:
        return self._name

    def map_ids(self) -> tuple[int, int]:
        return self._ids
