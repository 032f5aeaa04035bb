"""Operations on descriptors: dup family, fcntl, ioctl, lseek, fsync, ftruncate, fallocate."""

from __future__ import annotations

import fcntl as host_fcntl
import struct
from typing import Any

from sentry.abi.errors import EBADF, EINVAL, EISDIR, ENODEV, ENOTTY, EPERM, ESPIPE, from_oserror
from sentry.fsimpl.host import HostFileImpl
from sentry.kernel.creds import CAP_SYS_RESOURCE
from sentry.kernel.pipe import PipeImpl
from sentry.syscalls._fileargs import get_file, nofile_limit, s32, s64
from sentry.syscalls.table import Support, SyscallArgs, syscall
from sentry.vfs.creds import CAP_FOWNER
from sentry.vfs.flags import O_CLOEXEC, O_NOATIME, O_NONBLOCK
from sentry.vfs.stat import S_IFIFO

F_DUPFD = 0
F_GETFD = 1
F_SETFD = 2
F_GETFL = 3
F_SETFL = 4
F_GETLK = 5
F_SETLK = 6
F_SETLKW = 7
F_SETOWN = 8
F_GETOWN = 9
F_OFD_GETLK = 36
F_OFD_SETLK = 37
F_OFD_SETLKW = 38
F_DUPFD_CLOEXEC = 1030
FD_CLOEXEC = 1
F_RDLCK, F_WRLCK, F_UNLCK = 0, 1, 2
# struct flock: l_type l_whence (shorts), l_start l_len (off_t), l_pid (int), padding.
_FLOCK = struct.Struct("<hhqqi4x")

FIONCLEX = 0x5450
FIOCLEX = 0x5451
FIONBIO = 0x5421
FIONREAD = 0x541B


@syscall(32, "dup")
def sys_dup(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall dup(2)."""
    desc = get_file(t, args[0])
    return int(t.fd_table.install(desc, limit=nofile_limit(t)))


@syscall(33, "dup2")
def sys_dup2(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall dup2(2)."""
    old, new = s32(args[0]), s32(args[1])
    desc = t.fd_table.get(old)
    if old == new:
        return new
    t.fd_table.install_at(new, desc, False, limit=nofile_limit(t))
    return new


@syscall(292, "dup3")
def sys_dup3(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall dup3(2)."""
    old, new, flags = s32(args[0]), s32(args[1]), s32(args[2])
    if flags & ~O_CLOEXEC or old == new:
        raise EINVAL
    desc = t.fd_table.get(old)
    t.fd_table.install_at(new, desc, bool(flags & O_CLOEXEC), limit=nofile_limit(t))
    return new


def _lock(t: Any, desc: Any, cmd: int, arg: int) -> int:
    # Advisory locks are accepted without being enforced between tasks: a
    # single-process view where every lock succeeds (part 1, noted in the table).
    l_type, whence, _start, _len, _pid = _FLOCK.unpack(t.mm.copy_in(arg, _FLOCK.size))
    if l_type not in (F_RDLCK, F_WRLCK, F_UNLCK) or whence not in (0, 1, 2):
        raise EINVAL
    if cmd in (F_GETLK, F_OFD_GETLK):
        raw = bytearray(t.mm.copy_in(arg, _FLOCK.size))
        struct.pack_into("<h", raw, 0, F_UNLCK)
        t.mm.copy_out(arg, bytes(raw))
        return 0
    if (l_type == F_RDLCK and not desc.readable) or (l_type == F_WRLCK and not desc.writable):
        raise EBADF
    return 0


#: include/uapi/linux/fcntl.h (F_LINUX_SPECIFIC_BASE + 7, + 8).
F_SETPIPE_SZ = 1031
F_GETPIPE_SZ = 1032


@syscall(
    72,
    "fcntl",
    Support.PARTIAL,
    "record locks are accepted but not enforced; F_SETPIPE_SZ/F_GETPIPE_SZ on pipes",
)
def sys_fcntl(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall fcntl(2)."""
    fd, cmd, arg = s32(args[0]), s32(args[1]), args[2]
    desc = t.fd_table.get(fd)
    if cmd in (F_DUPFD, F_DUPFD_CLOEXEC):
        min_fd = s32(arg)
        limit = nofile_limit(t)
        if min_fd < 0 or min_fd >= limit:
            raise EINVAL
        return int(
            t.fd_table.install(desc, cloexec=cmd == F_DUPFD_CLOEXEC, min_fd=min_fd, limit=limit)
        )
    if cmd == F_GETFD:
        return FD_CLOEXEC if t.fd_table.cloexec(fd) else 0
    if cmd == F_SETFD:
        t.fd_table.set_cloexec(fd, bool(arg & FD_CLOEXEC))
        return 0
    if cmd == F_GETFL:
        return int(desc.flags)
    if desc.is_path:
        raise EBADF  # O_PATH allows only the commands above (fs/fcntl.c check_fcntl_cmd)
    if cmd == F_SETFL:
        new = s32(arg)
        if new & O_NOATIME and not desc.flags & O_NOATIME and desc.vd is not None:
            st = desc.stat()
            if st.uid != t.creds.fsuid and not t.creds.has_capability(CAP_FOWNER):
                raise EPERM  # fs/fcntl.c setfl
        desc.set_status_flags(new)
        return 0
    if cmd in (F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW):
        return _lock(t, desc, cmd, arg)
    if cmd in (F_SETPIPE_SZ, F_GETPIPE_SZ):
        if isinstance(desc.impl, HostFileImpl) and desc.stat().type == S_IFIFO:
            # The application's stdio may be a host pipe: its size can be
            # read, but resizing a host resource is not the sandbox's call.
            if cmd == F_SETPIPE_SZ:
                raise EPERM("F_SETPIPE_SZ on a host pipe")
            try:
                return int(host_fcntl.fcntl(desc.impl.fileno(), F_GETPIPE_SZ))
            except OSError as exc:
                raise from_oserror(exc) from None
        if not isinstance(desc.impl, PipeImpl):
            raise EBADF
        if cmd == F_GETPIPE_SZ:
            return desc.impl.pipe_size()
        privileged = t.creds.has_capability(CAP_SYS_RESOURCE)
        return desc.impl.set_pipe_size(args[2] & 0xFFFFFFFF, privileged)
    if cmd == F_GETOWN:
        return 0
    if cmd == F_SETOWN:
        return 0
    raise EINVAL(f"fcntl command {cmd} is not supported")


@syscall(
    16,
    "ioctl",
    Support.PARTIAL,
    "FIOCLEX FIONCLEX FIONBIO FIONREAD; ttys: TCGETS TCSETS* TIOCGWINSZ TIOCSWINSZ TIOCSCTTY "
    "TIOCNOTTY TIOCGPGRP TIOCSPGRP TIOCGSID TCFLSH TIOCOUTQ; ptys: TIOCGPTN TIOCSPTLCK TIOCGPTLCK; "
    "sockets: SIOCINQ SIOCOUTQ and the SIOCGIF* interface queries (SIOCGIFCONF, INDEX, NAME, "
    "FLAGS, ADDR, BRDADDR, NETMASK, MTU, HWADDR, TXQLEN) answered by the host",
)
def sys_ioctl(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall ioctl(2) (fs/ioctl.c do_vfs_ioctl, then the file's own)."""
    fd, request, arg = s32(args[0]), args[1] & 0xFFFFFFFF, args[2]
    desc = get_file(t, fd)
    if desc.is_path:
        raise EBADF
    if request == FIOCLEX:
        t.fd_table.set_cloexec(fd, True)
        return 0
    if request == FIONCLEX:
        t.fd_table.set_cloexec(fd, False)
        return 0
    if request == FIONBIO:
        on = int.from_bytes(t.mm.copy_in(arg, 4), "little")
        flags = desc.flags | O_NONBLOCK if on else desc.flags & ~O_NONBLOCK
        desc.set_status_flags(flags)
        return 0
    if request == FIONREAD:
        st = desc.stat()
        if st.is_regular():
            n = max(0, st.size - desc.offset)
        elif st.is_dir():
            raise ENOTTY
        else:
            n = desc.readable_now()
        t.mm.copy_out(arg, struct.pack("<i", min(n, 0x7FFFFFFF)))
        return 0
    return int(desc.ioctl(request, arg, t.mm))


@syscall(8, "lseek")
def sys_lseek(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall lseek(2)."""
    return int(get_file(t, args[0]).seek(s64(args[1]), s32(args[2])))


@syscall(74, "fsync")
def sys_fsync(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall fsync(2)."""
    get_file(t, args[0]).sync()
    return 0


@syscall(75, "fdatasync")
def sys_fdatasync(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall fdatasync(2)."""
    get_file(t, args[0]).sync()
    return 0


@syscall(77, "ftruncate")
def sys_ftruncate(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall ftruncate(2)."""
    length = s64(args[1])
    desc = get_file(t, args[0])
    if length < 0:
        raise EINVAL
    desc.truncate(length)
    return 0


@syscall(285, "fallocate", Support.PARTIAL, "mode 0 only (no punch hole, collapse, zero range)")
def sys_fallocate(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall fallocate(2) (fs/open.c vfs_fallocate)."""
    desc = get_file(t, args[0])
    mode, offset, length = s32(args[1]), s64(args[2]), s64(args[3])
    if offset < 0 or length <= 0:
        raise EINVAL
    if not desc.writable:
        raise EBADF
    st = desc.stat()
    if st.is_dir():
        raise EISDIR
    if st.type == 0o010000:
        raise ESPIPE
    if not st.is_regular():
        raise ENODEV
    desc.allocate(mode, offset, length)
    return 0
