"""AF_INET and AF_INET6 sockets served by host sockets (gVisor
``socket/hostinet``).

The sandbox process runs in the container's network namespace, so a host
socket the Sentry creates there is the container's socket. Host sockets are
always non-blocking and close-on-exec; a blocking application call waits
for the host FD with a host poll in slices that notice signals (as
``sentry.kernel.polling`` waits for host files), and poll/select/epoll wait
on ``fileno()``. The Sentry copies every sockaddr and option value in with a
checked length (at most sockaddr_storage, or the option's size) and passes
only whitelisted options and message flags; the host never sees an
application pointer. MSG_NOSIGNAL is always given to the host (the Sentry
itself must never get SIGPIPE); the syscall layer raises the application's
SIGPIPE.
"""

from __future__ import annotations

import os
import select
import time
from typing import Any

from sentry.abi.errors import (
    EAGAIN,
    EINPROGRESS,
    EINVAL,
    EISCONN,
    ENOPROTOOPT,
    ENOTTY,
    LinuxError,
    from_oserror,
)
from sentry.abi.socket import (
    IPPROTO_IP,
    IPPROTO_IPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    MSG_CONFIRM,
    MSG_DONTROUTE,
    MSG_DONTWAIT,
    MSG_EOR,
    MSG_MORE,
    MSG_NOSIGNAL,
    MSG_OOB,
    MSG_PEEK,
    MSG_TRUNC,
    MSG_WAITALL,
    SIOCINQ,
    SIOCOUTQ,
    SO_RCVTIMEO,
    SO_SNDTIMEO,
    SOCK_NONBLOCK,
    SOCK_STREAM,
    SOL_SOCKET,
)
from sentry.hostsys import net
from sentry.kernel.polling import wait_host_fd
from sentry.socket.ifioctl import INTERFACE_IOCTLS, interface_ioctl
from sentry.socket.socket import Control, Received, SocketImpl
from sentry.vfs.inode import POLLERR, POLLHUP, POLLIN, POLLOUT

#: Message flags passed to the host (the rest are the Sentry's or refused).
SEND_FLAGS = MSG_OOB | MSG_DONTROUTE | MSG_EOR | MSG_MORE | MSG_CONFIRM
RECV_FLAGS = MSG_OOB | MSG_PEEK | MSG_TRUNC

_INT = (4, 4)
#: The largest buffer one host receive uses (a multiple of UDP's maximum).
RECV_MAX = 1 << 20
#: The largest piece of a stream send handed to the host at once.
SEND_CHUNK = 1 << 20

#: (level, name) -> (smallest value setsockopt accepts, largest the host
#: sees). Anything else is ENOPROTOOPT.
OPTIONS: dict[tuple[int, int], tuple[int, int]] = {
    # SOL_SOCKET
    (SOL_SOCKET, 2): _INT,  # SO_REUSEADDR
    (SOL_SOCKET, 3): _INT,  # SO_TYPE (get)
    (SOL_SOCKET, 4): _INT,  # SO_ERROR (get)
    (SOL_SOCKET, 6): _INT,  # SO_BROADCAST
    (SOL_SOCKET, 7): _INT,  # SO_SNDBUF
    (SOL_SOCKET, 8): _INT,  # SO_RCVBUF
    (SOL_SOCKET, 9): _INT,  # SO_KEEPALIVE
    (SOL_SOCKET, 10): _INT,  # SO_OOBINLINE
    (SOL_SOCKET, 12): _INT,  # SO_PRIORITY
    (SOL_SOCKET, 13): (8, 8),  # SO_LINGER
    (SOL_SOCKET, 15): _INT,  # SO_REUSEPORT
    (SOL_SOCKET, 18): _INT,  # SO_RCVLOWAT
    (SOL_SOCKET, 29): _INT,  # SO_TIMESTAMP
    (SOL_SOCKET, 30): _INT,  # SO_ACCEPTCONN (get)
    (SOL_SOCKET, 38): _INT,  # SO_PROTOCOL (get)
    (SOL_SOCKET, 39): _INT,  # SO_DOMAIN (get)
    # SOL_TCP
    (IPPROTO_TCP, 1): _INT,  # TCP_NODELAY
    (IPPROTO_TCP, 2): _INT,  # TCP_MAXSEG
    (IPPROTO_TCP, 3): _INT,  # TCP_CORK
    (IPPROTO_TCP, 4): _INT,  # TCP_KEEPIDLE
    (IPPROTO_TCP, 5): _INT,  # TCP_KEEPINTVL
    (IPPROTO_TCP, 6): _INT,  # TCP_KEEPCNT
    (IPPROTO_TCP, 7): _INT,  # TCP_SYNCNT
    (IPPROTO_TCP, 8): _INT,  # TCP_LINGER2
    (IPPROTO_TCP, 9): _INT,  # TCP_DEFER_ACCEPT
    (IPPROTO_TCP, 10): _INT,  # TCP_WINDOW_CLAMP
    (IPPROTO_TCP, 11): (0, 232),  # TCP_INFO (get)
    (IPPROTO_TCP, 12): _INT,  # TCP_QUICKACK
    (IPPROTO_TCP, 18): _INT,  # TCP_USER_TIMEOUT
    (IPPROTO_TCP, 23): _INT,  # TCP_FASTOPEN
    # SOL_IP
    (IPPROTO_IP, 1): _INT,  # IP_TOS
    (IPPROTO_IP, 2): _INT,  # IP_TTL
    (IPPROTO_IP, 8): _INT,  # IP_PKTINFO
    (IPPROTO_IP, 10): _INT,  # IP_MTU_DISCOVER
    (IPPROTO_IP, 11): _INT,  # IP_RECVERR
    (IPPROTO_IP, 14): _INT,  # IP_MTU (get)
    (IPPROTO_IP, 32): (4, 12),  # IP_MULTICAST_IF (in_addr or ip_mreqn)
    (IPPROTO_IP, 33): (1, 4),  # IP_MULTICAST_TTL
    (IPPROTO_IP, 34): (1, 4),  # IP_MULTICAST_LOOP
    (IPPROTO_IP, 35): (8, 12),  # IP_ADD_MEMBERSHIP
    (IPPROTO_IP, 36): (8, 12),  # IP_DROP_MEMBERSHIP
    # SOL_IPV6
    (IPPROTO_IPV6, 16): _INT,  # IPV6_UNICAST_HOPS
    (IPPROTO_IPV6, 17): _INT,  # IPV6_MULTICAST_IF
    (IPPROTO_IPV6, 18): _INT,  # IPV6_MULTICAST_HOPS
    (IPPROTO_IPV6, 19): _INT,  # IPV6_MULTICAST_LOOP
    (IPPROTO_IPV6, 20): (20, 20),  # IPV6_ADD_MEMBERSHIP
    (IPPROTO_IPV6, 21): (20, 20),  # IPV6_DROP_MEMBERSHIP
    (IPPROTO_IPV6, 26): _INT,  # IPV6_V6ONLY
    (IPPROTO_IPV6, 49): _INT,  # IPV6_RECVPKTINFO
    (IPPROTO_IPV6, 67): _INT,  # IPV6_TCLASS
}


def host_call(fn: Any, *args: Any) -> Any:
    """Run a host socket call, translating OSError to the Linux error."""
    try:
        return fn(*args)
    except OSError as exc:
        raise from_oserror(exc) from None


class HostSocket(SocketImpl):
    """A socket whose state lives in a host socket (owned FD)."""

    def __init__(self, fd: int, family: int, type_: int, protocol: int) -> None:
        super().__init__(family, type_, protocol)
        self.fd = fd

    @classmethod
    def create(cls, family: int, type_: int, protocol: int) -> HostSocket:
        fd = host_call(net.socket, family, type_ | SOCK_NONBLOCK | os.O_CLOEXEC, protocol)
        return cls(fd, family, type_, protocol)

    # -- waiting -------------------------------------------------------------------
    def _wait(
        self, t: Any, events: int, deadline: float | None, interrupted: type[LinuxError]
    ) -> None:
        """Sleep until the host FD reports ``events`` (or an error/hangup);
        EAGAIN at the deadline; ``interrupted`` on a signal (at once: the
        kernel's host FD notifier wakes the task, ``polling.wait_host_fd``)."""
        if t is None:
            poller = select.poll()
            poller.register(self.fd, events)
            timeout = None if deadline is None else max(0, deadline - time.monotonic()) * 1000
            if not poller.poll(timeout):
                raise EAGAIN
            return
        if not wait_host_fd(t, self.fd, events, deadline, interrupted):
            raise EAGAIN

    def _retry(
        self, t: Any, call: Any, events: int, nonblock: bool, sending: bool, *args: Any
    ) -> Any:
        """Try ``call`` until it does not say EAGAIN (or the caller may not wait)."""
        deadline, interrupted = self.deadline(sending)
        while True:
            try:
                return call(*args)
            except BlockingIOError:
                if nonblock:
                    raise EAGAIN from None
            except OSError as exc:
                raise from_oserror(exc) from None
            self._wait(t, events, deadline, interrupted)

    # -- operations ----------------------------------------------------------------
    def bind(self, t: Any, addr: bytes) -> None:
        host_call(net.bind, self.fd, addr)

    def listen(self, backlog: int) -> None:
        host_call(net.listen, self.fd, backlog)

    def accept(self, t: Any, nonblock: bool) -> tuple[SocketImpl, bytes]:
        fd, peer = self._retry(
            t, net.accept4, POLLIN, nonblock, False, self.fd, SOCK_NONBLOCK | os.O_CLOEXEC
        )
        return HostSocket(fd, self.family, self.type, self.protocol), peer

    def connect(self, t: Any, addr: bytes, nonblock: bool) -> None:
        """inet_stream_connect: a blocking connect waits for the handshake
        and reports SO_ERROR; a non-blocking one is EINPROGRESS."""
        try:
            net.connect(self.fd, addr)
            return
        except BlockingIOError as exc:  # EINPROGRESS (or EAGAIN for full backlogs)
            if exc.errno != EINPROGRESS.errno or nonblock:
                raise from_oserror(exc) from None
        except OSError as exc:
            raise from_oserror(exc) from None
        deadline, interrupted = self.deadline(sending=True)
        self._wait(t, POLLOUT, deadline, interrupted)
        # Connecting again collects the outcome and, on failure, returns the
        # socket to SS_UNCONNECTED (net/ipv4/af_inet.c __inet_stream_connect),
        # which reading SO_ERROR would not.
        try:
            net.connect(self.fd, addr)
        except OSError as exc:
            if exc.errno != EISCONN.errno:
                raise from_oserror(exc) from None

    def getsockname(self) -> bytes:
        return host_call(net.getsockname, self.fd)

    def getpeername(self) -> bytes:
        return host_call(net.getpeername, self.fd)

    def sendmsg(  # noqa: PLR0917
        self, t: Any, data: bytes, flags: int, addr: bytes | None, control: Control, nonblock: bool
    ) -> int:
        if control.rights or control.creds is not None:
            raise EINVAL  # SCM_RIGHTS/SCM_CREDENTIALS are Unix-only
        host_flags = (flags & SEND_FLAGS) | MSG_DONTWAIT | MSG_NOSIGNAL
        if self.type != SOCK_STREAM:
            return int(self._retry(t, net.sendto, POLLOUT, nonblock, True,
                                   self.fd, data, host_flags, addr))  # fmt: skip
        return self._send_stream(t, data, host_flags, addr, nonblock)

    def _send_stream(
        self, t: Any, data: bytes, host_flags: int, addr: bytes | None, nonblock: bool
    ) -> int:
        """tcp_sendmsg: a blocking send queues everything; a signal, the
        SO_SNDTIMEO deadline, O_NONBLOCK or an error after progress returns
        the count so far. Pieces of at most SEND_CHUNK keep copies bounded."""
        deadline, interrupted = self.deadline(sending=True)
        sent = 0
        while True:
            try:
                sent += net.sendto(self.fd, data[sent : sent + SEND_CHUNK], host_flags, addr)
            except BlockingIOError:
                if nonblock:
                    if sent:
                        return sent
                    raise EAGAIN from None
                try:
                    self._wait(t, POLLOUT, deadline, interrupted)
                except LinuxError:
                    if sent:
                        return sent
                    raise
                continue
            except OSError as exc:
                if sent:
                    return sent
                raise from_oserror(exc) from None
            if sent >= len(data):
                return sent

    def recvmsg(self, t: Any, n: int, flags: int, nonblock: bool) -> Received:
        # A stream read may return less than asked, so the Sentry's buffer
        # stays bounded; a datagram never exceeds RECV_MAX (UDP's 64 KiB).
        n = min(n, RECV_MAX)
        host_flags = (flags & RECV_FLAGS) | MSG_DONTWAIT
        got, data, addr = self._retry(t, net.recvfrom, POLLIN, nonblock, False,
                                      self.fd, n, host_flags)  # fmt: skip
        if self.type == SOCK_STREAM and flags & MSG_WAITALL and not flags & MSG_PEEK:
            # tcp_recvmsg with MSG_WAITALL: until n bytes, EOF, an error or a signal.
            parts = [data]
            total = len(data)
            while len(parts[-1]) > 0 and total < n:
                try:
                    _, more, _ = self._retry(t, net.recvfrom, POLLIN, nonblock, False,
                                             self.fd, n - total, host_flags)  # fmt: skip
                except LinuxError:
                    break
                parts.append(more)
                total += len(more)
            data = b"".join(parts)
            got = len(data)
        if self.type == SOCK_STREAM and flags & MSG_TRUNC:
            data = b""  # tcp_recvmsg: MSG_TRUNC discards what it counts
        msg_flags = MSG_TRUNC if self.type != SOCK_STREAM and got > len(data) else 0
        if self.type != SOCK_STREAM and not flags & MSG_TRUNC:
            got = len(data)
        return Received(data, got, addr, None, msg_flags)

    def shutdown(self, how: int) -> None:
        host_call(net.shutdown, self.fd, how)

    def getsockopt(self, t: Any, level: int, name: int, size: int) -> bytes:
        if level == SOL_SOCKET and name in (SO_RCVTIMEO, SO_SNDTIMEO):
            return super().getsockopt(t, level, name, size)
        limits = OPTIONS.get((level, name))
        if limits is None:
            raise ENOPROTOOPT
        return host_call(net.getsockopt, self.fd, level, name, min(size, limits[1]))

    def setsockopt(self, t: Any, level: int, name: int, value: bytes) -> None:
        if level == SOL_SOCKET and name in (SO_RCVTIMEO, SO_SNDTIMEO):
            super().setsockopt(t, level, name, value)
            return
        limits = OPTIONS.get((level, name))
        if limits is None:
            raise ENOPROTOOPT
        if len(value) < limits[0]:
            raise EINVAL
        host_call(net.setsockopt, self.fd, level, name, value[: limits[1]])

    # -- the file side ---------------------------------------------------------------
    def readiness(self, mask: int) -> int:
        poller = select.poll()
        poller.register(self.fd, mask)
        ready = poller.poll(0)
        return ready[0][1] & (mask | POLLERR | POLLHUP) if ready else 0

    def fileno(self) -> int:
        """The host FD poll, select and epoll wait on."""
        return self.fd

    def readable_now(self) -> int:
        return int.from_bytes(host_call(net.ioctl_buffer, self.fd, SIOCINQ, b"\0" * 4), "little")

    def ioctl(self, request: int, arg: int, io: Any) -> int:
        """SIOCOUTQ, and the interface queries every socket answers."""
        if request == SIOCOUTQ:
            raw = host_call(net.ioctl_buffer, self.fd, request, b"\0" * 4)
            io.copy_out(arg, raw)
            return 0
        if request in INTERFACE_IOCTLS:
            return interface_ioctl(request, arg, io)
        raise ENOTTY

    def release(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)


def check_protocol(type_: int, protocol: int) -> None:
    """inet_create: TCP for streams, UDP for datagrams (0 picks them)."""
    from sentry.abi.errors import EPROTONOSUPPORT, ESOCKTNOSUPPORT
    from sentry.abi.socket import SOCK_DGRAM

    if type_ == SOCK_STREAM:
        if protocol not in (0, IPPROTO_TCP):
            raise EPROTONOSUPPORT
    elif type_ == SOCK_DGRAM:
        if protocol not in (0, IPPROTO_UDP):
            raise EPROTONOSUPPORT
    else:
        raise ESOCKTNOSUPPORT
