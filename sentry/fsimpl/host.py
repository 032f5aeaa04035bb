"""Files backed by a host FD the Sentry was given: the application's stdio.

``HostFile(fd)`` is a FileDescription whose reads and writes go straight to
the host descriptor (so the host offset of a redirected stdout advances as
the application writes, as it would natively). Terminal ioctls that only read
or set the line discipline (TCGETS/TCSETS*, TIOCGWINSZ/TIOCSWINSZ) and
FIONREAD pass through when the host FD is a tty; the session ioctls
(TIOCSCTTY, TIOCNOTTY, TIOCGPGRP, TIOCSPGRP, TIOCGSID) act on the sandbox's
own session state for that terminal (``sentry.kernel.sessions``), and reads
and writes from a background process group get SIGTTIN/SIGTTOU there, as on
a Linux terminal; everything else is ENOTTY.
Host errors are translated here with ``from_oserror``. A blocking read waits
for the host FD through ``sentry.kernel.fdnotifier`` (interruptible by
signals), then reads with os.read.
"""

from __future__ import annotations

import fcntl
import os
import select
import stat as host_stat
import struct
import termios
from typing import Any

from sentry.abi.errors import EBADF, ENOTTY, ERESTARTSYS, ESPIPE, from_oserror
from sentry.fsimpl._mappable import ImplMappable
from sentry.kernel.polling import wait_host_fd
from sentry.kernel.sessions import JobControl, sessions
from sentry.vfs.context import current_task
from sentry.vfs.creds import Credentials
from sentry.vfs.file import FileDescription, held
from sentry.vfs.flags import O_ACCMODE, O_APPEND, O_LARGEFILE, O_NONBLOCK, O_SYNC, SEEK_CUR
from sentry.vfs.inode import POLLIN, POLLPRI, FileImpl, Filesystem, Inode
from sentry.vfs.mappable import Mappable
from sentry.vfs.mount import Dentry, Mount, VirtualDentry
from sentry.vfs.stat import Stat

TCGETS = 0x5401
TCSETS = 0x5402
TCSETSW = 0x5403
TCSETSF = 0x5404
TIOCGWINSZ = 0x5413
TIOCSWINSZ = 0x5414
FIONREAD = 0x541B
TIOCSCTTY = 0x540E
TIOCGPGRP = 0x540F
TIOCSPGRP = 0x5410
TIOCNOTTY = 0x5422
TIOCGSID = 0x5429
#: c_lflag TOSTOP (include/uapi/asm-generic/termbits.h)
TOSTOP = 0o400
#: Largest single read from a host stream: os.read allocates the whole count
#: up front, and pipes and terminals return short reads anyway.
STREAM_CHUNK = 1 << 20
#: sizeof(struct termios) as the kernel's TCGETS copies it (no speeds).
TERMIOS_SIZE = 36
WINSIZE_SIZE = 8


class HostFilesystem(Filesystem):
    """The anonymous file system host-FD files belong to."""

    name = "hostfd"


_HOSTFS = HostFilesystem()


def _stat(fd: int, dev: int) -> Stat:
    try:
        st = os.fstat(fd)
    except OSError as exc:
        raise from_oserror(exc) from None
    return Stat(
        dev=dev, ino=st.st_ino, mode=st.st_mode, nlink=st.st_nlink, uid=st.st_uid, gid=st.st_gid,
        rdev=st.st_rdev, size=st.st_size, blksize=st.st_blksize, blocks=st.st_blocks,
        atime_ns=st.st_atime_ns, mtime_ns=st.st_mtime_ns, ctime_ns=st.st_ctime_ns,
    )  # fmt: skip


class HostInode(Inode):
    """The inode of a host FD; opening it again (via /proc/self/fd/N) dups the FD."""

    def __init__(self, fd: int) -> None:
        self.fs = _HOSTFS
        self.fd = fd
        self._ino = _stat(fd, 0).ino

    @property
    def key(self) -> tuple[int, int]:
        return (self.fs.dev, self._ino)

    def stat(self) -> Stat:
        return _stat(self.fd, self.fs.dev)

    def open(self, flags: int, creds: Credentials) -> FileImpl:
        try:
            return HostFileImpl(os.dup(self.fd))
        except OSError as exc:
            raise from_oserror(exc) from None


class HostFileImpl(FileImpl):
    """I/O on a host FD (owned: closed on release)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        mode = os.fstat(fd).st_mode
        self.seekable = host_stat.S_ISREG(mode) or host_stat.S_ISBLK(mode)
        self.is_tty = os.isatty(fd)

    def read(self, offset: int, length: int) -> bytes:
        try:
            if self.seekable:
                if length > STREAM_CHUNK:
                    size = os.fstat(self.fd).st_size
                    length = min(length, max(0, size - offset) + STREAM_CHUNK)
                return os.pread(self.fd, length, offset)
            return os.read(self.fd, min(length, STREAM_CHUNK))
        except OSError as exc:
            raise from_oserror(exc) from None

    def write(self, offset: int, data: bytes) -> int:
        try:
            if self.seekable:
                return os.pwrite(self.fd, data, offset)
            return os.write(self.fd, data)
        except OSError as exc:
            raise from_oserror(exc) from None

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def append_offset(self) -> int:
        return self.size()

    def truncate(self, size: int) -> None:
        try:
            os.ftruncate(self.fd, size)
        except OSError as exc:
            raise from_oserror(exc) from None

    def sync(self) -> None:
        try:
            os.fsync(self.fd)
        except OSError as exc:
            raise from_oserror(exc) from None

    def fileno(self) -> int:
        return self.fd

    def readable_now(self) -> int:
        try:
            buf = fcntl.ioctl(self.fd, FIONREAD, b"\0" * 4)
        except OSError as exc:
            raise from_oserror(exc) from None
        return int(struct.unpack("<i", buf)[0])

    def readiness(self, mask: int) -> int:
        """Ask the host: poll(2) with a zero timeout on the host FD."""
        poller = select.poll()
        poller.register(self.fd, mask | select.POLLERR | select.POLLHUP)
        try:
            events = poller.poll(0)
        except OSError as exc:
            raise from_oserror(exc) from None
        return events[0][1] if events else 0

    def job_control(self) -> JobControl | None:
        """The sandbox's session state of this host terminal (None: not a tty
        or no calling task). The host's own session and foreground group are
        the Sentry's; the sandbox's are kept here, as gVisor's host TTY does."""
        task = current_task()
        if not self.is_tty or task is None:
            return None
        return sessions(task.kernel).host_tty(os.fstat(self.fd).st_rdev)

    def ioctl(self, request: int, arg: int, io: Any) -> int:
        if not self.is_tty:
            raise ENOTTY
        if request in (TIOCSCTTY, TIOCNOTTY, TIOCGPGRP, TIOCSPGRP, TIOCGSID):
            return self._session_ioctl(request, arg, io)
        try:
            if request == TCGETS:
                io.copy_out(arg, fcntl.ioctl(self.fd, TCGETS, bytes(TERMIOS_SIZE)))
                return 0
            if request in (TCSETS, TCSETSW, TCSETSF):
                jc, task = self.job_control(), current_task()
                if jc is not None:
                    jc.check_change(task)
                fcntl.ioctl(self.fd, request, io.copy_in(arg, TERMIOS_SIZE))
                return 0
            if request == TIOCGWINSZ:
                io.copy_out(arg, fcntl.ioctl(self.fd, TIOCGWINSZ, bytes(WINSIZE_SIZE)))
                return 0
            if request == TIOCSWINSZ:
                fcntl.ioctl(self.fd, TIOCSWINSZ, io.copy_in(arg, WINSIZE_SIZE))
                return 0
        except OSError as exc:
            raise from_oserror(exc) from None
        raise ENOTTY

    def _session_ioctl(self, request: int, arg: int, io: Any) -> int:
        jc, task = self.job_control(), current_task()
        if jc is None:
            raise ENOTTY
        if request == TIOCSCTTY:
            jc.tiocsctty(task, arg)
        elif request == TIOCNOTTY:
            jc.tiocnotty(task)
        elif request == TIOCGPGRP:
            io.copy_out(arg, struct.pack("<i", jc.tiocgpgrp(task, master=False)))
        elif request == TIOCSPGRP:
            (pgid,) = struct.unpack("<i", io.copy_in(arg, 4))
            jc.tiocspgrp(task, pgid, master=False)
        else:
            io.copy_out(arg, struct.pack("<i", jc.tiocgsid(task, master=False)))
        return 0

    def mappable(self, name: str) -> Mappable:
        if not self.seekable:
            from sentry.abi.errors import ENODEV

            raise ENODEV
        st = os.fstat(self.fd)
        return ImplMappable(self, name, (st.st_dev, st.st_ino))

    def release(self) -> None:
        if self.fd >= 0:
            try:
                os.close(self.fd)
            finally:
                self.fd = -1


#: Host character devices commonly given as stdio, by (major, minor).
_CHAR_DEVICES = {(1, 3): "/dev/null", (1, 5): "/dev/zero", (1, 9): "/dev/urandom"}


def _host_name(fd: int, st: Stat) -> str:
    if os.isatty(fd):
        try:
            return os.ttyname(fd)
        except OSError:
            return "/dev/tty"
    if host_stat.S_ISCHR(st.mode):
        known = _CHAR_DEVICES.get((os.major(st.rdev), os.minor(st.rdev)))
        if known:
            return known
    kind = {host_stat.S_IFIFO: "pipe", host_stat.S_IFSOCK: "socket"}.get(host_stat.S_IFMT(st.mode))
    if kind:
        return f"{kind}:[{st.ino}]"
    return f"host:[{st.ino}]"


class HostFile(FileDescription):
    """A FileDescription over host FD ``fd`` (the Sentry takes ownership of it).

    Reads and writes go through the host FD's own offset (os.read/os.write),
    so the host file position stays true. ``flags`` defaults to the host FD's
    status flags.
    """

    def __init__(self, fd: int, flags: int | None = None) -> None:
        if flags is None:
            try:
                flags = fcntl.fcntl(fd, fcntl.F_GETFL)
            except OSError as exc:
                raise from_oserror(exc) from None
        flags &= O_ACCMODE | O_APPEND | O_NONBLOCK | O_SYNC | O_LARGEFILE
        inode = HostInode(fd)
        impl = HostFileImpl(fd)
        mount = Mount(_HOSTFS, Dentry(b"/", inode, None), None, anonymous=True)
        vd = VirtualDentry(mount, mount.root)
        super().__init__(impl, flags, vd, name=_host_name(fd, inode.stat()))
        self._host = impl

    def set_status_flags(self, flags: int) -> None:
        """F_SETFL also reaches the host FD: O_NONBLOCK must change how os.read blocks."""
        super().set_status_flags(flags)
        try:
            host = fcntl.fcntl(self._host.fd, fcntl.F_GETFL)
            want = (host & ~(O_APPEND | O_NONBLOCK)) | (self.flags & (O_APPEND | O_NONBLOCK))
            if want != host:
                fcntl.fcntl(self._host.fd, fcntl.F_SETFL, want)
        except OSError as exc:
            raise from_oserror(exc) from None

    @property
    def offset(self) -> int:
        try:
            return os.lseek(self._host.fd, 0, SEEK_CUR) if self._host.seekable else 0
        except OSError:
            return 0

    @held
    def read(self, n: int) -> bytes:
        if not self.readable:
            raise EBADF
        jc = self._host.job_control()
        if jc is not None:
            jc.check_read(current_task())
        if not self._host.seekable and not self.flags & O_NONBLOCK:
            self._wait_readable()
        if self._host.seekable and n > STREAM_CHUNK:
            n = min(n, max(0, self._host.size() - self.offset) + STREAM_CHUNK)
        try:
            return os.read(self._host.fd, min(n, STREAM_CHUNK) if not self._host.seekable else n)
        except OSError as exc:
            raise from_oserror(exc) from None

    def _wait_readable(self) -> None:
        """Block until the host FD is readable, as an interruptible sleep.

        The host FD's wait queue comes from the host FD notifier, so the
        task sleeps in ``Task.block``: a signal or a kill ends the wait at
        once with ERESTARTSYS, which the dispatcher turns into a restart or
        EINTR. A host FD the host cannot poll never blocks a read anyway.
        """
        wait_host_fd(current_task(), self._host.fd, POLLIN | POLLPRI, None, ERESTARTSYS)

    @held
    def write(self, data: bytes) -> int:
        if not self.writable:
            raise EBADF
        jc = self._host.job_control()
        if jc is not None and jc.in_background(current_task()) and self._tostop():
            jc.check_change(current_task())
        try:
            return os.write(self._host.fd, data)
        except OSError as exc:
            raise from_oserror(exc) from None

    def _tostop(self) -> bool:
        try:
            return bool(termios.tcgetattr(self._host.fd)[3] & TOSTOP)
        except termios.error:
            return False

    @held
    def seek(self, offset: int, whence: int) -> int:
        if not self._host.seekable:
            raise ESPIPE
        try:
            return os.lseek(self._host.fd, offset, whence)
        except OSError as exc:
            raise from_oserror(exc) from None


__all__ = ["HostFile", "HostFileImpl", "HostInode"]
