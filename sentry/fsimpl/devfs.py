"""devfs: /dev with the character devices every program expects (gVisor fsimpl/dev).

The directory itself is a tmpfs (so /dev/shm-style files can be made); it is
populated with null, zero, full, random, urandom, tty, the /dev/fd and
stdio symlinks, and empty pts/ and shm/ directories. /dev/tty is a stand-in:
it opens the caller's controlling devpts terminal, or
reopens the host terminal the sandbox was given (``tty_fd``), or fails
with ENXIO like Linux without a controlling terminal; /dev/console is the
same stand-in.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from sentry.abi.errors import ENOSPC, ENXIO, from_oserror
from sentry.fsimpl.host import HostFileImpl
from sentry.fsimpl.tmpfs import TmpfsFilesystem, TmpfsInode
from sentry.vfs.inode import FileImpl
from sentry.vfs.stat import S_IFCHR, makedev

if TYPE_CHECKING:
    from sentry.vfs.creds import Credentials

#: Cap of one read from an endless device (Linux returns the full count; a
#: short read is allowed for character devices and keeps Sentry memory bounded).
_CHUNK = 1 << 20


class NullFile(FileImpl):
    """/dev/null: reads EOF, swallows writes."""

    def read(self, offset: int, length: int) -> bytes:
        return b""

    def write(self, offset: int, data: bytes) -> int:
        return len(data)

    def readable_now(self) -> int:
        return 0


class ZeroFile(NullFile):
    """/dev/zero: endless zeros."""

    def read(self, offset: int, length: int) -> bytes:
        return bytes(min(length, _CHUNK))


class FullFile(ZeroFile):
    """/dev/full: zeros to read, ENOSPC to write."""

    def write(self, offset: int, data: bytes) -> int:
        raise ENOSPC


class RandomFile(NullFile):
    """/dev/random and /dev/urandom (both non-blocking, as since Linux 5.6)."""

    def read(self, offset: int, length: int) -> bytes:
        return os.urandom(min(length, _CHUNK))


class DeviceInode(TmpfsInode):
    """A character device node whose open gives a fixed FileImpl."""

    def __init__(self, fs: DevFilesystem, rdev: int, impl: type[FileImpl] | None) -> None:
        super().__init__(fs, S_IFCHR | 0o666, 0, 0)
        self.rdev = rdev
        self._impl = impl
        self._devfs = fs

    def open(self, flags: int, creds: Credentials) -> FileImpl:
        if self._impl is not None:
            return self._impl()
        if self.rdev == makedev(5, 0):
            ctty = _controlling_pty(flags)
            if ctty is not None:
                return ctty
        if self._devfs.tty_fd is None:
            raise ENXIO
        try:
            return HostFileImpl(os.dup(self._devfs.tty_fd))
        except OSError as exc:
            raise from_oserror(exc) from None


def _controlling_pty(flags: int) -> FileImpl | None:
    """/dev/tty is the caller's controlling terminal when that is a devpts pty
    (drivers/tty/tty_io.c tty_open_current_tty)."""
    from sentry.fsimpl.devpts.fs import ReplicaFile
    from sentry.fsimpl.devpts.terminal import Terminal
    from sentry.kernel.sessions import controlling_tty
    from sentry.vfs.context import current_task

    task = current_task()
    if task is None:
        return None
    jc = controlling_tty(task)
    term = getattr(jc, "terminal", None)
    if isinstance(term, Terminal):
        return ReplicaFile(term, flags)
    return None


_DEVICES: list[tuple[bytes, int, int, type[FileImpl] | None]] = [
    (b"null", 1, 3, NullFile),
    (b"zero", 1, 5, ZeroFile),
    (b"full", 1, 7, FullFile),
    (b"random", 1, 8, RandomFile),
    (b"urandom", 1, 9, RandomFile),
    (b"tty", 5, 0, None),
    (b"console", 5, 1, None),
]
_LINKS = [
    (b"fd", b"/proc/self/fd"),
    (b"stdin", b"/proc/self/fd/0"),
    (b"stdout", b"/proc/self/fd/1"),
    (b"stderr", b"/proc/self/fd/2"),
    (b"ptmx", b"pts/ptmx"),
]


class DevFilesystem(TmpfsFilesystem):
    """/dev: a tmpfs populated with devices and links."""

    name = "devtmpfs"

    def __init__(self, tty_fd: int | None = None) -> None:
        super().__init__(mode=0o755)
        self.tty_fd = tty_fd
        root = self._root
        for name, major, minor, impl in _DEVICES:
            root.children[name] = DeviceInode(self, makedev(major, minor), impl)
        for name, target in _LINKS:
            root.children[name] = TmpfsInode(self, 0o120777, 0, 0, target=target)
        for name, mode in ((b"pts", 0o755), (b"shm", 0o1777)):
            root.children[name] = TmpfsInode(self, 0o040000 | mode, 0, 0)
            root.nlink += 1

    def source(self) -> str:
        return "none"
