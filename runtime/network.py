"""The sandbox's network namespace (seed ``runsc/sandbox/sandbox.go``, the
"joins the network namespace" step of ``createSandboxProcess``).

The Sentry serves AF_INET/AF_INET6 and NETLINK_ROUTE with host sockets it
creates in its own network namespace (gVisor's hostinet model), so the one
decision the runtime makes is *which* namespace the ``boot`` process lives
in. ``--network`` and the spec's ``linux.namespaces`` decide, as runsc does:

- a ``network`` namespace with a ``path`` (what CRI/CNI prepared, e.g.
  ``/var/run/netns/cni-…``) is joined with setns(2), unless
  ``--network=none``;
- otherwise ``--network=host`` stays in the host's namespace;
- otherwise (``sandbox`` without a path, or ``none``) a new namespace is
  made with only the loopback device, brought up.

``plan`` is pure (unit-tested); ``check`` validates a path on the host side
so ``create`` fails with one clear line before anything is spawned;
``enter`` runs in ``boot`` while it is still single-threaded (setns and
unshare move only the calling thread).

Bringing ``lo`` up is one SIOCSIFFLAGS ioctl rather than a pyroute2 call:
importing pyroute2 costs about 190 ms here (its package ``__init__`` loads
every module), which every sandbox start would pay. pyroute2 stays the
tool for reading and configuring links from the host side (the tests).
"""

from __future__ import annotations

import enum
import errno
import fcntl
import os
import socket
import struct
from typing import NamedTuple

from runtime import hostsys
from runtime.errors import RuntimeFailure
from runtime.spec import Spec

# include/uapi/linux/nsfs.h: NS_GET_NSTYPE = _IO(0xb7, 0x3).
NS_GET_NSTYPE = 0xB703
# include/uapi/linux/sockios.h
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
# include/uapi/linux/if.h
IFF_UP = 0x1
IFNAMSIZ = 16
LOOPBACK = "lo"


class Mode(enum.Enum):
    """Where the sandbox's network namespace comes from."""

    JOIN = "join"  # the spec's namespace path (CRI/CNI)
    HOST = "host"  # the host's own namespace
    NEW = "new"  # a fresh namespace with loopback only


class Plan(NamedTuple):
    """The network namespace decision for one sandbox.

    A NamedTuple rather than a frozen dataclass: every sandbox start
    defines it, and a frozen dataclass costs ~1 ms to define (importing
    ``dataclasses`` several more).
    """

    mode: Mode
    path: str = ""

    def describe(self) -> str:
        if self.mode is Mode.JOIN:
            return f"the container's network namespace {self.path}"
        if self.mode is Mode.HOST:
            return "the host's network namespace"
        return "a new network namespace (loopback only)"


def plan(network: str, spec: Spec) -> Plan:
    """The namespace for ``--network=network`` and ``spec`` (runsc's rule:
    a spec path wins unless the network is ``none``)."""
    ns = spec.linux.namespace("network")
    if ns is not None and ns.path and network != "none":
        return Plan(Mode.JOIN, ns.path)
    if network == "host":
        return Plan(Mode.HOST)
    return Plan(Mode.NEW)


def open_netns(path: str) -> int:
    """An FD on the network namespace at ``path``; a one-line RuntimeFailure
    when it does not exist or is not a network namespace."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise RuntimeFailure(f"network namespace {path} does not exist") from None
        raise RuntimeFailure(f"cannot open network namespace {path}: {exc.strerror}") from None
    try:
        nstype = fcntl.ioctl(fd, NS_GET_NSTYPE)
    except OSError:
        # ENOTTY: an ordinary file, not an nsfs inode.
        nstype = -1
    if nstype != hostsys.CLONE_NEWNET:
        os.close(fd)
        raise RuntimeFailure(f"{path} is not a network namespace")
    return fd


def check(p: Plan) -> None:
    """Validate ``p`` on the host side (the path is a network namespace)."""
    if p.mode is Mode.JOIN:
        os.close(open_netns(p.path))


def enter(p: Plan) -> None:
    """Move the calling (only) thread into the planned namespace."""
    if p.mode is Mode.JOIN:
        fd = open_netns(p.path)
        try:
            hostsys.setns(fd, hostsys.CLONE_NEWNET)
        except OSError as exc:
            raise RuntimeFailure(
                f"cannot join network namespace {p.path}: {exc.strerror}"
            ) from None
        finally:
            os.close(fd)
    elif p.mode is Mode.NEW:
        try:
            hostsys.unshare(hostsys.CLONE_NEWNET)
        except OSError as exc:
            raise RuntimeFailure(f"cannot create a network namespace: {exc.strerror}") from None
        set_link_up(LOOPBACK)


def set_link_up(name: str) -> None:
    """Set IFF_UP on link ``name`` of the current namespace (netdevice(7))."""
    ifreq = struct.pack(f"{IFNAMSIZ}sh22x", name.encode(), 0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            flags = struct.unpack_from(f"{IFNAMSIZ}xh", fcntl.ioctl(s, SIOCGIFFLAGS, ifreq))[0]
            if not flags & IFF_UP:
                fcntl.ioctl(
                    s, SIOCSIFFLAGS, struct.pack(f"{IFNAMSIZ}sh22x", name.encode(), flags | IFF_UP)
                )
        except OSError as exc:
            raise RuntimeFailure(f"cannot bring up {name}: {exc.strerror}") from None
