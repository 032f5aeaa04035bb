"""struct sockaddr_un: parsing and encoding (net/unix/af_unix.c
unix_validate_addr, unix_mkname_bsd, unix_getname)."""

from __future__ import annotations

from typing import NamedTuple

from sentry.abi.errors import EINVAL
from sentry.abi.socket import AF_UNIX, SOCKADDR_UN_SIZE

_FAMILY_SIZE = 2


class UnixAddress(NamedTuple):
    """A bound name: abstract (``name`` without the leading NUL) or a path."""

    abstract: bool
    name: bytes

    def encode(self) -> bytes:
        """The sockaddr_un getsockname/accept/recvfrom report: abstract names
        are exact, paths carry their NUL (unix_bind_bsd's addr_len)."""
        family = AF_UNIX.to_bytes(2, "little")
        if self.abstract:
            return family + b"\0" + self.name
        return family + self.name + b"\0"


#: An unbound socket's name: just the family.
UNNAMED = AF_UNIX.to_bytes(2, "little")


def is_autobind(raw: bytes) -> bool:
    """bind(2) with only sun_family asks for an autobound abstract name."""
    return len(raw) == _FAMILY_SIZE and int.from_bytes(raw[:2], "little") == AF_UNIX


def parse(raw: bytes) -> UnixAddress:
    """A sockaddr_un from the application; EINVAL for a bad length or family."""
    if len(raw) <= _FAMILY_SIZE or len(raw) > SOCKADDR_UN_SIZE:
        raise EINVAL
    if int.from_bytes(raw[:2], "little") != AF_UNIX:
        raise EINVAL
    path = raw[2:]
    if path[0] == 0:
        return UnixAddress(True, path[1:])
    # A path ends at its first NUL (or at the given length).
    end = path.find(b"\0")
    if end >= 0:
        path = path[:end]
    return UnixAddress(False, path)
