"""socket(2) and socketpair(2) dispatch by family, type and protocol
(net/socket.c __sock_create and each family's create function)."""

from __future__ import annotations

from typing import Any

from sentry.abi.errors import EAFNOSUPPORT, EINVAL, EOPNOTSUPP, EPROTONOSUPPORT, ESOCKTNOSUPPORT
from sentry.abi.socket import (
    AF_INET,
    AF_INET6,
    AF_NETLINK,
    AF_UNIX,
    NETLINK_ROUTE,
    SOCK_DGRAM,
    SOCK_RAW,
    SOCK_SEQPACKET,
    SOCK_STREAM,
)
from sentry.socket import hostinet
from sentry.socket.hostinet import HostSocket
from sentry.socket.netlink import NetlinkRouteSocket
from sentry.socket.socket import SocketImpl
from sentry.socket.unix.endpoint import UnixSocket, socketpair

#: include/linux/net.h SOCK_MAX: types above it are EINVAL.
SOCK_MAX = 11


def new_socket(kernel: Any, family: int, type_: int, protocol: int) -> SocketImpl:
    """A new socket, or the errno Linux gives for the combination."""
    if type_ < 0 or type_ >= SOCK_MAX:
        raise EINVAL
    if family == AF_UNIX:
        if protocol not in (0, AF_UNIX):
            raise EPROTONOSUPPORT
        if type_ == SOCK_RAW:
            type_ = SOCK_DGRAM  # unix_create: a raw Unix socket is a datagram one
        if type_ not in (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET):
            raise ESOCKTNOSUPPORT
        return UnixSocket(kernel, type_)
    if family in (AF_INET, AF_INET6):
        hostinet.check_protocol(type_, protocol)
        return HostSocket.create(family, type_, protocol)
    if family == AF_NETLINK:
        if type_ not in (SOCK_RAW, SOCK_DGRAM):
            raise ESOCKTNOSUPPORT
        if protocol != NETLINK_ROUTE:
            raise EPROTONOSUPPORT
        sock = NetlinkRouteSocket.create(family, type_, protocol)
        return sock
    raise EAFNOSUPPORT


def new_socketpair(
    kernel: Any, family: int, type_: int, protocol: int, t: Any
) -> tuple[SocketImpl, SocketImpl]:
    """socketpair(2): Unix sockets only (EOPNOTSUPP for inet, as Linux)."""
    if type_ < 0 or type_ >= SOCK_MAX:
        raise EINVAL
    if family == AF_UNIX:
        if protocol not in (0, AF_UNIX):
            raise EPROTONOSUPPORT
        if type_ == SOCK_RAW:
            type_ = SOCK_DGRAM
        if type_ not in (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET):
            raise ESOCKTNOSUPPORT
        return socketpair(kernel, type_, t)
    if family in (AF_INET, AF_INET6):
        hostinet.check_protocol(type_, protocol)
        raise EOPNOTSUPP
    if family == AF_NETLINK:
        raise EOPNOTSUPP
    raise EAFNOSUPPORT
