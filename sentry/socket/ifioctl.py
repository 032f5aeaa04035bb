"""Network interface ioctls (net/core/dev_ioctl.c): answered for a socket of
any family, as Linux's sock_ioctl does. glibc asks them on whatever socket
it has at hand, often an AF_UNIX one (if_nametoindex, if_indextoname), so
they are served by one host AF_INET datagram socket in the sandbox's
network namespace that the Sentry keeps for this. Only the query ioctls
are passed; each takes a struct ifreq, except SIOCGIFCONF's struct ifconf
whose buffer the Sentry lends to the host and copies out.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from sentry.abi.errors import EINVAL, ENOTTY, from_oserror
from sentry.abi.socket import (
    AF_INET,
    SIOCGIFADDR,
    SIOCGIFBRDADDR,
    SIOCGIFCONF,
    SIOCGIFFLAGS,
    SIOCGIFHWADDR,
    SIOCGIFINDEX,
    SIOCGIFMTU,
    SIOCGIFNAME,
    SIOCGIFNETMASK,
    SIOCGIFTXQLEN,
    SOCK_DGRAM,
)
from sentry.hostsys import net

#: ioctls on a struct ifreq (40 bytes).
IFREQ_IOCTLS = frozenset(
    {
        SIOCGIFNAME,
        SIOCGIFFLAGS,
        SIOCGIFADDR,
        SIOCGIFBRDADDR,
        SIOCGIFNETMASK,
        SIOCGIFMTU,
        SIOCGIFHWADDR,
        SIOCGIFINDEX,
        SIOCGIFTXQLEN,
    }
)
INTERFACE_IOCTLS = IFREQ_IOCTLS | {SIOCGIFCONF}
IFREQ_SIZE = 40
#: struct ifconf: int ifc_len; (pad); char *ifc_buf.
IFCONF_SIZE = 16
#: The largest SIOCGIFCONF buffer the Sentry lends the host.
IFCONF_MAX = 64 * IFREQ_SIZE

_lock = threading.Lock()
_fd = -1


def _query_fd() -> int:
    global _fd
    with _lock:
        if _fd < 0:
            try:
                _fd = net.socket(AF_INET, SOCK_DGRAM | os.O_CLOEXEC, 0)
            except OSError as exc:
                raise from_oserror(exc) from None
        return _fd


def interface_ioctl(request: int, arg: int, io: Any) -> int:
    """Serve ``request`` (one of INTERFACE_IOCTLS) with user memory ``io``."""
    fd = _query_fd()
    try:
        if request in IFREQ_IOCTLS:
            ifreq = io.copy_in(arg, IFREQ_SIZE)
            io.copy_out(arg, net.ioctl_buffer(fd, request, bytes(ifreq)))
            return 0
        if request == SIOCGIFCONF:
            return _ifconf(fd, arg, io)
    except OSError as exc:
        raise from_oserror(exc) from None
    raise ENOTTY


def _ifconf(fd: int, arg: int, io: Any) -> int:
    raw = io.copy_in(arg, IFCONF_SIZE)
    length = int.from_bytes(raw[:4], "little", signed=True)
    buf = int.from_bytes(raw[8:16], "little")
    if length < 0:
        raise EINVAL
    size = 0 if buf == 0 else min(length, IFCONF_MAX)
    got, records = net.ifconf(fd, size)
    if buf and records:
        io.copy_out(buf, records)
    io.copy_out(arg, got.to_bytes(4, "little", signed=True))
    return 0
