"""sentry.inet.netlink: RTM_GETLINK messages in and out."""

from __future__ import annotations

import socket
import struct

import pytest

from sentry.abi.errors import EPERM
from sentry.inet import netlink


def rtattr(kind: int, payload: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(payload), kind) + payload
    return raw + b"\0" * (-len(raw) % 4)


def nlmsg(kind: int, seq: int, body: bytes) -> bytes:
    raw = struct.pack("=IHHII", 16 + len(body), kind, 2, seq, 0) + body
    return raw + b"\0" * (-len(raw) % 4)


def newlink(seq: int, index: int, name: bytes, mtu: int) -> bytes:
    body = struct.pack("=BxHiII", 0, 1, index, 0x1003, 0)
    body += rtattr(netlink.IFLA_IFNAME, name + b"\0")
    body += rtattr(netlink.IFLA_MTU, struct.pack("=I", mtu))
    return nlmsg(netlink.RTM_NEWLINK, seq, body)


def test_attrs_are_aligned_and_truncation_stops() -> None:
    data = rtattr(3, b"eth0\0") + rtattr(4, struct.pack("=I", 1500))
    assert netlink.parse_attrs(data) == {3: b"eth0\0", 4: struct.pack("=I", 1500)}
    assert netlink.parse_attrs(data[:-2]) == {3: b"eth0\0"}
    assert netlink.parse_attrs(struct.pack("=HH", 2, 1)) == {}  # length below the header


def test_links_until_done_other_sequences_ignored() -> None:
    data = newlink(7, 1, b"lo", 65536) + newlink(6, 9, b"stale", 1) + newlink(7, 2, b"eth0", 1500)
    links, done = netlink.parse_links(data, 7)
    assert not done
    got = [(m.index, m.attrs[netlink.IFLA_IFNAME]) for m in links]
    assert got == [(1, b"lo\0"), (2, b"eth0\0")]
    links, done = netlink.parse_links(nlmsg(netlink.NLMSG_DONE, 7, b"\0" * 4), 7)
    assert (links, done) == ([], True)


def test_error_message_raises_its_errno() -> None:
    with pytest.raises(EPERM):
        netlink.parse_links(nlmsg(netlink.NLMSG_ERROR, 3, struct.pack("=i", -1) + b"\0" * 16), 3)


def test_dump_matches_pyroute2() -> None:
    """The host's links through our dump and through pyroute2 agree."""
    pyroute2 = pytest.importorskip("pyroute2")
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as s:
        links = netlink.dump_links(s, 1)
    ours = {m.index: m.attrs[netlink.IFLA_IFNAME].rstrip(b"\0").decode() for m in links}
    with pyroute2.IPRoute() as ipr:
        theirs = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
    assert ours == theirs
