"""tmpfs: a file system kept in the Sentry's memory (gVisor fsimpl/tmpfs).

File data lives in Python ``bytearray``s for now, not in the MemoryFile, so a
shared writable mmap of a tmpfs file is a copy rather than the same pages
(mm copies through ``read_at``/``write_at``). One lock per file system
serializes namespace changes and data access.
"""

from __future__ import annotations

import itertools
import threading
from typing import TYPE_CHECKING

from sentry.abi.errors import (
    EEXIST,
    EFBIG,
    EINVAL,
    EISDIR,
    ENOENT,
    ENOTDIR,
    ENOTEMPTY,
    ENXIO,
    EPERM,
)
from sentry.fsimpl._mappable import ImplMappable
from sentry.kernel.pipe import Pipe
from sentry.vfs.flags import RENAME_EXCHANGE
from sentry.vfs.inode import Dirent, FileImpl, Filesystem, Inode, StatFS
from sentry.vfs.stat import (
    S_IFDIR,
    S_IFIFO,
    S_IFLNK,
    S_IFMT,
    S_IFREG,
    S_IFSOCK,
    S_ISGID,
    Stat,
    dtype_of,
)
from sentry.vfs.vfs import now_ns

if TYPE_CHECKING:
    from sentry.vfs.creds import Credentials
    from sentry.vfs.mappable import Mappable

TMPFS_MAGIC = 0x01021994
#: Largest file tmpfs accepts here (Python memory, not a page cache).
MAX_FILE_SIZE = 1 << 32


class TmpfsFilesystem(Filesystem):
    """One tmpfs instance."""

    name = "tmpfs"
    magic = TMPFS_MAGIC

    def __init__(self, mode: int = 0o1777, uid: int = 0, gid: int = 0) -> None:
        super().__init__()
        self.lock = threading.RLock()
        self._inos = itertools.count(1)
        self._root = TmpfsInode(self, S_IFDIR | (mode & 0o7777), uid, gid)

    def next_ino(self) -> int:
        return next(self._inos)

    def root(self) -> Inode:
        return self._root

    def statfs(self) -> StatFS:
        return StatFS(type=self.magic, blocks=1 << 20, bfree=1 << 20, bavail=1 << 20,
                      files=1 << 20, ffree=1 << 20)  # fmt: skip


class TmpfsInode(Inode):
    """A tmpfs file, directory or symlink."""

    def __init__(
        self, fs: TmpfsFilesystem, mode: int, uid: int, gid: int, *, target: bytes = b""
    ) -> None:
        self.fs = fs
        self._fs = fs
        self.ino = fs.next_ino()
        self._mode = mode
        self.uid = uid
        self.gid = gid
        self.rdev = 0
        self.nlink = 2 if mode & S_IFMT == S_IFDIR else 1
        t = now_ns()
        self.atime = self.mtime = self.ctime = t
        self.data = bytearray()
        self.children: dict[bytes, TmpfsInode] = {}
        self.target = target
        #: A FIFO's pipe (Linux inode->i_pipe), made at the first open.
        self.pipe: Pipe | None = None

    @property
    def key(self) -> tuple[int, int]:
        return (self.fs.dev, self.ino)

    def mode(self) -> int:
        return self._mode

    def stat(self) -> Stat:
        ftype = self._mode & S_IFMT
        size = len(self.data) if ftype == S_IFREG else 0 if ftype == S_IFIFO else len(self.target)
        if self._mode & S_IFMT == S_IFDIR:
            size = 4096
        return Stat(
            dev=self.fs.dev, ino=self.ino, mode=self._mode, nlink=self.nlink, uid=self.uid,
            gid=self.gid, rdev=self.rdev, size=size, blocks=(size + 511) // 512,
            atime_ns=self.atime, mtime_ns=self.mtime, ctime_ns=self.ctime,
        )  # fmt: skip

    def _touch(self) -> None:
        self.mtime = self.ctime = now_ns()

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
        with self._fs.lock:
            if size is not None:
                if self._mode & S_IFMT == S_IFDIR:
                    raise EISDIR
                if self._mode & S_IFMT != S_IFREG:
                    raise EINVAL
                if size > MAX_FILE_SIZE:
                    raise EFBIG
                if size < len(self.data):
                    del self.data[size:]
                else:
                    self.data.extend(bytes(size - len(self.data)))
                self._touch()
            if mode is not None:
                self._mode = (self._mode & S_IFMT) | (mode & 0o7777)
            if uid is not None:
                self.uid = uid
            if gid is not None:
                self.gid = gid
            if atime_ns is not None:
                self.atime = atime_ns
            if mtime_ns is not None:
                self.mtime = mtime_ns
            self.ctime = now_ns()

    # -- directory ---------------------------------------------------------------
    def _dir(self) -> dict[bytes, TmpfsInode]:
        if self._mode & S_IFMT != S_IFDIR:
            raise ENOTDIR
        return self.children

    def lookup(self, name: bytes) -> Inode:
        try:
            return self._dir()[name]
        except KeyError:
            raise ENOENT from None

    def readdir(self) -> list[Dirent]:
        with self._fs.lock:
            return [Dirent(n, c.ino, dtype_of(c._mode)) for n, c in self._dir().items()]

    def _new(self, name: bytes, mode: int, creds: Credentials, target: bytes = b"") -> TmpfsInode:
        with self._fs.lock:
            children = self._dir()
            if name in children:
                raise EEXIST
            # A set-group-ID directory passes its group on (fs/inode.c inode_init_owner).
            gid = self.gid if self._mode & S_ISGID else creds.fsgid
            if self._mode & S_ISGID and mode & S_IFMT == S_IFDIR:
                mode |= S_ISGID
            child = TmpfsInode(self._fs, mode, creds.fsuid, gid, target=target)
            children[name] = child
            if mode & S_IFMT == S_IFDIR:
                self.nlink += 1
            self._touch()
            return child

    def create(self, name: bytes, mode: int, creds: Credentials) -> Inode:
        return self._new(name, S_IFREG | (mode & 0o7777), creds)

    def mkdir(self, name: bytes, mode: int, creds: Credentials) -> Inode:
        return self._new(name, S_IFDIR | (mode & 0o7777), creds)

    def mknod(self, name: bytes, mode: int, rdev: int, creds: Credentials) -> Inode:
        # FIFOs are named pipes of the Sentry's own (sentry.kernel.pipe);
        # socket files are names Unix sockets bind (sentry.socket.unix);
        # device nodes would need the device layer.
        if mode & S_IFMT not in (S_IFIFO, S_IFSOCK):
            raise EPERM("tmpfs: device nodes cannot be created")
        return self._new(name, mode, creds)

    def symlink(self, name: bytes, target: bytes, creds: Credentials) -> Inode:
        return self._new(name, S_IFLNK | 0o777, creds, target)

    def link(self, name: bytes, target: Inode) -> None:
        if not isinstance(target, TmpfsInode) or target.fs is not self.fs:
            raise EPERM
        with self._fs.lock:
            children = self._dir()
            if name in children:
                raise EEXIST
            children[name] = target
            target.nlink += 1
            target.ctime = now_ns()
            self._touch()

    def unlink(self, name: bytes) -> None:
        with self._fs.lock:
            children = self._dir()
            child = children.get(name)
            if child is None:
                raise ENOENT
            if child._mode & S_IFMT == S_IFDIR:
                raise EISDIR
            del children[name]
            child.nlink -= 1
            child.ctime = now_ns()
            self._touch()

    def rmdir(self, name: bytes) -> None:
        with self._fs.lock:
            children = self._dir()
            child = children.get(name)
            if child is None:
                raise ENOENT
            if child._mode & S_IFMT != S_IFDIR:
                raise ENOTDIR
            if child.children:
                raise ENOTEMPTY
            del children[name]
            child.nlink = 0
            self.nlink -= 1
            self._touch()

    def rename(self, name: bytes, new_dir: Inode, new_name: bytes, flags: int) -> None:
        if not isinstance(new_dir, TmpfsInode) or new_dir.fs is not self.fs:
            raise EINVAL
        with self._fs.lock:
            src = self._dir()
            dst = new_dir._dir()
            child = src.get(name)
            if child is None:
                raise ENOENT
            other = dst.get(new_name)
            is_dir = child._mode & S_IFMT == S_IFDIR
            if flags & RENAME_EXCHANGE:
                if other is None:
                    raise ENOENT
                src[name], dst[new_name] = other, child
                other_dir = other._mode & S_IFMT == S_IFDIR
                if is_dir != other_dir:
                    delta = 1 if is_dir else -1
                    self.nlink -= delta
                    new_dir.nlink += delta
            else:
                if other is not None:
                    if other._mode & S_IFMT == S_IFDIR:
                        if other.children:
                            raise ENOTEMPTY
                        other.nlink = 0
                        new_dir.nlink -= 1
                    else:
                        other.nlink -= 1
                del src[name]
                dst[new_name] = child
                if is_dir:
                    self.nlink -= 1
                    new_dir.nlink += 1
            child.ctime = now_ns()
            self._touch()
            new_dir._touch()

    # -- symlink / open -----------------------------------------------------------------
    def readlink(self) -> bytes:
        if self._mode & S_IFMT != S_IFLNK:
            raise EINVAL
        self.atime = now_ns()
        return self.target

    def open(self, flags: int, creds: Credentials) -> FileImpl:
        if self._mode & S_IFMT == S_IFREG:
            return TmpfsFile(self)
        if self._mode & S_IFMT == S_IFDIR:
            return FileImpl()
        if self._mode & S_IFMT == S_IFIFO:
            # fs/fifo.c: every open of the FIFO shares the inode's pipe.
            with self._fs.lock:
                if self.pipe is None:
                    self.pipe = Pipe()
                pipe = self.pipe
            return pipe.open_fifo(flags)
        if self._mode & S_IFMT == S_IFSOCK:
            raise ENXIO  # fs/inode.c no_open: a socket file cannot be opened
        raise EINVAL


class TmpfsFile(FileImpl):
    """An open regular tmpfs file."""

    def __init__(self, inode: TmpfsInode) -> None:
        self.inode = inode

    def read(self, offset: int, length: int) -> bytes:
        with self.inode._fs.lock:
            self.inode.atime = now_ns()
            return bytes(self.inode.data[offset : offset + length])

    def write(self, offset: int, data: bytes) -> int:
        if offset + len(data) > MAX_FILE_SIZE:
            raise EFBIG
        with self.inode._fs.lock:
            buf = self.inode.data
            if offset > len(buf):
                buf.extend(bytes(offset - len(buf)))
            buf[offset : offset + len(data)] = data
            self.inode._touch()
            return len(data)

    def append_offset(self) -> int:
        return len(self.inode.data)

    def size(self) -> int:
        return len(self.inode.data)

    def truncate(self, size: int) -> None:
        self.inode.setattr(size=size)

    def allocate(self, mode: int, offset: int, length: int) -> None:
        if mode != 0:
            from sentry.abi.errors import ENOTSUP

            raise ENOTSUP
        end = offset + length
        if end > len(self.inode.data):
            self.inode.setattr(size=end)

    def readable_now(self) -> int:
        return 0

    def mappable(self, name: str) -> Mappable:
        return ImplMappable(self, name, self.inode.key)
