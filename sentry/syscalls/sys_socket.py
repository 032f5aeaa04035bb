"""Implements the socket syscalls (net/socket.c): socket, socketpair, bind,
listen, accept, accept4, connect, getsockname, getpeername, sendto,
recvfrom, sendmsg, recvmsg, sendmmsg, recvmmsg, shutdown, getsockopt,
setsockopt.

This module owns the user-memory side: sockaddrs are copied in with
move_addr_to_kernel's length rules and out with move_addr_to_user's
truncation; msghdr, iovecs and control messages (SCM_RIGHTS,
SCM_CREDENTIALS) are decoded and encoded here (net/core/scm.c). The
sockets themselves (``sentry.socket``) never touch user memory.
"""

from __future__ import annotations

import struct
import time
from typing import Any

from sentry.abi import sysno
from sentry.abi.errors import (
    EBADF,
    EFAULT,
    EINVAL,
    EMSGSIZE,
    ENOBUFS,
    ENOTSOCK,
    ENOTSUP,
    EPERM,
    EPIPE,
    LinuxError,
)
from sentry.abi.socket import (
    AF_UNIX,
    CMSGHDR,
    MMSGHDR_SIZE,
    MSG_CMSG_CLOEXEC,
    MSG_CTRUNC,
    MSG_DONTWAIT,
    MSG_NOSIGNAL,
    MSG_OOB,
    MSG_WAITFORONE,
    MSGHDR,
    SCM_CREDENTIALS,
    SCM_MAX_FD,
    SCM_RIGHTS,
    SOCK_CLOEXEC,
    SOCK_NONBLOCK,
    SOCK_TYPE_MASK,
    SOCKADDR_STORAGE_SIZE,
    SOL_SOCKET,
    UCRED,
    cmsg_align,
    cmsg_len,
    cmsg_space,
)
from sentry.kernel.signals import SIGPIPE
from sentry.socket.families import new_socket, new_socketpair
from sentry.socket.socket import Control, Received, SocketImpl, new_socket_file
from sentry.syscalls._fileargs import MAX_RW_COUNT, get_file, nofile_limit, s32, vfs_of
from sentry.syscalls.sys_read_write import UIO_MAXIOV
from sentry.syscalls.table import Support, SyscallArgs, syscall
from sentry.vfs.file import FileDescription
from sentry.vfs.flags import O_NONBLOCK

#: include/uapi/linux/capability.h
CAP_SETUID = 7
CAP_SETGID = 6
CAP_SYS_ADMIN = 21
_INT = struct.Struct("<i")
_TIMESPEC = struct.Struct("<qq")


# -- descriptors -------------------------------------------------------------------------
def _socket(t: Any, fd: int) -> tuple[FileDescription, SocketImpl]:
    """The socket at ``fd``: EBADF if none, ENOTSOCK if not a socket."""
    desc = get_file(t, fd)
    if not isinstance(desc.impl, SocketImpl):
        raise ENOTSOCK
    return desc, desc.impl


def _install(t: Any, impl: SocketImpl, flags: int) -> int:
    desc = new_socket_file(impl, bool(flags & SOCK_NONBLOCK))
    try:
        return int(
            t.fd_table.install(desc, cloexec=bool(flags & SOCK_CLOEXEC), limit=nofile_limit(t))
        )
    except BaseException:
        impl.release()
        raise


def _nonblock(desc: FileDescription, flags: int) -> bool:
    return bool(desc.flags & O_NONBLOCK or flags & MSG_DONTWAIT)


# -- addresses ---------------------------------------------------------------------------
def _addr_in(t: Any, addr: int, length: int) -> bytes:
    """move_addr_to_kernel: 0..sizeof(sockaddr_storage) bytes, else EINVAL."""
    length = s32(length)
    if length < 0 or length > SOCKADDR_STORAGE_SIZE:
        raise EINVAL
    if length == 0:
        return b""
    return bytes(t.mm.copy_in(addr, length))


def _addr_out(t: Any, name: bytes, addr: int, len_addr: int) -> None:
    """move_addr_to_user: truncate to the caller's length, report the full one."""
    if not len_addr:
        return
    have = _INT.unpack(t.mm.copy_in(len_addr, 4))[0]
    if have < 0:
        raise EINVAL
    n = min(have, len(name))
    if n and addr:
        t.mm.copy_out(addr, name[:n])
    t.mm.copy_out(len_addr, _INT.pack(len(name)))


# -- socket, socketpair, bind, listen, accept, connect --------------------------------------
def _split_type(raw: int) -> tuple[int, int]:
    raw = s32(raw)
    flags = raw & ~SOCK_TYPE_MASK
    if flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK):
        raise EINVAL
    return raw & SOCK_TYPE_MASK, flags


@syscall(
    sysno.SOCKET,
    "socket",
    Support.PARTIAL,
    "AF_UNIX (Sentry: stream, dgram, seqpacket); AF_INET/AF_INET6 TCP and UDP on host "
    "sockets (no SOCK_RAW/ICMP: ESOCKTNOSUPPORT/EPROTONOSUPPORT); AF_NETLINK "
    "NETLINK_ROUTE host backed and read-only (changes EPERM), other protocols "
    "EPROTONOSUPPORT; other families EAFNOSUPPORT",
)
def sys_socket(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall socket(2)."""
    type_, flags = _split_type(args[1])
    impl = new_socket(t.kernel, s32(args[0]), type_, s32(args[2]))
    return _install(t, impl, flags)


@syscall(
    sysno.SOCKETPAIR,
    "socketpair",
    Support.PARTIAL,
    "AF_UNIX only (EOPNOTSUPP for other families, as Linux)",
)
def sys_socketpair(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall socketpair(2)."""
    type_, flags = _split_type(args[1])
    a, b = new_socketpair(t.kernel, s32(args[0]), type_, s32(args[2]), t)
    try:
        fa = _install(t, a, flags)
    except BaseException:
        b.release()
        raise
    try:
        fb = _install(t, b, flags)
    except BaseException:
        t.fd_table.close(fa)
        raise
    try:
        t.mm.copy_out(args[3], struct.pack("<ii", fa, fb))
    except BaseException:
        t.fd_table.close(fa)
        t.fd_table.close(fb)
        raise
    return 0


@syscall(
    sysno.BIND,
    "bind",
    Support.PARTIAL,
    "Unix: abstract, path (a socket file in the Sentry's VFS) and autobind",
)
def sys_bind(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall bind(2)."""
    _, sock = _socket(t, args[0])
    addr = _addr_in(t, args[1], args[2])
    vfs_of(t)
    sock.bind(t, addr)
    return 0


@syscall(sysno.LISTEN, "listen")
def sys_listen(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall listen(2)."""
    _, sock = _socket(t, args[0])
    sock.listen(s32(args[1]))
    return 0


def _accept(t: Any, fd: int, addr: int, len_addr: int, flags: int) -> int:
    if flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK):
        raise EINVAL
    desc, sock = _socket(t, fd)
    new, peer = sock.accept(t, _nonblock(desc, 0))
    nfd = _install(t, new, flags)
    if addr:
        try:
            _addr_out(t, peer, addr, len_addr)
        except BaseException:
            t.fd_table.close(nfd)
            raise
    return nfd


@syscall(sysno.ACCEPT, "accept")
def sys_accept(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall accept(2)."""
    return _accept(t, args[0], args[1], args[2], 0)


@syscall(sysno.ACCEPT4, "accept4")
def sys_accept4(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall accept4(2)."""
    return _accept(t, args[0], args[1], args[2], s32(args[3]))


@syscall(sysno.CONNECT, "connect", note="Unix by path or abstract name; inet on host sockets")
def sys_connect(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall connect(2)."""
    desc, sock = _socket(t, args[0])
    addr = _addr_in(t, args[1], args[2])
    vfs_of(t)
    sock.connect(t, addr, _nonblock(desc, 0))
    return 0


@syscall(sysno.GETSOCKNAME, "getsockname")
def sys_getsockname(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall getsockname(2)."""
    _, sock = _socket(t, args[0])
    _addr_out(t, sock.getsockname(), args[1], _len_pointer(args[2]))
    return 0


@syscall(sysno.GETPEERNAME, "getpeername")
def sys_getpeername(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall getpeername(2)."""
    _, sock = _socket(t, args[0])
    _addr_out(t, sock.getpeername(), args[1], _len_pointer(args[2]))
    return 0


def _len_pointer(addr: int) -> int:
    """getsockname/getpeername read the length through this pointer: NULL is EFAULT."""
    if not addr:
        raise EFAULT
    return addr


@syscall(sysno.SHUTDOWN, "shutdown")
def sys_shutdown(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall shutdown(2)."""
    _, sock = _socket(t, args[0])
    sock.shutdown(s32(args[1]))
    return 0


# -- options ---------------------------------------------------------------------------------
@syscall(
    sysno.GETSOCKOPT,
    "getsockopt",
    Support.PARTIAL,
    "SOL_SOCKET common options; Unix: SO_PEERCRED SO_PASSCRED; inet: a whitelist of "
    "SOL_SOCKET/SOL_TCP/SOL_IP/SOL_IPV6 options passed to the host; others ENOPROTOOPT",
)
def sys_getsockopt(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall getsockopt(2)."""
    _, sock = _socket(t, args[0])
    level, name, val, len_addr = s32(args[1]), s32(args[2]), args[3], args[4]
    size = _INT.unpack(t.mm.copy_in(len_addr, 4))[0]
    if size < 0:
        raise EINVAL
    value = sock.getsockopt(t, level, name, size)
    n = min(size, len(value))
    if n:
        t.mm.copy_out(val, value[:n])
    t.mm.copy_out(len_addr, _INT.pack(n))
    return 0


@syscall(sysno.SETSOCKOPT, "setsockopt", Support.PARTIAL, "the options getsockopt lists")
def sys_setsockopt(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall setsockopt(2)."""
    _, sock = _socket(t, args[0])
    level, name, size = s32(args[1]), s32(args[2]), s32(args[4])
    if size < 0:
        raise EINVAL
    value = bytes(t.mm.copy_in(args[3], min(size, 4096))) if size else b""
    sock.setsockopt(t, level, name, value)
    return 0


# -- control messages ----------------------------------------------------------------------
def _control_in(t: Any, addr: int, length: int) -> Control:
    """__scm_send: SCM_RIGHTS and SCM_CREDENTIALS of SOL_SOCKET; other
    levels are skipped, other SOL_SOCKET types are EINVAL."""
    control = Control()
    if length > 0x7FFFFFFF:
        raise ENOBUFS
    if length < CMSGHDR.size:
        return control
    raw = bytes(t.mm.copy_in(addr, length))
    off = 0
    try:
        while off + CMSGHDR.size <= length:
            clen, level, ctype = CMSGHDR.unpack_from(raw, off)
            if clen < CMSGHDR.size or clen > length - off:
                raise EINVAL
            body = raw[off + CMSGHDR.size : off + clen]
            if level == SOL_SOCKET:
                if ctype == SCM_RIGHTS:
                    _rights_in(t, body, control)
                elif ctype == SCM_CREDENTIALS:
                    if clen != cmsg_len(UCRED.size):
                        raise EINVAL
                    control.creds = _check_creds(t, UCRED.unpack(body))
                else:
                    raise EINVAL
            off += cmsg_align(clen)
    except BaseException:
        control.release()
        raise
    return control


def _rights_in(t: Any, body: bytes, control: Control) -> None:
    count = len(body) // 4
    if count <= 0:
        return
    if count + len(control.rights) > SCM_MAX_FD:
        raise EINVAL
    for (fd,) in struct.iter_unpack("<i", body[: count * 4]):
        desc = t.fd_table.get(fd)
        if desc.is_path:
            raise EBADF
        desc.inc_ref()
        control.rights.append(desc)


def _check_creds(t: Any, creds: tuple[int, int, int]) -> tuple[int, int, int]:
    """scm_check_creds: one's own ids unless privileged."""
    pid, uid, gid = creds
    c = t.creds
    if pid != t.tgid and not c.has_capability(CAP_SYS_ADMIN):
        raise EPERM
    if uid not in (c.uid, c.euid, c.suid) and not c.has_capability(CAP_SETUID):
        raise EPERM
    if gid not in (c.gid, c.egid, c.sgid) and not c.has_capability(CAP_SETGID):
        raise EPERM
    return creds


def _control_out(t: Any, got: Received, room: int, flags: int) -> tuple[bytes, int]:
    """put_cmsg and scm_detach_fds: the control bytes that fit in ``room``
    and the msg_flags they add (MSG_CTRUNC). Descriptions that do not fit
    are dropped (closed), as Linux does."""
    control = got.control
    out = bytearray()
    msg_flags = 0
    if control is None:
        return b"", 0
    try:
        if control.creds is not None:
            body = UCRED.pack(*control.creds)
            left = room - len(out)
            if left < CMSGHDR.size:
                msg_flags |= MSG_CTRUNC
            else:
                full = cmsg_len(len(body))
                if left < full:
                    # put_cmsg: a truncated message says how much it kept.
                    msg_flags |= MSG_CTRUNC
                    full = left
                rec = CMSGHDR.pack(full, SOL_SOCKET, SCM_CREDENTIALS) + body
                out += rec[:left]
                out += b"\0" * (min(cmsg_space(len(body)), left) - min(len(rec), left))
        if control.rights:
            left = room - len(out)
            fdmax = (left - CMSGHDR.size) // 4 if left > CMSGHDR.size else 0
            fds: list[int] = []
            cloexec = bool(flags & MSG_CMSG_CLOEXEC)
            limit = nofile_limit(t)
            for desc in control.rights[:fdmax]:
                try:
                    fds.append(t.fd_table.install(desc, cloexec=cloexec, limit=limit))
                except LinuxError:
                    msg_flags |= MSG_CTRUNC
                    break
            if fds:
                body = b"".join(_INT.pack(fd) for fd in fds)
                rec = CMSGHDR.pack(cmsg_len(len(body)), SOL_SOCKET, SCM_RIGHTS) + body
                out += rec
                out += b"\0" * (min(cmsg_space(len(body)), left) - len(rec))
            if len(fds) < len(control.rights):
                msg_flags |= MSG_CTRUNC
    finally:
        control.release()
    return bytes(out), msg_flags


# -- data ----------------------------------------------------------------------------------------
def _sigpipe(t: Any, flags: int) -> None:
    if not flags & MSG_NOSIGNAL:
        t.kernel.send_signal(t, SIGPIPE)


def _send(  # noqa: PLR0917
    t: Any,
    desc: FileDescription,
    sock: SocketImpl,
    data: bytes,
    flags: int,
    addr: bytes | None,
    control: Control,
) -> int:
    if flags & MSG_OOB and sock.family == AF_UNIX:
        control.release()
        raise ENOTSUP
    # On success a socket owns the passed descriptions (they travel with
    # the message); on failure they are dropped here.
    try:
        return sock.sendmsg(t, data, flags, addr, control, _nonblock(desc, flags))
    except EPIPE:
        control.release()
        _sigpipe(t, flags)
        raise
    except BaseException:
        control.release()
        raise


@syscall(sysno.SENDTO, "sendto")
def sys_sendto(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall sendto(2)."""
    desc, sock = _socket(t, args[0])
    flags = s32(args[3])
    count = min(args[2], MAX_RW_COUNT)
    data = bytes(t.mm.copy_in(args[1], count)) if count else b""
    addr = _addr_in(t, args[4], args[5]) if args[4] else None
    return _send(t, desc, sock, data, flags, addr, Control())


@syscall(sysno.RECVFROM, "recvfrom")
def sys_recvfrom(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall recvfrom(2)."""
    desc, sock = _socket(t, args[0])
    flags = s32(args[3])
    count = min(args[2], MAX_RW_COUNT)
    got = sock.recvmsg(t, count, flags, _nonblock(desc, flags))
    if got.control is not None:
        got.control.release()
    if got.data:
        t.mm.copy_out(args[1], got.data)
    if args[4]:
        _addr_out(t, got.addr, args[4], args[5])
    return got.length


def _iovecs(t: Any, addr: int, count: int) -> list[tuple[int, int]]:
    if count > UIO_MAXIOV:
        raise EMSGSIZE
    if count == 0:
        return []
    iovs: list[tuple[int, int]] = t.mm.copy_in_iovecs(addr, count)
    for _, n in iovs:
        if n > 0x7FFFFFFFFFFFFFFF:
            raise EINVAL
    return iovs


def _sendmsg(t: Any, desc: FileDescription, sock: SocketImpl, msg_addr: int, flags: int) -> int:
    name, namelen, iov, iovlen, ctl, ctllen, _ = MSGHDR.unpack(t.mm.copy_in(msg_addr, MSGHDR.size))
    namelen = s32(namelen)
    if namelen < 0:
        raise EINVAL
    addr = (
        bytes(t.mm.copy_in(name, min(namelen, SOCKADDR_STORAGE_SIZE))) if name and namelen else None
    )
    iovs = _iovecs(t, iov, iovlen)
    data = b"".join(bytes(t.mm.copy_in(b, n)) for b, n in iovs if n)[:MAX_RW_COUNT]
    control = _control_in(t, ctl, ctllen) if ctllen else Control()
    return _send(t, desc, sock, data, flags, addr, control)


@syscall(
    sysno.SENDMSG,
    "sendmsg",
    Support.PARTIAL,
    "SCM_RIGHTS and SCM_CREDENTIALS on Unix sockets (no garbage collection of sockets "
    "passed over themselves); MSG_OOB on Unix is EOPNOTSUPP; inet control messages EINVAL",
)
def sys_sendmsg(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall sendmsg(2)."""
    desc, sock = _socket(t, args[0])
    return _sendmsg(t, desc, sock, args[1], s32(args[2]))


def _recvmsg(t: Any, desc: FileDescription, sock: SocketImpl, msg_addr: int, flags: int) -> int:
    raw = t.mm.copy_in(msg_addr, MSGHDR.size)
    name, namelen, iov, iovlen, ctl, ctllen, _ = MSGHDR.unpack(raw)
    if s32(namelen) < 0:
        raise EINVAL
    iovs = _iovecs(t, iov, iovlen)
    total = min(sum(n for _, n in iovs), MAX_RW_COUNT)
    got = sock.recvmsg(t, total, flags, _nonblock(desc, flags))
    pos = 0
    for base, n in iovs:
        if pos >= len(got.data):
            break
        chunk = got.data[pos : pos + n]
        if chunk:
            t.mm.copy_out(base, chunk)
        pos += len(chunk)
    room = ctllen if ctl else 0
    cbytes, cflags = _control_out(t, got, min(room, 0x7FFFFFFF), flags)
    if cbytes:
        t.mm.copy_out(ctl, cbytes)
    msg_flags = got.flags | cflags
    # msg_namelen, msg_controllen and msg_flags go back to the caller's msghdr.
    if name:
        n = min(s32(namelen), len(got.addr))
        if n:
            t.mm.copy_out(name, got.addr[:n])
        t.mm.copy_out(msg_addr + 8, _INT.pack(len(got.addr)))
    else:
        t.mm.copy_out(msg_addr + 8, _INT.pack(0))
    t.mm.copy_out(msg_addr + 40, struct.pack("<Q", len(cbytes)))
    t.mm.copy_out(msg_addr + 48, _INT.pack(msg_flags))
    return got.length


@syscall(
    sysno.RECVMSG,
    "recvmsg",
    Support.PARTIAL,
    "SCM_RIGHTS (MSG_CMSG_CLOEXEC, MSG_CTRUNC) and SCM_CREDENTIALS with SO_PASSCRED; "
    "no MSG_ERRQUEUE",
)
def sys_recvmsg(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall recvmsg(2)."""
    desc, sock = _socket(t, args[0])
    return _recvmsg(t, desc, sock, args[1], s32(args[2]))


@syscall(sysno.SENDMMSG, "sendmmsg")
def sys_sendmmsg(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall sendmmsg(2): messages until one fails; the
    count if any was sent, else the error."""
    desc, sock = _socket(t, args[0])
    vlen = min(args[2] & 0xFFFFFFFF, UIO_MAXIOV)
    flags = s32(args[3])
    sent = 0
    for i in range(vlen):
        entry = args[1] + i * MMSGHDR_SIZE
        try:
            n = _sendmsg(t, desc, sock, entry, flags)
        except LinuxError:
            if sent:
                return sent
            raise
        t.mm.copy_out(entry + MSGHDR.size, struct.pack("<I", n))
        sent += 1
    return sent


@syscall(sysno.RECVMMSG, "recvmmsg", Support.PARTIAL, "the timeout is checked between messages")
def sys_recvmmsg(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall recvmmsg(2) (net/socket.c do_recvmmsg)."""
    desc, sock = _socket(t, args[0])
    vlen = min(args[2] & 0xFFFFFFFF, UIO_MAXIOV)
    flags = s32(args[3])
    deadline = None
    if args[4]:
        sec, nsec = _TIMESPEC.unpack(t.mm.copy_in(args[4], _TIMESPEC.size))
        if sec < 0 or not 0 <= nsec < 1_000_000_000:
            raise EINVAL
        deadline = time.monotonic() + sec + nsec / 1e9
    got = 0
    for i in range(vlen):
        entry = args[1] + i * MMSGHDR_SIZE
        try:
            n = _recvmsg(t, desc, sock, entry, flags)
        except LinuxError:
            if got:
                break
            raise
        t.mm.copy_out(entry + MSGHDR.size, struct.pack("<I", n))
        got += 1
        if flags & MSG_WAITFORONE:
            flags |= MSG_DONTWAIT
        if deadline is not None and time.monotonic() >= deadline:
            break
    return got
