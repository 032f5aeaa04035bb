"""A minimal rtnetlink client: one RTM_GETLINK dump (rtnetlink(7)).

Only the link attributes /sys/class/net shows are decoded. Written on the
standard library's AF_NETLINK support so the Sentry needs no third-party
netlink package (the runtime uses pyroute2 on the host side).
"""

from __future__ import annotations

import socket
import struct

from sentry.abi.errors import error_for, from_oserror

# include/uapi/linux/netlink.h
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 0x2
NLMSG_DONE = 0x3
# include/uapi/linux/rtnetlink.h
RTM_NEWLINK = 16
RTM_GETLINK = 18
# include/uapi/linux/if_link.h
IFLA_ADDRESS = 1
IFLA_BROADCAST = 2
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_TXQLEN = 13
IFLA_OPERSTATE = 16

_NLMSGHDR = struct.Struct("=IHHII")
_IFINFOMSG = struct.Struct("=BxHiII")
_RTATTR = struct.Struct("=HH")


class LinkMessage:
    """One RTM_NEWLINK answer: the ifinfomsg header and its attributes."""

    __slots__ = ("attrs", "flags", "index", "type")

    index: int
    type: int
    flags: int
    attrs: dict[int, bytes]

    def __init__(
        self,
        index: int,
        type: int,
        flags: int,
        attrs: dict[int, bytes],
    ) -> None:
        self.index = index
        self.type = type
        self.flags = flags
        self.attrs = attrs

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LinkMessage) or other.__class__ is not self.__class__:
            return NotImplemented
        return (
            self.index,
            self.type,
            self.flags,
            self.attrs,
        ) == (
            other.index,
            other.type,
            other.flags,
            other.attrs,
        )

    def __hash__(self) -> int:
        return hash((self.index, self.type, self.flags, self.attrs))

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in ("index", "type", "flags", "attrs"))
        return f"LinkMessage({fields})"


def _align(n: int) -> int:
    return (n + 3) & ~3


def parse_attrs(data: bytes) -> dict[int, bytes]:
    """rtattr TLVs (RTA_ALIGN'ed) into {type: payload}; truncation ends it."""
    attrs: dict[int, bytes] = {}
    off = 0
    while off + _RTATTR.size <= len(data):
        length, kind = _RTATTR.unpack_from(data, off)
        if length < _RTATTR.size or off + length > len(data):
            break
        attrs[kind & 0x3FFF] = data[off + _RTATTR.size : off + length]
        off += _align(length)
    return attrs


def parse_links(data: bytes, seq: int) -> tuple[list[LinkMessage], bool]:
    """The RTM_NEWLINK messages of one recv buffer and whether NLMSG_DONE
    ended the dump. An NLMSG_ERROR raises its errno as a LinuxError."""
    out: list[LinkMessage] = []
    off = 0
    while off + _NLMSGHDR.size <= len(data):
        length, kind, _flags, msg_seq, _pid = _NLMSGHDR.unpack_from(data, off)
        if length < _NLMSGHDR.size or off + length > len(data):
            break
        body = data[off + _NLMSGHDR.size : off + length]
        off += _align(length)
        if msg_seq != seq:
            continue
        if kind == NLMSG_DONE:
            return out, True
        if kind == NLMSG_ERROR:
            err = -struct.unpack_from("=i", body)[0]
            if err:
                raise error_for(err)()
            continue
        if kind != RTM_NEWLINK or len(body) < _IFINFOMSG.size:
            continue
        _family, ltype, index, flags, _change = _IFINFOMSG.unpack_from(body)
        out.append(LinkMessage(index, ltype, flags, parse_attrs(body[_IFINFOMSG.size :])))
    return out, False


def dump_links(sock: socket.socket, seq: int) -> list[LinkMessage]:
    """Every link of the socket's namespace (one RTM_GETLINK dump)."""
    req = _NLMSGHDR.pack(
        _NLMSGHDR.size + _IFINFOMSG.size, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq, 0
    ) + _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    try:
        sock.sendto(req, (0, 0))
        links: list[LinkMessage] = []
        while True:
            part, done = parse_links(sock.recv(1 << 16), seq)
            links.extend(part)
            if done:
                return links
    except OSError as exc:
        raise from_oserror(exc) from None


__all__ = ["LinkMessage", "dump_links", "parse_attrs", "parse_links"]
