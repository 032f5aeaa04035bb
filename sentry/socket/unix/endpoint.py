"""Unix domain sockets served entirely by the Sentry (net/unix/af_unix.c;
gVisor ``socket/unix/transport``): SOCK_STREAM, SOCK_SEQPACKET and
SOCK_DGRAM, never a host socket.

Each socket owns its receive queue of messages; a sender appends to its
peer's (or a datagram target's) queue and is charged for the bytes until
the reader consumes them (``wmem``, Linux's sk_wmem_alloc): a writer blocks
while it has SO_SNDBUF bytes in flight, and poll reports POLLOUT once at
most a quarter is (unix_writable). A stream read glues messages together
but stops after one that carried descriptors (SCM_RIGHTS) and, with
SO_PASSCRED, between different senders; datagrams and seqpackets keep
their boundaries (MSG_TRUNC). Datagram targets also hold at most
``MAX_DGRAM_QLEN`` messages from senders that are not their peer
(unix_recvq_full).

Lock order: one lock for all Unix socket state (``_LOCK``; Linux's
per-socket state locks folded into one, which keeps connect and close of
two sockets free of ordering problems), then a wait queue's lock. Wake-ups
and the release of passed descriptions happen after ``_LOCK`` is dropped,
because releasing a description may close another Unix socket.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from sentry.abi.errors import (
    EADDRINUSE,
    EAGAIN,
    ECONNREFUSED,
    ECONNRESET,
    EEXIST,
    EINVAL,
    EISCONN,
    EMSGSIZE,
    ENOTCONN,
    ENOTSUP,
    EPERM,
    EPIPE,
    EPROTOTYPE,
    ESOCKTNOSUPPORT,
    LinuxError,
)
from sentry.abi.socket import (
    AF_UNIX,
    LINGER,
    MSG_PEEK,
    MSG_TRUNC,
    MSG_WAITALL,
    SHUT_RD,
    SHUT_RDWR,
    SIOCOUTQ,
    SO_ACCEPTCONN,
    SO_BROADCAST,
    SO_ERROR,
    SO_KEEPALIVE,
    SO_LINGER,
    SO_OOBINLINE,
    SO_PASSCRED,
    SO_PEERCRED,
    SO_RCVBUF,
    SO_RCVBUFFORCE,
    SO_REUSEADDR,
    SO_REUSEPORT,
    SO_SNDBUF,
    SO_SNDBUFFORCE,
    SOCK_DGRAM,
    SOCK_SEQPACKET,
    SOCK_STREAM,
    SOL_SOCKET,
    UCRED,
)
from sentry.kernel.waiter import Waiter, WaitQueue
from sentry.socket.ifioctl import INTERFACE_IOCTLS, interface_ioctl
from sentry.socket.socket import Control, Received, SocketImpl
from sentry.socket.unix import address as unaddr
from sentry.socket.unix.address import UnixAddress
from sentry.socket.unix.namespace import namespace_of
from sentry.vfs.context import current_task
from sentry.vfs.creds import MAY_WRITE, check_access
from sentry.vfs.inode import POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM
from sentry.vfs.stat import S_IFMT, S_IFSOCK

#: include/net/sock.h: POLLRDHUP
POLLRDHUP = 0x2000
_READABLE = POLLIN | POLLRDNORM
_WRITABLE = POLLOUT | POLLWRNORM
#: net/core/sock.c: sysctl_wmem_default / rmem_default (and their maxima).
DEFAULT_BUF = 212992
MAX_BUF = 212992
#: SOCK_MIN_SNDBUF / SOCK_MIN_RCVBUF (include/net/sock.h, 2 * skb overhead).
MIN_SNDBUF = 4608
MIN_RCVBUF = 2304
#: /proc/sys/net/unix/max_dgram_qlen default.
MAX_DGRAM_QLEN = 10
#: /proc/sys/net/core/somaxconn default.
SOMAXCONN = 4096

_LOCK = threading.Lock()


class _Message:
    """One sent buffer (an skb): data, what is left of it, its control
    messages, the sender's address and who is charged for it."""

    __slots__ = ("addr", "control", "creds", "data", "off", "sender")

    def __init__(
        self,
        data: bytes,
        control: Control | None,
        creds: tuple[int, int, int],
        addr: bytes,
        sender: UnixSocket,
    ) -> None:
        self.data = data
        self.off = 0
        self.control = control
        self.creds = creds
        self.addr = addr
        self.sender = sender


def _creds_of(t: Any) -> tuple[int, int, int]:
    """(pid, uid, gid) as SCM_CREDENTIALS fills them (scm_set_cred)."""
    if t is None:
        return (0, 0, 0)
    return (t.tgid, t.creds.uid, t.creds.gid)


def _peercred_of(t: Any) -> tuple[int, int, int]:
    """(pid, euid, egid) as SO_PEERCRED reports (cred_to_ucred)."""
    if t is None:
        return (0, 0, 0)
    return (t.tgid, t.creds.euid, t.creds.egid)


class UnixSocket(SocketImpl):
    """One AF_UNIX socket."""

    def __init__(self, kernel: Any, type_: int) -> None:
        super().__init__(AF_UNIX, type_, 0)
        self.kernel = kernel
        self.queue = WaitQueue()
        #: Senders blocked on this socket's full datagram queue (peer_wait).
        self.peer_wait = WaitQueue()
        self.rq: deque[_Message] = deque()
        self.peer: UnixSocket | None = None
        self.addr: UnixAddress | None = None
        self.path_key: tuple[int, int] | None = None
        self.listening = False
        self.backlog = 0
        self.accept_q: deque[UnixSocket] = deque()
        self.shut_rd = False
        self.shut_wr = False
        self.connected = False  # stream/seqpacket: TCP_ESTABLISHED
        self.error: type[LinuxError] | None = None
        self.wmem = 0
        self.sndbuf = DEFAULT_BUF
        self.rcvbuf = DEFAULT_BUF
        self.passcred = False
        self.peercred: tuple[int, int, int] | None = None
        self.flags: dict[int, int] = {}
        self.linger = (0, 0)
        self.released = False

    @property
    def wait_queue(self) -> WaitQueue:
        """Where poll, select and epoll sleep for this socket."""
        return self.queue

    @property
    def connection_based(self) -> bool:
        return self.type in (SOCK_STREAM, SOCK_SEQPACKET)

    # -- names -------------------------------------------------------------------
    def bind(self, t: Any, addr: bytes) -> None:
        """bind(2) (unix_bind): abstract, path (a socket file in the VFS) or autobind."""
        ns = namespace_of(self.kernel)
        if unaddr.is_autobind(addr):
            with _LOCK:
                if self.addr is not None:
                    raise EINVAL
            self._autobind(ns)
            return
        name = unaddr.parse(addr)
        if name.abstract:
            with _LOCK:
                if self.addr is not None:
                    raise EINVAL
                ns.bind_abstract(name.name, self)
                self.addr = name
            return
        # unix_bind_bsd makes the file first (EADDRINUSE if the name
        # exists), then finds the socket already bound (EINVAL, and the new
        # file is removed again).
        vfs = t.kernel.vfs
        try:
            vfs.mknod(t.fs, None, name.name, S_IFSOCK | 0o777, 0, t.creds)
        except EEXIST:
            raise EADDRINUSE from None
        vd = vfs.resolve(t.fs, name.name, t.creds, start=None, follow=False)
        key = vd.inode.key
        with _LOCK:
            bound = self.addr is not None
            if not bound:
                ns.bind_path(key, self)
                self.addr = name
                self.path_key = key
        if bound:
            vfs.unlink(t.fs, None, name.name, t.creds)
            raise EINVAL

    def _autobind(self, ns: Any) -> None:
        with _LOCK:
            if self.addr is not None:
                return
            self.addr = UnixAddress(True, ns.autobind(self))

    def getsockname(self) -> bytes:
        with _LOCK:
            return self.addr.encode() if self.addr is not None else unaddr.UNNAMED

    def getpeername(self) -> bytes:
        with _LOCK:
            peer = self.peer
            if peer is None or (self.connection_based and not self.connected):
                raise ENOTCONN
            return peer.addr.encode() if peer.addr is not None else unaddr.UNNAMED

    def _find(self, t: Any, raw: bytes) -> UnixSocket:
        """The bound socket ``raw`` names (unix_find_other)."""
        name = unaddr.parse(raw)
        ns = namespace_of(self.kernel)
        if name.abstract:
            other = ns.find_abstract(name.name)
        else:
            vfs = t.kernel.vfs
            vd = vfs.resolve(t.fs, name.name, t.creds, start=None, follow=True)
            st = vd.inode.stat()
            check_access(t.creds, st.mode, st.uid, st.gid, MAY_WRITE)
            if st.mode & S_IFMT != S_IFSOCK:
                raise ECONNREFUSED
            other = ns.find_path(vd.inode.key)
        if other is None or other.released:
            raise ECONNREFUSED
        if other.type != self.type:
            # Abstract names are hashed with their type (unix_find_abstract).
            raise ECONNREFUSED if name.abstract else EPROTOTYPE
        return other

    # -- connections -------------------------------------------------------------
    def listen(self, backlog: int) -> None:
        """listen(2) (unix_listen): bound stream or seqpacket sockets only."""
        if not self.connection_based:
            raise ENOTSUP
        with _LOCK:
            if self.addr is None or self.connected:
                raise EINVAL
            self.backlog = min(max(backlog, 0), SOMAXCONN)
            self.listening = True
            # init_peercred: what connecting clients see as SO_PEERCRED.
            self.peercred = _peercred_of(current_task())
        self.queue.notify(_READABLE | _WRITABLE)

    def connect(self, t: Any, addr: bytes, nonblock: bool) -> None:
        if len(addr) < 2:
            raise EINVAL
        if not self.connection_based:
            self._connect_dgram(t, addr)
            return
        other = self._find(t, addr)
        deadline, interrupted = self.deadline(sending=True)
        waiter: Waiter | None = None
        entry = None
        try:
            while True:
                with _LOCK:
                    if self.connected:
                        raise EISCONN
                    if self.listening:
                        raise EINVAL
                    if other.released or not other.listening:
                        raise ECONNREFUSED
                    if other.shut_rd:
                        raise ECONNREFUSED
                    if len(other.accept_q) <= other.backlog:
                        self._join(t, other)
                        break
                if nonblock:
                    raise EAGAIN
                if waiter is None:
                    waiter = Waiter(t)
                    entry = other.peer_wait.add(waiter.wake, _WRITABLE)
                    continue
                if _sleep(waiter, deadline):
                    raise interrupted
                if deadline is not None and time.monotonic() >= deadline:
                    raise EAGAIN
        finally:
            if entry is not None:
                other.peer_wait.remove(entry)
        other.queue.notify(_READABLE)
        self.queue.notify(_WRITABLE)

    def _join(self, t: Any, listener: UnixSocket) -> None:
        """Pair this socket with a new one queued on ``listener`` (_LOCK held)."""
        server = UnixSocket(self.kernel, self.type)
        server.addr = listener.addr
        server.sndbuf, server.rcvbuf = listener.sndbuf, listener.rcvbuf
        server.passcred = listener.passcred
        server.peer, self.peer = self, server
        server.connected = self.connected = True
        server.peercred = _peercred_of(t)
        self.peercred = listener.peercred
        listener.accept_q.append(server)

    def _connect_dgram(self, t: Any, addr: bytes) -> None:
        """connect(2) on a datagram socket: set (or with AF_UNSPEC clear) the
        default destination (unix_dgram_connect)."""
        family = int.from_bytes(addr[:2], "little")
        if family == 0:  # AF_UNSPEC
            with _LOCK:
                self.peer = None
            return
        other = self._find(t, addr)
        with _LOCK:
            self.peer = other
        self.queue.notify(_WRITABLE)

    def accept(self, t: Any, nonblock: bool) -> tuple[SocketImpl, bytes]:
        if not self.connection_based:
            raise ENOTSUP
        deadline, interrupted = self.deadline(sending=False)

        def attempt() -> UnixSocket | None:
            with _LOCK:
                if not self.listening:
                    raise EINVAL
                return self.accept_q.popleft() if self.accept_q else None

        server = self._wait(t, attempt, _READABLE, nonblock, deadline, interrupted)
        self.peer_wait.notify(_WRITABLE)
        with _LOCK:
            peer = server.peer
            name = peer.addr.encode() if peer is not None and peer.addr else unaddr.UNNAMED
        return server, name

    def _wait(  # noqa: PLR0917
        self,
        t: Any,
        attempt: Callable[[], Any],
        mask: int,
        nonblock: bool,
        deadline: float | None,
        interrupted: type[LinuxError],
    ) -> Any:
        result = attempt()
        if result is not None:
            return result
        if nonblock:
            raise EAGAIN
        waiter = Waiter(t)
        entry = self.queue.add(waiter.wake, mask | POLLERR | POLLHUP)
        try:
            while True:
                result = attempt()
                if result is not None:
                    return result
                if _sleep(waiter, deadline):
                    raise interrupted
                if deadline is not None and time.monotonic() >= deadline:
                    result = attempt()
                    if result is not None:
                        return result
                    raise EAGAIN
        finally:
            self.queue.remove(entry)

    # -- data ------------------------------------------------------------------------
    def sendmsg(  # noqa: PLR0917
        self, t: Any, data: bytes, flags: int, addr: bytes | None, control: Control, nonblock: bool
    ) -> int:
        creds = control.creds or _creds_of(t)
        if self.type == SOCK_STREAM:
            if addr:
                with _LOCK:
                    raise EISCONN if self.connected else ENOTSUP
            return self._send_stream(t, data, control, creds, nonblock)
        if self.type == SOCK_SEQPACKET:
            with _LOCK:
                if not self.connected:
                    raise ENOTCONN
            addr = None
        if len(data) > self.sndbuf - 32:
            raise EMSGSIZE
        target = self._find(t, addr) if addr else None
        if self.passcred and self.addr is None and self.type == SOCK_DGRAM:
            self._autobind(namespace_of(self.kernel))
        deadline, interrupted = self.deadline(sending=True)
        waiter: Waiter | None = None
        entries: list[tuple[WaitQueue, Any]] = []
        try:
            while True:
                with _LOCK:
                    other = target if target is not None else self.peer
                    if self.shut_wr:
                        raise EPIPE
                    if other is None:
                        raise ENOTCONN
                    if other.released:
                        if self.peer is other:
                            if self.type == SOCK_DGRAM:
                                self.peer = None
                                raise ECONNREFUSED
                            raise EPIPE
                        raise ECONNREFUSED
                    if other.shut_rd:
                        raise EPIPE
                    if (
                        self.type == SOCK_DGRAM
                        and other.peer is not None
                        and other.peer is not self
                    ):
                        # unix_may_send: a target connected elsewhere refuses us.
                        raise EPERM
                    full_q = other.peer is not self and len(other.rq) > MAX_DGRAM_QLEN
                    if not full_q and self.wmem < self.sndbuf:
                        sender_addr = self.addr.encode() if self.addr is not None else b""
                        msg = _Message(data, control if control.rights else None, creds,
                                       sender_addr, self)  # fmt: skip
                        other.rq.append(msg)
                        self.wmem += len(data)
                        break
                if nonblock:
                    raise EAGAIN
                if waiter is None:
                    waiter = Waiter(t)
                    entries = [
                        (self.queue, self.queue.add(waiter.wake, _WRITABLE | POLLERR | POLLHUP)),
                        (other.peer_wait, other.peer_wait.add(waiter.wake, _WRITABLE)),
                    ]
                    continue
                if _sleep(waiter, deadline):
                    raise interrupted
                if deadline is not None and time.monotonic() >= deadline:
                    raise EAGAIN
        finally:
            for q, e in entries:
                q.remove(e)
        other.queue.notify(_READABLE)
        return len(data)

    def _send_stream(
        self,
        t: Any,
        data: bytes,
        control: Control,
        creds: tuple[int, int, int],
        nonblock: bool,
    ) -> int:
        """unix_stream_sendmsg: pieces of at most half the send buffer, each
        waiting for room; a signal or O_NONBLOCK after progress returns it."""
        if not data:
            # unix_stream_sendmsg sends nothing for zero bytes (passed
            # descriptors included), after the state checks.
            with _LOCK:
                if not self.connected or self.peer is None:
                    raise ENOTCONN
                if self.shut_wr:
                    raise EPIPE
            control.release()
            return 0
        deadline, interrupted = self.deadline(sending=True)
        sent = 0
        first = True
        waiter: Waiter | None = None
        entry = None
        try:
            while sent < len(data):
                with _LOCK:
                    other = self.peer
                    if not self.connected or other is None:
                        raise ENOTCONN
                    if self.shut_wr or other.released or other.shut_rd:
                        if sent:
                            return sent
                        raise EPIPE
                    if self.wmem < self.sndbuf:
                        size = min(len(data) - sent, max(self.sndbuf // 2 - 64, 1024))
                        chunk = data[sent : sent + size]
                        ctl = control if first and control.rights else None
                        name = self.addr.encode() if self.addr is not None else b""
                        other.rq.append(_Message(chunk, ctl, creds, name, self))
                        self.wmem += len(chunk)
                        sent += len(chunk)
                        first = False
                        progressed = True
                    else:
                        progressed = False
                if progressed:
                    other.queue.notify(_READABLE)
                    continue
                if nonblock:
                    if sent:
                        return sent
                    raise EAGAIN
                if waiter is None:
                    waiter = Waiter(t)
                    entry = self.queue.add(waiter.wake, _WRITABLE | POLLERR | POLLHUP)
                    continue
                if _sleep(waiter, deadline):
                    if sent:
                        return sent
                    raise interrupted
                if deadline is not None and time.monotonic() >= deadline:
                    if sent:
                        return sent
                    raise EAGAIN
        finally:
            if entry is not None:
                self.queue.remove(entry)
        return sent

    def recvmsg(self, t: Any, n: int, flags: int, nonblock: bool) -> Received:
        if self.type == SOCK_STREAM:
            return self._recv_stream(t, n, flags, nonblock)
        deadline, interrupted = self.deadline(sending=False)

        def attempt() -> Received | None:
            with _LOCK:
                if self.type == SOCK_SEQPACKET and not self.connected:
                    raise ENOTCONN
                if not self.rq:
                    if self.error is not None:
                        err, self.error = self.error, None
                        raise err
                    if self.shut_rd:
                        return Received(b"", 0)
                    return None
                msg = self.rq[0]
                data = msg.data[:n]
                got = Received(data, len(data), msg.addr)
                if len(msg.data) > n:
                    got.flags |= MSG_TRUNC
                    if flags & MSG_TRUNC:
                        got.length = len(msg.data)
                if flags & MSG_PEEK:
                    if msg.control is not None:
                        got.control = msg.control.dup()
                else:
                    self.rq.popleft()
                    msg.sender.wmem -= len(msg.data)
                    got.control = msg.control
                if self.passcred:
                    if got.control is None:
                        got.control = Control()
                    got.control.creds = msg.creds
                sender = msg.sender
            if not flags & MSG_PEEK:
                sender.queue.notify(_WRITABLE)
                self.peer_wait.notify(_WRITABLE)
            return got

        return self._wait(t, attempt, _READABLE, nonblock, deadline, interrupted)

    def _recv_stream(self, t: Any, n: int, flags: int, nonblock: bool) -> Received:
        """unix_stream_read_generic: at least one byte (all ``n`` with
        MSG_WAITALL) unless EOF, an error, a signal or O_NONBLOCK ends it."""
        deadline, interrupted = self.deadline(sending=False)
        target = n if flags & MSG_WAITALL else 1
        out: list[bytes] = []
        copied = 0
        control: Control | None = None
        first_creds: tuple[int, int, int] | None = None
        sender_addr = b""
        waiter: Waiter | None = None
        entry = None
        try:
            while True:
                senders: set[UnixSocket] = set()
                done = False
                with _LOCK:
                    if not self.connected:
                        raise EINVAL
                    index = 0
                    while copied < n and index < len(self.rq):
                        msg = self.rq[index]
                        if first_creds is not None and self.passcred and msg.creds != first_creds:
                            done = True
                            break
                        if first_creds is None:
                            first_creds = msg.creds
                            sender_addr = msg.addr
                        take = msg.data[msg.off : msg.off + n - copied]
                        out.append(take)
                        copied += len(take)
                        if flags & MSG_PEEK:
                            index += 1
                            if msg.control is not None:
                                control = msg.control.dup()
                                done = True
                                break
                            continue
                        msg.off += len(take)
                        msg.sender.wmem -= len(take)
                        senders.add(msg.sender)
                        if msg.control is not None:
                            control, msg.control = msg.control, None
                        if msg.off < len(msg.data):
                            break
                        self.rq.popleft()
                        if control is not None:
                            done = True
                            break
                    eof = not self.rq and (self.shut_rd or self.error is not None)
                    err = None
                    if not self.rq and self.error is not None and copied == 0:
                        err, self.error = self.error, None
                for sender in senders:
                    sender.queue.notify(_WRITABLE)
                if err is not None:
                    raise err
                if done or copied >= target or eof or (flags & MSG_PEEK and copied):
                    break
                if nonblock:
                    if copied:
                        break
                    raise EAGAIN
                if waiter is None:
                    waiter = Waiter(t)
                    entry = self.queue.add(waiter.wake, _READABLE | POLLERR | POLLHUP)
                    continue
                if _sleep(waiter, deadline):
                    if copied:
                        break
                    raise interrupted
                if deadline is not None and time.monotonic() >= deadline:
                    if copied:
                        break
                    raise EAGAIN
        finally:
            if entry is not None:
                self.queue.remove(entry)
        got = Received(b"".join(out), copied, sender_addr, control)
        if self.passcred and first_creds is not None:
            if got.control is None:
                got.control = Control()
            got.control.creds = first_creds
        return got

    def shutdown(self, how: int) -> None:
        """shutdown(2) (unix_shutdown): the peer of a connection sees the
        mirror image (our SHUT_WR is its end of input)."""
        if how not in (SHUT_RD, 1, SHUT_RDWR):
            raise EINVAL
        rd, wr = how in (SHUT_RD, SHUT_RDWR), how in (1, SHUT_RDWR)
        with _LOCK:
            self.shut_rd |= rd
            self.shut_wr |= wr
            peer = self.peer if self.connection_based else None
            if peer is not None:
                peer.shut_rd |= wr
                peer.shut_wr |= rd
        self.queue.notify(_READABLE | _WRITABLE | POLLHUP)
        if peer is not None:
            peer.queue.notify(_READABLE | _WRITABLE | POLLHUP)

    # -- state for poll and ioctl ----------------------------------------------------
    def readiness(self, mask: int) -> int:
        """unix_poll / unix_dgram_poll."""
        ev = 0
        with _LOCK:
            if self.error is not None:
                ev |= POLLERR
            if self.shut_rd and self.shut_wr:
                ev |= POLLHUP
            if self.shut_rd:
                ev |= POLLRDHUP | _READABLE
            if self.rq or (self.listening and self.accept_q):
                ev |= _READABLE
            if self.connection_based and not self.connected and not self.listening:
                ev |= POLLHUP
            if self._writable():
                ev |= _WRITABLE
        return ev & (mask | POLLERR | POLLHUP)

    def _writable(self) -> bool:
        if self.listening:
            return False
        if self.type == SOCK_DGRAM:
            other = self.peer
            if other is not None and other.peer is not self and len(other.rq) > MAX_DGRAM_QLEN:
                return False
        return self.wmem * 4 <= self.sndbuf

    def readable_now(self) -> int:
        """FIONREAD/SIOCINQ: bytes queued (streams) or the next datagram's size."""
        with _LOCK:
            if self.listening:
                raise EINVAL
            if self.type == SOCK_STREAM:
                return sum(len(m.data) - m.off for m in self.rq)
            return len(self.rq[0].data) if self.rq else 0

    def ioctl(self, request: int, arg: int, io: Any) -> int:
        """SIOCOUTQ (bytes not yet read by the peer) and interface queries."""
        if request == SIOCOUTQ:
            with _LOCK:
                queued = self.wmem
            io.copy_out(arg, queued.to_bytes(4, "little", signed=True))
            return 0
        if request in INTERFACE_IOCTLS:
            return interface_ioctl(request, arg, io)
        return super().ioctl(request, arg, io)

    # -- options -------------------------------------------------------------------------
    def getsockopt(self, t: Any, level: int, name: int, size: int) -> bytes:
        if level != SOL_SOCKET:
            raise ENOTSUP  # unix_*_ops have no getsockopt of their own
        with _LOCK:
            if name == SO_PEERCRED:
                cred = self.peercred
                if cred is None:
                    return UCRED.pack(0, 0xFFFFFFFF, 0xFFFFFFFF)  # no peer: overflow ids
                return UCRED.pack(*cred)
            if name == SO_ERROR:
                err, self.error = self.error, None
                return _int(err.errno if err is not None else 0)
            if name == SO_PASSCRED:
                return _int(int(self.passcred))
            if name == SO_SNDBUF:
                return _int(self.sndbuf)
            if name == SO_RCVBUF:
                return _int(self.rcvbuf)
            if name == SO_ACCEPTCONN:
                return _int(int(self.listening))
            if name == SO_LINGER:
                return LINGER.pack(*self.linger)
            if name in _BOOL_OPTS:
                return _int(self.flags.get(name, 0))
        return super().getsockopt(t, level, name, size)

    def setsockopt(self, t: Any, level: int, name: int, value: bytes) -> None:
        if level != SOL_SOCKET:
            raise ENOTSUP
        if name == SO_LINGER:
            if len(value) < LINGER.size:
                raise EINVAL
            onoff, secs = LINGER.unpack(value[: LINGER.size])
            self.linger = (1 if onoff else 0, secs)
            return
        if name in (SO_PASSCRED, SO_SNDBUF, SO_RCVBUF, SO_SNDBUFFORCE, SO_RCVBUFFORCE) or (
            name in _BOOL_OPTS
        ):
            if len(value) < 4:
                raise EINVAL
            v = int.from_bytes(value[:4], "little", signed=True)
            with _LOCK:
                if name == SO_PASSCRED:
                    self.passcred = bool(v)
                elif name in (SO_SNDBUF, SO_SNDBUFFORCE):
                    # net/core/sock.c sk_setsockopt: doubled, clamped.
                    v = min(max(v, 0), MAX_BUF) if name == SO_SNDBUF else max(v, 0)
                    self.sndbuf = max(v * 2, MIN_SNDBUF)
                elif name in (SO_RCVBUF, SO_RCVBUFFORCE):
                    v = min(max(v, 0), MAX_BUF) if name == SO_RCVBUF else max(v, 0)
                    self.rcvbuf = max(v * 2, MIN_RCVBUF)
                else:
                    self.flags[name] = 1 if v else 0
            self.queue.notify(_WRITABLE)
            return
        super().setsockopt(t, level, name, value)

    # -- lifetime ---------------------------------------------------------------------------
    def release(self, embryo: bool = False) -> None:
        """The last descriptor closed (unix_release_sock): unbind, tell the
        peer (EOF, or ECONNRESET if we left data unread or were never
        accepted: ``embryo``), drop queued messages and pending connections."""
        with _LOCK:
            if self.released:
                return
            self.released = True
            peer = self.peer
            dropped = list(self.rq)
            had_data = bool(self.rq)
            self.rq.clear()
            pending = list(self.accept_q)
            self.accept_q.clear()
            self.listening = False
            if peer is not None and self.connection_based:
                peer.shut_rd = peer.shut_wr = True
                if had_data or embryo:
                    peer.error = ECONNRESET
            addr, key = self.addr, self.path_key
            for msg in dropped:
                msg.sender.wmem -= len(msg.data) - msg.off
        if addr is not None:
            namespace_of(self.kernel).unbind(addr.abstract, addr.name, key, self)
        for msg in dropped:
            if msg.control is not None:
                msg.control.release()
            msg.sender.queue.notify(_WRITABLE)
        for sock in pending:
            sock.release(embryo=True)
        if peer is not None:
            peer.queue.notify(_READABLE | _WRITABLE | POLLHUP | POLLERR)
            peer.peer_wait.notify(_WRITABLE)
        self.peer_wait.notify(_WRITABLE)
        self.queue.notify(_READABLE | _WRITABLE | POLLHUP)


_BOOL_OPTS = frozenset({SO_REUSEADDR, SO_REUSEPORT, SO_KEEPALIVE, SO_BROADCAST, SO_OOBINLINE})


def _int(v: int) -> bytes:
    return v.to_bytes(4, "little", signed=True)


def _sleep(waiter: Waiter, deadline: float | None) -> bool:
    """Sleep until woken, interrupted (True) or ``deadline``."""
    timeout = None
    if deadline is not None:
        timeout = max(0.0, deadline - time.monotonic())
    return waiter.sleep(timeout)


def socketpair(kernel: Any, type_: int, t: Any) -> tuple[UnixSocket, UnixSocket]:
    """Two connected sockets (unix_socketpair)."""
    a, b = UnixSocket(kernel, type_), UnixSocket(kernel, type_)
    a.peer, b.peer = b, a
    if a.connection_based:
        a.connected = b.connected = True
    a.peercred = b.peercred = _peercred_of(t)
    return a, b


def check_type(type_: int) -> None:
    """socket(AF_UNIX, type): ESOCKTNOSUPPORT for types Unix sockets lack."""
    if type_ not in (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET):
        raise ESOCKTNOSUPPORT
