"""Host socket calls for hostinet (socket(7) family on raw buffers).

The Sentry validates every sockaddr, option value and length before it
reaches these wrappers (``sentry.socket``); here they are only copied into
C buffers of exactly the given size, so no application pointer or size is
ever handed to the host. Every wrapper raises ``OSError`` on failure.
"""

from __future__ import annotations

from sentry.hostsys._lib import check, ffi, lib

#: Large enough for any sockaddr (struct sockaddr_storage).
SOCKADDR_MAX = 128


def socket(domain: int, type_: int, protocol: int) -> int:
    """socket(2); the caller adds SOCK_NONBLOCK | SOCK_CLOEXEC."""
    return check(int(lib.socket(domain, type_, protocol)), "socket")


def bind(fd: int, addr: bytes) -> None:
    check(int(lib.bind(fd, addr, len(addr))), "bind")


def listen(fd: int, backlog: int) -> None:
    check(int(lib.listen(fd, backlog)), "listen")


def connect(fd: int, addr: bytes) -> None:
    check(int(lib.connect(fd, addr, len(addr))), "connect")


def accept4(fd: int, flags: int) -> tuple[int, bytes]:
    """accept4(2): the new FD and the peer's address."""
    buf = ffi.new("char[]", SOCKADDR_MAX)
    length = ffi.new("unsigned int *", SOCKADDR_MAX)
    nfd = check(int(lib.accept4(fd, buf, length, flags)), "accept4")
    return nfd, ffi.unpack(buf, min(length[0], SOCKADDR_MAX))


def _name(call: object, fd: int, what: str) -> bytes:
    buf = ffi.new("char[]", SOCKADDR_MAX)
    length = ffi.new("unsigned int *", SOCKADDR_MAX)
    check(int(call(fd, buf, length)), what)  # type: ignore[operator]
    return bytes(ffi.unpack(buf, min(length[0], SOCKADDR_MAX)))


def getsockname(fd: int) -> bytes:
    return _name(lib.getsockname, fd, "getsockname")


def getpeername(fd: int) -> bytes:
    return _name(lib.getpeername, fd, "getpeername")


def sendto(fd: int, data: bytes, flags: int, addr: bytes | None) -> int:
    """sendto(2) of ``data`` (to ``addr`` if given)."""
    if addr is None:
        return check(int(lib.sendto(fd, data, len(data), flags, ffi.NULL, 0)), "sendto")
    return check(int(lib.sendto(fd, data, len(data), flags, addr, len(addr))), "sendto")


def recvfrom(fd: int, n: int, flags: int) -> tuple[int, bytes, bytes]:
    """recvfrom(2) into a fresh buffer of ``n`` bytes: (the call's result,
    the bytes received, the sender's address). The result may exceed the
    bytes (MSG_TRUNC reports a datagram's real length)."""
    buf = ffi.new("char[]", max(n, 1))
    abuf = ffi.new("char[]", SOCKADDR_MAX)
    alen = ffi.new("unsigned int *", SOCKADDR_MAX)
    got = check(int(lib.recvfrom(fd, buf, n, flags, abuf, alen)), "recvfrom")
    data = ffi.unpack(buf, min(got, n))
    return got, data, bytes(ffi.unpack(abuf, min(alen[0], SOCKADDR_MAX)))


def getsockopt(fd: int, level: int, name: int, size: int) -> bytes:
    buf = ffi.new("char[]", max(size, 1))
    length = ffi.new("unsigned int *", size)
    check(int(lib.getsockopt(fd, level, name, buf, length)), "getsockopt")
    return bytes(ffi.unpack(buf, min(length[0], size)))


def setsockopt(fd: int, level: int, name: int, value: bytes) -> None:
    check(int(lib.setsockopt(fd, level, name, value, len(value))), "setsockopt")


def shutdown(fd: int, how: int) -> None:
    check(int(lib.shutdown(fd, how)), "shutdown")


def ioctl_buffer(fd: int, request: int, arg: bytes) -> bytes:
    """An ioctl whose argument is a buffer of ``len(arg)`` bytes read and
    written by the host (SIOCGIFINDEX and friends: struct ifreq)."""
    buf = ffi.new("char[]", arg)
    check(int(lib.ioctl(fd, request, buf)), "ioctl")
    return bytes(ffi.buffer(buf, len(arg)))


def ifconf(fd: int, size: int) -> tuple[int, bytes]:
    """SIOCGIFCONF into a host buffer of ``size`` bytes (none if 0): the
    length the host reports and the ifreq records it wrote."""
    buf = ffi.new("char[]", max(size, 1))
    ptr = int(ffi.cast("unsigned long", buf)) if size else 0
    arg = ffi.new("char[]", 16)
    ffi.memmove(arg, size.to_bytes(4, "little", signed=True) + b"\0" * 4, 8)
    ffi.memmove(arg + 8, ptr.to_bytes(8, "little"), 8)
    check(int(lib.ioctl(fd, SIOCGIFCONF, arg)), "ioctl(SIOCGIFCONF)")
    length = int.from_bytes(ffi.buffer(arg, 4)[:], "little", signed=True)
    return length, bytes(ffi.buffer(buf, min(max(length, 0), size))) if size else b""


#: include/uapi/linux/sockios.h
SIOCGIFCONF = 0x8912
