"""What a file system implements: ``Filesystem``, ``Inode`` and ``FileImpl``.

An ``Inode`` is one file of a file system (gVisor's ``DentryImpl`` plus the
inode operations); a ``FileImpl`` is what an open file does with data (gVisor
``FileDescriptionImpl``). The defaults refuse with the errno Linux gives for a
file system that lacks the operation, so a file system overrides only what it
supports. Names passed to an inode are single path components, never ``.``
or ``..`` (the VFS handles those).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any, NamedTuple

from sentry.abi.errors import EBADF, EINVAL, ENODEV, ENOTDIR, ENOTSUP, ENOTTY, EPERM, ESPIPE
from sentry.vfs.stat import S_IFDIR, S_IFLNK, S_IFMT, Stat

if TYPE_CHECKING:
    from sentry.vfs.creds import Credentials
    from sentry.vfs.mappable import Mappable

_anon_minor = itertools.count(1)

#: poll(2) event bits (include/uapi/asm-generic/poll.h).
POLLIN = 0x001
POLLPRI = 0x002
POLLOUT = 0x004
POLLERR = 0x008
POLLHUP = 0x010
POLLNVAL = 0x020
POLLRDNORM = 0x040
POLLWRNORM = 0x100
#: fs/select.c DEFAULT_POLLMASK: what a file without a poll method reports.
DEFAULT_POLLMASK = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM


def new_anon_dev() -> int:
    """A device number for a file system without a backing device (fs/super.c get_anon_bdev)."""
    return next(_anon_minor)  # major 0


class Dirent(NamedTuple):
    """One directory entry as getdents64 reports it."""

    name: bytes
    ino: int
    type: int  # d_type


class StatFS:
    """``struct statfs`` fields."""

    __slots__ = (
        "bavail",
        "bfree",
        "blocks",
        "bsize",
        "ffree",
        "files",
        "flags",
        "frsize",
        "fsid",
        "namelen",
        "type",
    )

    type: int
    bsize: int
    blocks: int
    bfree: int
    bavail: int
    files: int
    ffree: int
    fsid: int
    namelen: int
    frsize: int
    flags: int

    def __init__(  # noqa: PLR0917 - positional, as the dataclass's were
        self,
        type: int,
        bsize: int = 4096,
        blocks: int = 0,
        bfree: int = 0,
        bavail: int = 0,
        files: int = 0,
        ffree: int = 0,
        fsid: int = 0,
        namelen: int = 255,
        frsize: int = 4096,
        flags: int = 0,
    ) -> None:
        self.type = type
        self.bsize = bsize
        self.blocks = blocks
        self.bfree = bfree
        self.bavail = bavail
        self.files = files
        self.ffree = ffree
        self.fsid = fsid
        self.namelen = namelen
        self.frsize = frsize
        self.flags = flags

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StatFS) or other.__class__ is not self.__class__:
            return NotImplemented
        return (
            self.type,
            self.bsize,
            self.blocks,
            self.bfree,
            self.bavail,
            self.files,
            self.ffree,
            self.fsid,
            self.namelen,
            self.frsize,
            self.flags,
        ) == (
            other.type,
            other.bsize,
            other.blocks,
            other.bfree,
            other.bavail,
            other.files,
            other.ffree,
            other.fsid,
            other.namelen,
            other.frsize,
            other.flags,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable and compared by value

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{n}={getattr(self, n)!r}"
            for n in (
                "type",
                "bsize",
                "blocks",
                "bfree",
                "bavail",
                "files",
                "ffree",
                "fsid",
                "namelen",
                "frsize",
                "flags",
            )
        )
        return f"StatFS({fields})"


class Filesystem:
    """One mounted file system instance (a superblock)."""

    #: The name in /proc/filesystems and /proc/mounts.
    name = "none"
    #: statfs f_type magic (include/uapi/linux/magic.h).
    magic = 0

    def __init__(self) -> None:
        self.dev = new_anon_dev()

    def root(self) -> Inode:
        raise NotImplementedError

    def statfs(self) -> StatFS:
        return StatFS(type=self.magic)

    def source(self) -> str:
        """The device column of /proc/mounts."""
        return self.name


class Inode:
    """A file of a file system. Subclasses override the operations they support."""

    fs: Filesystem

    # -- attributes ---------------------------------------------------------
    def stat(self) -> Stat:
        raise NotImplementedError

    @property
    def key(self) -> tuple[int, int]:
        """Identity of the file (dev, ino) used to find mount points."""
        st = self.stat()
        return (st.dev, st.ino)

    def mode(self) -> int:
        return self.stat().mode

    def is_dir(self) -> bool:
        return self.mode() & S_IFMT == S_IFDIR

    def is_symlink(self) -> bool:
        return self.mode() & S_IFMT == S_IFLNK

    def setattr(
        self,
        *,
        mode: int | None = None,
        uid: int | None = None,
        gid: int | None = None,
        size: int | None = None,
        atime_ns: int | None = None,
        mtime_ns: int | None = None,
    ) -> None:
        raise EPERM

    # -- directory operations ----------------------------------------------
    def lookup(self, name: bytes) -> Inode:
        raise ENOTDIR

    def readdir(self) -> list[Dirent]:
        raise ENOTDIR

    def create(self, name: bytes, mode: int, creds: Credentials) -> Inode:
        raise EPERM

    def mkdir(self, name: bytes, mode: int, creds: Credentials) -> Inode:
        raise EPERM

    def mknod(self, name: bytes, mode: int, rdev: int, creds: Credentials) -> Inode:
        raise EPERM

    def symlink(self, name: bytes, target: bytes, creds: Credentials) -> Inode:
        raise EPERM

    def link(self, name: bytes, target: Inode) -> None:
        raise EPERM

    def unlink(self, name: bytes) -> None:
        raise EPERM

    def rmdir(self, name: bytes) -> None:
        raise EPERM

    def rename(self, name: bytes, new_dir: Inode, new_name: bytes, flags: int) -> None:
        raise EPERM

    # -- symlinks -----------------------------------------------------------
    def readlink(self) -> bytes:
        raise EINVAL

    def follow(self) -> Any:
        """A jump target for magic links (/proc/PID/fd/N, /proc/PID/exe).

        Returns None for an ordinary symlink (the VFS walks ``readlink()``) or
        a ``VirtualDentry`` the walk continues from, as Linux's nd_jump_link.
        """
        return None

    # -- open ---------------------------------------------------------------
    def open(self, flags: int, creds: Credentials) -> FileImpl:
        raise ENODEV


class FileImpl:
    """What an open file does with data; one per FileDescription.

    ``seekable`` False means a stream (tty, pipe, character device): the
    file offset is neither used nor advanced, and lseek gives ESPIPE.
    """

    seekable = True

    def read(self, offset: int, length: int) -> bytes:
        raise EINVAL

    def write(self, offset: int, data: bytes) -> int:
        raise EINVAL

    def read_stream(self, length: int, flags: int) -> bytes:
        """read(2) on a stream (``seekable`` False). ``flags`` are the
        description's status flags, so a blocking stream (pipe, FIFO) can
        honour O_NONBLOCK; the default ignores them."""
        return self.read(0, length)

    def write_stream(self, data: bytes, flags: int) -> int:
        """write(2) on a stream; see ``read_stream``."""
        return self.write(0, data)

    def append_offset(self) -> int:
        """Where an O_APPEND write goes (the current size)."""
        return 0

    def size(self) -> int:
        """The size lseek(SEEK_END) seeks from."""
        return 0

    def truncate(self, size: int) -> None:
        raise EINVAL

    def sync(self) -> None:
        return None

    def allocate(self, mode: int, offset: int, length: int) -> None:
        raise ENOTSUP

    def ioctl(self, request: int, arg: int, io: Any) -> int:
        raise ENOTTY

    def readable_now(self) -> int:
        """Bytes a read would return now (FIONREAD); ENOTTY if meaningless."""
        raise ENOTTY

    def readiness(self, mask: int) -> int:
        """The poll events of ``mask`` (plus POLLERR/POLLHUP) ready now, without
        blocking. Files without a wait queue (regular files, most devices) are
        always ready, as Linux's DEFAULT_POLLMASK."""
        return mask & DEFAULT_POLLMASK

    def mappable(self, name: str) -> Mappable:
        """The object mm maps through; ``name`` is the path /proc/PID/maps shows."""
        raise ENODEV

    def fileno(self) -> int:
        """A host FD, for sendfile/splice fast paths; EBADF if none."""
        raise EBADF

    def release(self) -> None:
        """The last reference to the file description went away."""
        return None

    def seek_check(self) -> None:
        if not self.seekable:
            raise ESPIPE
