"""``Stack``: what procfs and sysfs ask about the sandbox's network, and
``HostStack``, its implementation over the boot process's network namespace."""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Mapping
from typing import Protocol

from sentry.abi.errors import ENOENT, from_oserror
from sentry.inet import netlink

# include/uapi/linux/if.h: the flags dev_get_flags() derives from the
# operational state (net/core/dev.c) and sysfs's "flags" does not show.
IFF_RUNNING = 0x40
IFF_LOWER_UP = 0x10000
IFF_DORMANT = 0x20000
# include/uapi/linux/if.h IF_OPER_*, as net/core/net-sysfs.c names them.
OPERSTATES = ("unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up")

#: /proc/net files shown as the host namespace writes them.
PASSTHROUGH_FILES = (
    "arp", "dev", "fib_trie", "if_inet6", "ipv6_route", "netstat", "route", "snmp", "snmp6",
)  # fmt: skip
#: Socket tables: the host's rows, restricted to the sandbox's sockets
#: (field 9 of a row is the socket's inode: net/ipv4/tcp_ipv4.c
#: get_tcp4_sock, net/ipv4/udp.c udp4_format_sock, net/ipv4/raw.c
#: raw_sock_seq_show, and the IPv6 twins). netstat(8) reads them all.
SOCKET_TABLES = ("raw", "raw6", "tcp", "tcp6", "udp", "udp6")
_INODE_FIELD = 9


class Interface:
    """One link of the namespace, as RTM_NEWLINK describes it."""

    __slots__ = (
        "address",
        "broadcast",
        "flags",
        "index",
        "mtu",
        "name",
        "operstate",
        "tx_queue_len",
        "type",
    )

    index: int
    name: str
    type: int  # ARPHRD_*
    flags: int  # ifi_flags (dev_get_flags(): with RUNNING/LOWER_UP/DORMANT)
    mtu: int
    address: bytes
    broadcast: bytes
    operstate: int
    tx_queue_len: int

    def __init__(  # noqa: PLR0917 - positional, as the dataclass's were
        self,
        index: int,
        name: str,
        type: int,
        flags: int,
        mtu: int,
        address: bytes,
        broadcast: bytes,
        operstate: int,
        tx_queue_len: int = 0,
    ) -> None:
        self.index = index
        self.name = name
        self.type = type
        self.flags = flags
        self.mtu = mtu
        self.address = address
        self.broadcast = broadcast
        self.operstate = operstate
        self.tx_queue_len = tx_queue_len

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Interface) or other.__class__ is not self.__class__:
            return NotImplemented
        return (
            self.index,
            self.name,
            self.type,
            self.flags,
            self.mtu,
            self.address,
            self.broadcast,
            self.operstate,
            self.tx_queue_len,
        ) == (
            other.index,
            other.name,
            other.type,
            other.flags,
            other.mtu,
            other.address,
            other.broadcast,
            other.operstate,
            other.tx_queue_len,
        )

    def __hash__(self) -> int:
        return hash(
            (
                self.index,
                self.name,
                self.type,
                self.flags,
                self.mtu,
                self.address,
                self.broadcast,
                self.operstate,
                self.tx_queue_len,
            )
        )

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{n}={getattr(self, n)!r}"
            for n in (
                "index",
                "name",
                "type",
                "flags",
                "mtu",
                "address",
                "broadcast",
                "operstate",
                "tx_queue_len",
            )
        )
        return f"Interface({fields})"

    @classmethod
    def from_message(cls, m: netlink.LinkMessage) -> Interface:
        def u32(kind: int) -> int:
            raw = m.attrs.get(kind, b"")
            return int.from_bytes(raw[:4], "little") if len(raw) >= 4 else 0

        return cls(
            index=m.index,
            name=m.attrs.get(netlink.IFLA_IFNAME, b"").rstrip(b"\0").decode(errors="replace"),
            type=m.type,
            flags=m.flags,
            mtu=u32(netlink.IFLA_MTU),
            address=m.attrs.get(netlink.IFLA_ADDRESS, b""),
            broadcast=m.attrs.get(netlink.IFLA_BROADCAST, b""),
            operstate=m.attrs.get(netlink.IFLA_OPERSTATE, b"\0")[0],
            tx_queue_len=u32(netlink.IFLA_TXQLEN),
        )

    @property
    def device_flags(self) -> int:
        """``dev->flags`` as sysfs shows it: ifi_flags without the three
        bits dev_get_flags() adds from the operational state."""
        return self.flags & ~(IFF_RUNNING | IFF_LOWER_UP | IFF_DORMANT)

    @property
    def operstate_name(self) -> str:
        return OPERSTATES[self.operstate] if self.operstate < len(OPERSTATES) else "unknown"


class Stack(Protocol):
    """What the file systems ask about the sandbox's network namespace."""

    def interfaces(self) -> list[Interface]:
        """The links, in ifindex order."""
        ...

    def proc_net_names(self) -> list[str]:
        """The /proc/net files this stack can produce."""
        ...

    def proc_net(self, name: str) -> bytes:
        """The namespace's own /proc/net/``name`` (ENOENT if it has none);
        the socket tables hold every socket of the namespace, for the
        caller to restrict (``filter_socket_table``)."""
        ...


def _tokens(row: bytes) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(rb"\S+", row)]


def filter_socket_table(text: bytes, inodes: Mapping[int, int]) -> bytes:
    """``text`` (a /proc/net/{tcp,udp}[6] table) with only the rows whose
    inode is a key of ``inodes``, that inode replaced by its value and the
    slot numbers renumbered from 0; widths and line padding are kept."""
    lines = text.split(b"\n")
    out = [lines[0]]
    slot = 0
    for row in lines[1:]:
        spans = _tokens(row)
        if len(spans) <= _INODE_FIELD:
            continue
        start, end = spans[_INODE_FIELD]
        try:
            host_ino = int(row[start:end])
        except ValueError:
            continue
        if host_ino not in inodes:
            continue
        new = row[:start] + b"%d" % inodes[host_ino] + row[end:]
        if row.endswith(b" "):
            new = new.rstrip(b" ").ljust(len(row))
        colon = new.index(b":")
        new = (b"%d" % slot).rjust(colon) + new[colon:]
        out.append(new)
        slot += 1
    return b"\n".join(out) + b"\n"


class HostStack:
    """The network namespace this process is in, captured for later reads.

    ``capture`` must run before /proc is unmounted and seccomp installed
    (runtime/boot builds the Sentry first, see runtime/boot/main.py); what
    it opens is read for the sandbox's whole life. Why FDs rather than a
    copy: the namespace changes under the sandbox (counters, routes a CNI
    plugin adds, sockets), and the Sentry must show it as it is now.
    """

    def __init__(self, rtnl: socket.socket | None, files: dict[str, int]) -> None:
        self._rtnl = rtnl
        self._files = files
        self._lock = threading.Lock()
        self._seq = 0

    @classmethod
    def capture(cls, proc_net: str = "/proc/self/net") -> HostStack:
        """Open a NETLINK_ROUTE socket and the /proc/net files of the
        current namespace (files the host lacks, e.g. IPv6 ones with IPv6
        disabled, are left out)."""
        try:
            rtnl: socket.socket | None = socket.socket(
                socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE
            )
        except OSError:
            rtnl = None
        files: dict[str, int] = {}
        for name in (*PASSTHROUGH_FILES, *SOCKET_TABLES):
            try:
                files[name] = os.open(os.path.join(proc_net, name), os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
        return cls(rtnl, files)

    def close(self) -> None:
        for fd in self._files.values():
            os.close(fd)
        self._files = {}
        if self._rtnl is not None:
            self._rtnl.close()

    def interfaces(self) -> list[Interface]:
        if self._rtnl is None:
            return []
        with self._lock:
            self._seq += 1
            links = netlink.dump_links(self._rtnl, self._seq)
        return sorted((Interface.from_message(m) for m in links), key=lambda i: i.index)

    def proc_net_names(self) -> list[str]:
        return sorted(self._files)

    def proc_net(self, name: str) -> bytes:
        fd = self._files.get(name)
        if fd is None:
            raise ENOENT
        chunks = []
        with self._lock:
            offset = 0
            try:
                while chunk := os.pread(fd, 1 << 16, offset):
                    chunks.append(chunk)
                    offset += len(chunk)
            except OSError as exc:
                raise from_oserror(exc) from None
        return b"".join(chunks)
