"""AF_NETLINK NETLINK_ROUTE, host backed and read-only (gVisor serves
route dumps from its own stack; hostinet mode reads the sandbox's network
namespace, as here).

The socket is a host netlink socket in the sandbox's network namespace, so
dumps show the container's links, addresses, routes and neighbours (what
``ip addr``, ``ip route`` and glibc's getifaddrs ask for). Every message
the application sends is parsed first: only RTM_GET* requests reach the
host; a request that would change the namespace (RTM_NEW*, RTM_DEL*,
RTM_SET*) fails with EPERM, as for a process without CAP_NET_ADMIN.
"""

from __future__ import annotations

import struct
from typing import Any

from sentry.abi.errors import EINVAL, ENOPROTOOPT, EPERM
from sentry.abi.socket import SOL_NETLINK, SOL_SOCKET
from sentry.hostsys import net
from sentry.socket.hostinet import HostSocket, host_call
from sentry.socket.socket import Control

#: struct nlmsghdr: len, type, flags, seq, pid.
NLMSGHDR = struct.Struct("<IHHII")
#: include/uapi/linux/netlink.h: control messages below RTM_BASE.
NLMSG_NOOP = 1
NLMSG_MIN_TYPE = 0x10
#: include/uapi/linux/rtnetlink.h: RTM_BASE and RTM_MAX.
RTM_BASE = 16
RTM_MAX = 0x7F

#: SOL_NETLINK options passed through (read-side behaviour only).
NETLINK_OPTIONS = {
    1: 4,  # NETLINK_ADD_MEMBERSHIP
    2: 4,  # NETLINK_DROP_MEMBERSHIP
    3: 4,  # NETLINK_PKTINFO
    4: 4,  # NETLINK_BROADCAST_ERROR
    5: 4,  # NETLINK_NO_ENOBUFS
    10: 4,  # NETLINK_CAP_ACK
    11: 4,  # NETLINK_EXT_ACK
    12: 4,  # NETLINK_GET_STRICT_CHK
}
#: SOL_SOCKET options of a netlink socket: buffer sizes and the read-only ones.
SOCKET_OPTIONS = {7: 4, 8: 4, 3: 4, 4: 4, 16: 4, 32: 4, 33: 4, 38: 4, 39: 4}


def is_read_only(data: bytes) -> bool:
    """Whether every message in ``data`` is a query (rtnetlink's GET
    operations are the types with (type - RTM_BASE) % 4 == 2)."""
    off = 0
    while off + NLMSGHDR.size <= len(data):
        length, mtype, _, _, _ = NLMSGHDR.unpack_from(data, off)
        if length < NLMSGHDR.size:
            return True  # the host rejects the malformed rest
        if mtype >= NLMSG_MIN_TYPE and (mtype > RTM_MAX or (mtype - RTM_BASE) % 4 != 2):
            return False
        off += (length + 3) & ~3
    return True


class NetlinkRouteSocket(HostSocket):
    """A NETLINK_ROUTE socket that may only ask."""

    def sendmsg(  # noqa: PLR0917
        self, t: Any, data: bytes, flags: int, addr: bytes | None, control: Control, nonblock: bool
    ) -> int:
        if not is_read_only(data):
            raise EPERM("netlink: the sandbox's network configuration is read-only")
        return super().sendmsg(t, data, flags, addr, control, nonblock)

    def connect(self, t: Any, addr: bytes, nonblock: bool) -> None:
        host_call(net.connect, self.fd, addr)

    def getsockopt(self, t: Any, level: int, name: int, size: int) -> bytes:
        table = NETLINK_OPTIONS if level == SOL_NETLINK else SOCKET_OPTIONS
        if level not in (SOL_NETLINK, SOL_SOCKET) or name not in table:
            raise ENOPROTOOPT
        return host_call(net.getsockopt, self.fd, level, name, min(size, table[name]))

    def setsockopt(self, t: Any, level: int, name: int, value: bytes) -> None:
        table = NETLINK_OPTIONS if level == SOL_NETLINK else SOCKET_OPTIONS
        if level not in (SOL_NETLINK, SOL_SOCKET) or name not in table:
            raise ENOPROTOOPT
        if len(value) < table[name]:
            raise EINVAL
        host_call(net.setsockopt, self.fd, level, name, value[: table[name]])
