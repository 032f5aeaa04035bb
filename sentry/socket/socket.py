"""What every socket implements (Linux ``struct proto_ops``, gVisor
``socket.Socket``) and the socket file's common parts.

A socket is a ``FileImpl`` whose description is made by ``new_socket_file``;
the socket syscalls find it with ``desc.impl`` and call the methods below.
``read``/``write`` and friends arrive through ``read_stream``/``write_stream``
and become a ``recvmsg``/``sendmsg`` without flags.

Blocking follows Linux's ``sock_rcvtimeo``/``sock_sndtimeo``: a socket
without SO_RCVTIMEO/SO_SNDTIMEO sleeps until ready and is interrupted with
ERESTARTSYS (restarted under SA_RESTART); one with a timeout fails with
EAGAIN when it expires and is interrupted with EINTR
(net/core/sock.c sock_intr_errno).
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from sentry.abi.errors import EDOM, EINTR, EINVAL, ENOPROTOOPT, ENOTSUP, ERESTARTSYS, LinuxError
from sentry.abi.socket import (
    SO_DOMAIN,
    SO_PROTOCOL,
    SO_RCVTIMEO,
    SO_SNDTIMEO,
    SO_TYPE,
    SOL_SOCKET,
    TIMEVAL,
)
from sentry.vfs.context import current_task
from sentry.vfs.file import FileDescription
from sentry.vfs.flags import O_NONBLOCK, O_RDWR
from sentry.vfs.inode import FileImpl, new_anon_dev
from sentry.vfs.stat import S_IFSOCK, Stat

#: The anonymous file system socket inodes belong to (net/socket.c sockfs).
SOCKFS_DEV = new_anon_dev()
_socket_ino = itertools.count(1)


class Control:
    """Control messages of one send or receive (SCM_RIGHTS, SCM_CREDENTIALS).

    ``rights`` hold one reference on each description while the message is
    in flight (include/net/scm.h scm_fp_list); whoever drops the message
    calls ``release``."""

    rights: list[FileDescription]
    #: (pid, uid, gid) of struct ucred, or None.
    creds: tuple[int, int, int] | None

    def __init__(
        self,
        rights: list[FileDescription] | None = None,
        creds: tuple[int, int, int] | None = None,
    ) -> None:
        self.rights = [] if rights is None else rights
        self.creds = creds

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Control) or other.__class__ is not self.__class__:
            return NotImplemented
        return (
            self.rights,
            self.creds,
        ) == (
            other.rights,
            other.creds,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable and compared by value

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in ("rights", "creds"))
        return f"Control({fields})"

    def release(self) -> None:
        rights, self.rights = self.rights, []
        for desc in rights:
            desc.dec_ref()

    def dup(self) -> Control:
        """A copy with its own references (MSG_PEEK installs new FDs too)."""
        for desc in self.rights:
            desc.inc_ref()
        return Control(list(self.rights), self.creds)


class Received:
    """What one receive produced."""

    data: bytes
    #: What recvmsg returns: len(data), or the datagram's length with MSG_TRUNC.
    length: int
    #: The sender's address (datagram sockets), empty if none.
    addr: bytes
    control: Control | None
    #: msg_flags to report (MSG_TRUNC, MSG_CTRUNC is the syscall layer's).
    flags: int

    def __init__(
        self,
        data: bytes,
        length: int,
        addr: bytes = b"",
        control: Control | None = None,
        flags: int = 0,
    ) -> None:
        self.data = data
        self.length = length
        self.addr = addr
        self.control = control
        self.flags = flags

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Received) or other.__class__ is not self.__class__:
            return NotImplemented
        return (
            self.data,
            self.length,
            self.addr,
            self.control,
            self.flags,
        ) == (
            other.data,
            other.length,
            other.addr,
            other.control,
            other.flags,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable and compared by value

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{n}={getattr(self, n)!r}" for n in ("data", "length", "addr", "control", "flags")
        )
        return f"Received({fields})"


#: The tick SO_RCVTIMEO/SO_SNDTIMEO are kept in (CONFIG_HZ=250, Debian's
#: kernels): Linux rounds a timeout up to whole jiffies and reports that.
HZ = 250


def timeval_to_seconds(raw: bytes) -> float | None:
    """SO_RCVTIMEO/SO_SNDTIMEO value (net/core/sock.c sock_set_timeout):
    zero means no timeout; EDOM for a bad usec; rounded up to a jiffy."""
    sec, usec = TIMEVAL.unpack(raw[: TIMEVAL.size])
    if usec < 0 or usec >= 1_000_000:
        raise EDOM
    if sec < 0:
        return 0.0  # Linux: a negative timeout is "immediately"
    if sec == 0 and usec == 0:
        return None
    tick = 1_000_000 // HZ
    jiffies = sec * HZ + -(-usec // tick)
    return jiffies / HZ


def seconds_to_timeval(value: float | None) -> bytes:
    if value is None:
        return TIMEVAL.pack(0, 0)
    usec = round(value * 1e6)
    return TIMEVAL.pack(usec // 1_000_000, usec % 1_000_000)


class SocketImpl(FileImpl):
    """A socket: family, type and protocol, plus the operations.

    Subclasses override what their family supports; the defaults give
    Linux's answer for a family without the operation (sock_no_* in
    net/core/sock.c: EOPNOTSUPP)."""

    seekable = False

    def __init__(self, family: int, type_: int, protocol: int) -> None:
        self.family = family
        self.type = type_
        self.protocol = protocol
        self.rcvtimeo: float | None = None
        self.sndtimeo: float | None = None
        self.ino = next(_socket_ino)

    # -- blocking ----------------------------------------------------------------
    def deadline(self, sending: bool) -> tuple[float | None, type[LinuxError]]:
        """The wait deadline and the error an interruption raises."""
        timeout = self.sndtimeo if sending else self.rcvtimeo
        if timeout is None:
            return None, ERESTARTSYS
        return time.monotonic() + timeout, EINTR

    # -- operations (proto_ops) ------------------------------------------------
    def bind(self, t: Any, addr: bytes) -> None:
        raise ENOTSUP

    def listen(self, backlog: int) -> None:
        raise ENOTSUP

    def accept(self, t: Any, nonblock: bool) -> tuple[SocketImpl, bytes]:
        """A connected socket and its peer's address."""
        raise ENOTSUP

    def connect(self, t: Any, addr: bytes, nonblock: bool) -> None:
        raise ENOTSUP

    def getsockname(self) -> bytes:
        raise ENOTSUP

    def getpeername(self) -> bytes:
        raise ENOTSUP

    def sendmsg(  # noqa: PLR0917 - sendmsg(2)'s parts
        self, t: Any, data: bytes, flags: int, addr: bytes | None, control: Control, nonblock: bool
    ) -> int:
        raise ENOTSUP

    def recvmsg(self, t: Any, n: int, flags: int, nonblock: bool) -> Received:
        raise ENOTSUP

    def shutdown(self, how: int) -> None:
        raise ENOTSUP

    def getsockopt(self, t: Any, level: int, name: int, size: int) -> bytes:
        """The option's value (the syscall layer truncates it to ``size``)."""
        if level == SOL_SOCKET:
            if name == SO_TYPE:
                return self.type.to_bytes(4, "little")
            if name == SO_DOMAIN:
                return self.family.to_bytes(4, "little")
            if name == SO_PROTOCOL:
                return self.protocol.to_bytes(4, "little")
            if name == SO_RCVTIMEO:
                return seconds_to_timeval(self.rcvtimeo)
            if name == SO_SNDTIMEO:
                return seconds_to_timeval(self.sndtimeo)
        raise ENOPROTOOPT

    def setsockopt(self, t: Any, level: int, name: int, value: bytes) -> None:
        if level == SOL_SOCKET and name in (SO_RCVTIMEO, SO_SNDTIMEO):
            if len(value) < TIMEVAL.size:
                raise EINVAL
            seconds = timeval_to_seconds(value)
            if name == SO_RCVTIMEO:
                self.rcvtimeo = seconds
            else:
                self.sndtimeo = seconds
            return
        raise ENOPROTOOPT

    # -- the file side -------------------------------------------------------------
    def read_stream(self, length: int, flags: int) -> bytes:
        got = self.recvmsg(current_task(), length, 0, bool(flags & O_NONBLOCK))
        if got.control is not None:
            got.control.release()  # read(2) has nowhere to put FDs (they are closed)
        return got.data

    def write_stream(self, data: bytes, flags: int) -> int:
        return self.sendmsg(current_task(), data, 0, None, Control(), bool(flags & O_NONBLOCK))

    def read(self, offset: int, length: int) -> bytes:
        return self.read_stream(length, 0)

    def write(self, offset: int, data: bytes) -> int:
        return self.write_stream(data, 0)

    def stat(self) -> Stat:
        """fstat on a socket (net/socket.c sock_alloc: S_IFSOCK | 0777)."""
        return Stat(dev=SOCKFS_DEV, ino=self.ino, mode=S_IFSOCK | 0o777, blksize=4096)


def new_socket_file(impl: SocketImpl, nonblock: bool) -> FileDescription:
    """The description of a new socket (net/socket.c sock_alloc_file)."""
    return FileDescription(
        impl,
        O_RDWR | (O_NONBLOCK if nonblock else 0),
        name=f"socket:[{impl.ino}]",
        stat=impl.stat,
    )
