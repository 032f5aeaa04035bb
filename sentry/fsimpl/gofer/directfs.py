"""directfs: a host directory tree reached through FDs, walked one name at a time.

Every inode holds an ``O_PATH|O_NOFOLLOW`` FD opened with
``openat2(RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS)`` relative to its parent's
FD. Names are single components and never ``..`` (the VFS resolves those), so
the host never follows a symlink or leaves the tree: symlinks are read and
resolved by the Sentry against the sandbox's root. Operations act on FDs
(fchmodat2/fchownat/utimensat with AT_EMPTY_PATH) or on (parent FD, name)
pairs. Host device nodes are not opened (EACCES), as a nodev mount. Every host
``OSError`` is translated here with ``from_oserror``.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import stat as host_stat
from typing import TYPE_CHECKING

from sentry.abi.errors import EACCES, EINVAL, ENXIO, EPERM, from_oserror
from sentry.fsimpl._mappable import ImplMappable
from sentry.fsimpl.gofer import _hostcalls as hc
from sentry.kernel.pipe import FifoTable
from sentry.vfs.flags import (
    O_ACCMODE,
    O_APPEND,
    O_DIRECT,
    O_DSYNC,
    O_NOATIME,
    O_NONBLOCK,
    O_SYNC,
)
from sentry.vfs.inode import Dirent, FileImpl, Filesystem, Inode, StatFS
from sentry.vfs.stat import S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG, S_IFSOCK, Stat, dtype_of

if TYPE_CHECKING:
    from sentry.vfs.creds import Credentials
    from sentry.vfs.mappable import Mappable

V9FS_MAGIC = 0x01021997
#: Reads above this size are clamped to the file's size first (bounded allocation).
BIG_READ = 1 << 20
_RESOLVE = hc.RESOLVE_BENEATH | hc.RESOLVE_NO_MAGICLINKS
_PATH_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
#: Status flags passed to the host open of a regular file.
_HOST_OPEN_FLAGS = O_ACCMODE | O_APPEND | O_NONBLOCK | O_SYNC | O_DSYNC | O_DIRECT | O_NOATIME
#: Files' ids -> a value that changes with every write, truncate or
#: fallocate through the Sentry (``GoferFile.content_stamp``): the host's
#: timestamps may advance in ticks of a few ms, so two writes of the same
#: size within one tick could look alike. Values come from one counter, so a
#: racing pair of updates still leaves a value no earlier stamp holds.
_writes: dict[tuple[int, int], int] = {}
_write_counter = itertools.count(1)


def _wrote(ids: tuple[int, int]) -> None:
    _writes[ids] = next(_write_counter)


class DirectFilesystem(Filesystem):
    """A host directory (``root_fd``, owned) served in directfs mode."""

    name = "9p"
    magic = V9FS_MAGIC

    def __init__(self, root_fd: int, *, readonly: bool = False, source: str = "rootfs") -> None:
        super().__init__()
        #: The Sentry-side pipes of the host FIFOs opened in this tree.
        self.fifos = FifoTable()
        self.readonly = readonly
        self._source = source
        try:
            is_dir = host_stat.S_ISDIR(os.fstat(root_fd).st_mode)
            if is_dir:
                fd = hc.openat2(
                    root_fd, b".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, 0, _RESOLVE
                )
        except OSError as exc:
            os.close(root_fd)
            raise from_oserror(exc) from None
        if is_dir:
            os.close(root_fd)
        else:
            # A single-file mount (CRI's /etc/hosts): the donated FD is the
            # file itself, opened by the gofer; there is no parent to reopen
            # it from, so opens share (dup) it.
            fd = root_fd
        self._root = GoferInode(self, fd, None, b"")
        self._host_euid = os.geteuid()

    @classmethod
    def from_path(cls, path: str, *, readonly: bool = False) -> DirectFilesystem:
        """Open host directory ``path`` (for tests and ``python -m sentry run``)."""
        return cls(os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC), readonly=readonly,
                   source=path)  # fmt: skip

    def root(self) -> Inode:
        return self._root

    def root_host_fd(self) -> int:
        """The root's host descriptor (O_PATH; still ours)."""
        return self._root.fd

    def source(self) -> str:
        return self._source

    def statfs(self) -> StatFS:
        try:
            sv = os.fstatvfs(self._root.fd)
        except OSError as exc:
            raise from_oserror(exc) from None
        return StatFS(
            type=self.magic, bsize=sv.f_bsize, blocks=sv.f_blocks, bfree=sv.f_bfree,
            bavail=sv.f_bavail, files=sv.f_files, ffree=sv.f_ffree, namelen=sv.f_namemax,
            frsize=sv.f_frsize, flags=sv.f_flag,
        )  # fmt: skip

    def own(self, parent_fd: int, name: bytes, creds: Credentials) -> None:
        """Give a new file the creator's ids (best effort when not host root)."""
        if creds.fsuid == self._host_euid and creds.fsgid == os.getegid():
            return
        try:
            os.chown(name, creds.fsuid, creds.fsgid, dir_fd=parent_fd, follow_symlinks=False)
        except PermissionError:
            pass
        except OSError as exc:
            raise from_oserror(exc) from None


class GoferInode(Inode):
    """A host file, named by an O_PATH FD (closed when the inode is dropped)."""

    def __init__(
        self, fs: DirectFilesystem, fd: int, parent: GoferInode | None, name: bytes
    ) -> None:
        st = os.fstat(fd)  # before owning fd: a failure leaves closing it to the caller
        self.fs = fs
        self._fs = fs
        self.fd = fd
        self.parent = parent
        self.name = name
        self._type = host_stat.S_IFMT(st.st_mode)
        # The tree may span host mounts: identity needs the host device too.
        self._key = (fs.dev, (st.st_dev << 64) | st.st_ino)
        self._ids = (fs.dev, st.st_ino)

    def __del__(self) -> None:
        fd, self.fd = getattr(self, "fd", -1), -1
        if fd >= 0:
            os.close(fd)

    @property
    def key(self) -> tuple[int, int]:
        return self._key

    def mode(self) -> int:
        return self._type

    def stat(self) -> Stat:
        try:
            st = os.fstat(self.fd)
        except OSError as exc:
            raise from_oserror(exc) from None
        return Stat(
            dev=self.fs.dev, ino=st.st_ino, mode=st.st_mode, nlink=st.st_nlink, uid=st.st_uid,
            gid=st.st_gid, rdev=st.st_rdev, size=st.st_size, blksize=st.st_blksize,
            blocks=st.st_blocks, atime_ns=st.st_atime_ns, mtime_ns=st.st_mtime_ns,
            ctime_ns=st.st_ctime_ns,
        )  # fmt: skip

    # -- names -------------------------------------------------------------------
    def lookup(self, name: bytes) -> Inode:
        try:
            fd = hc.openat2(self.fd, name, _PATH_FLAGS, 0, _RESOLVE)
        except OSError as exc:
            raise from_oserror(exc) from None
        try:
            return GoferInode(self._fs, fd, self, name)
        except OSError as exc:
            os.close(fd)
            raise from_oserror(exc) from None

    def readdir(self) -> list[Dirent]:
        try:
            dfd = hc.openat2(
                self.fd, b".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, 0, _RESOLVE
            )
            try:
                out = []
                with os.scandir(dfd) as it:
                    for e in it:
                        if e.is_symlink():
                            dt = S_IFLNK >> 12
                        elif e.is_dir(follow_symlinks=False):
                            dt = S_IFDIR >> 12
                        elif e.is_file(follow_symlinks=False):
                            dt = S_IFREG >> 12
                        else:
                            try:
                                dt = dtype_of(e.stat(follow_symlinks=False).st_mode)
                            except FileNotFoundError:
                                continue  # removed while listing
                        out.append(Dirent(os.fsencode(e.name), e.inode(), dt))
                return out
            finally:
                os.close(dfd)
        except OSError as exc:
            raise from_oserror(exc) from None

    def _made(self, name: bytes, creds: Credentials) -> Inode:
        self._fs.own(self.fd, name, creds)
        return self.lookup(name)

    def create(self, name: bytes, mode: int, creds: Credentials) -> Inode:
        try:
            os.mknod(name, S_IFREG | (mode & 0o7777), dir_fd=self.fd)
        except OSError as exc:
            raise from_oserror(exc) from None
        return self._made(name, creds)

    def mkdir(self, name: bytes, mode: int, creds: Credentials) -> Inode:
        try:
            os.mkdir(name, mode & 0o7777, dir_fd=self.fd)
        except OSError as exc:
            raise from_oserror(exc) from None
        return self._made(name, creds)

    def mknod(self, name: bytes, mode: int, rdev: int, creds: Credentials) -> Inode:
        # A FIFO is created on the host so that it shows in listings and
        # stat, but its data never goes through the host: opens get a pipe
        # of the Sentry's (``fifos``), as gVisor's gofer mounts do.
        # A socket file is made on the host the same way (so it shows in
        # listings), but only the Sentry's Unix socket table connects to it.
        if mode & 0o170000 not in (S_IFIFO, S_IFSOCK):
            raise EPERM("directfs: device nodes are not created on the host")
        try:
            if mode & 0o170000 == S_IFSOCK:
                os.mknod(name, S_IFSOCK | (mode & 0o7777), 0, dir_fd=self.fd)
            else:
                os.mkfifo(name, mode & 0o7777, dir_fd=self.fd)
        except OSError as exc:
            raise from_oserror(exc) from None
        return self._made(name, creds)

    def symlink(self, name: bytes, target: bytes, creds: Credentials) -> Inode:
        try:
            os.symlink(target, name, dir_fd=self.fd)
        except OSError as exc:
            raise from_oserror(exc) from None
        return self._made(name, creds)

    def link(self, name: bytes, target: Inode) -> None:
        if not isinstance(target, GoferInode) or target.fs is not self.fs or target.parent is None:
            raise EPERM
        try:
            os.link(target.name, name, src_dir_fd=target.parent.fd, dst_dir_fd=self.fd,
                    follow_symlinks=False)  # fmt: skip
        except OSError as exc:
            raise from_oserror(exc) from None

    def unlink(self, name: bytes) -> None:
        try:
            os.unlink(name, dir_fd=self.fd)
        except OSError as exc:
            raise from_oserror(exc) from None

    def rmdir(self, name: bytes) -> None:
        try:
            os.rmdir(name, dir_fd=self.fd)
        except OSError as exc:
            raise from_oserror(exc) from None

    def rename(self, name: bytes, new_dir: Inode, new_name: bytes, flags: int) -> None:
        if not isinstance(new_dir, GoferInode) or new_dir.fs is not self.fs:
            raise EINVAL
        try:
            hc.renameat2(self.fd, name, new_dir.fd, new_name, flags)
        except OSError as exc:
            raise from_oserror(exc) from None

    def readlink(self) -> bytes:
        if self._type != S_IFLNK:
            raise EINVAL
        try:
            return os.readlink(b"", dir_fd=self.fd)
        except OSError as exc:
            raise from_oserror(exc) from None

    # -- attributes ------------------------------------------------------------------
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
        try:
            if size is not None:
                fd = self._reopen(os.O_WRONLY)
                try:
                    os.ftruncate(fd, size)
                finally:
                    os.close(fd)
                    _wrote(self._ids)
            if uid is not None or gid is not None:
                hc.fchown_path_fd(self.fd, -1 if uid is None else uid, -1 if gid is None else gid)
            if mode is not None:
                hc.fchmod_path_fd(self.fd, mode & 0o7777)
            if atime_ns is not None or mtime_ns is not None:
                hc.utimens_path_fd(self.fd, atime_ns, mtime_ns)
        except OSError as exc:
            raise from_oserror(exc) from None

    # -- open ----------------------------------------------------------------------------
    def _reopen(self, flags: int) -> int:
        """A real (non-O_PATH) host FD of this file, opened by name from the parent."""
        flags |= os.O_NOFOLLOW | os.O_CLOEXEC
        if self.parent is None and self._type != S_IFDIR:
            return self._reopen_root_file(flags)
        if self.parent is None:
            fd = hc.openat2(self.fd, b".", flags, 0, _RESOLVE)
        else:
            fd = hc.openat2(self.parent.fd, self.name, flags, 0, _RESOLVE)
        if os.fstat(fd).st_ino != self._ids[1]:
            os.close(fd)  # the name was replaced since the walk
            raise FileNotFoundError(2, "file replaced during open")
        return fd

    def _reopen_root_file(self, flags: int) -> int:
        """The root of a file mount: a dup of the donated FD when its access
        mode allows ``flags`` (the Sentry does I/O at its own offsets, so a
        shared host offset does not matter)."""
        status = fcntl.fcntl(self.fd, fcntl.F_GETFL)
        held, want = status & O_ACCMODE, flags & O_ACCMODE
        if status & os.O_PATH or (want != os.O_RDONLY and held == os.O_RDONLY):
            # The gofer could open it only read-only (a read-only bind).
            raise OSError(30, "read-only file mount")  # EROFS
        if want == os.O_RDONLY and held == os.O_WRONLY:
            raise OSError(13, "write-only file mount")  # EACCES
        return os.dup(self.fd)

    def open(self, flags: int, creds: Credentials) -> FileImpl:
        if self._type == S_IFDIR:
            return FileImpl()
        if self._type == S_IFIFO:
            return self._fs.fifos.open(self._key, flags)
        if self._type == S_IFSOCK:
            raise ENXIO  # fs/inode.c no_open
        if self._type != S_IFREG:
            raise EACCES("directfs: host device files are not opened")
        try:
            fd = self._reopen(flags & _HOST_OPEN_FLAGS)
        except OSError as exc:
            raise from_oserror(exc) from None
        return GoferFile(fd, self._ids)


class GoferFile(FileImpl):
    """An open regular host file (owned FD; positional I/O, the offset is the Sentry's)."""

    def __init__(self, fd: int, key: tuple[int, int]) -> None:
        self.fd = fd
        self._key = key

    def read(self, offset: int, length: int) -> bytes:
        try:
            if length > BIG_READ:
                # os.pread allocates ``length`` up front: never more than the file holds.
                length = min(length, max(0, os.fstat(self.fd).st_size - offset) + BIG_READ)
            return os.pread(self.fd, length, offset)
        except OSError as exc:
            raise from_oserror(exc) from None

    def read_into(self, offset: int, buf: memoryview) -> int:
        """preadv into ``buf`` (a MemoryFile view when mm populates pages)."""
        done = 0
        try:
            while done < len(buf):
                n = os.preadv(self.fd, [buf[done:]], offset + done)
                if n == 0:
                    break
                done += n
        except OSError as exc:
            raise from_oserror(exc) from None
        return done

    def write(self, offset: int, data: bytes) -> int:
        try:
            return os.pwrite(self.fd, data, offset)
        except OSError as exc:
            raise from_oserror(exc) from None
        finally:
            _wrote(self._key)

    def content_stamp(self) -> tuple[int, ...]:
        """What changes whenever the file's bytes may have changed: the host
        file's identity, size, mtime and ctime, and the Sentry's own writes
        to it (see ``_writes``). mm caches the pages of private mappings
        under it (sentry.mm.private_cache). A writer outside the sandbox is
        seen through the host's timestamps (a rewrite of the same size in
        the same tick as the cache's read is not: the cost of not reading
        every program anew, as gVisor's cached file systems have it too)."""
        try:
            st = os.fstat(self.fd)
        except OSError as exc:
            raise from_oserror(exc) from None
        return (
            st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns,
            _writes.get(self._key, 0),
        )  # fmt: skip

    def size(self) -> int:
        try:
            return os.fstat(self.fd).st_size
        except OSError as exc:
            raise from_oserror(exc) from None

    def append_offset(self) -> int:
        return self.size()

    def truncate(self, size: int) -> None:
        try:
            os.ftruncate(self.fd, size)
        except OSError as exc:
            raise from_oserror(exc) from None
        finally:
            _wrote(self._key)

    def sync(self) -> None:
        try:
            os.fsync(self.fd)
        except OSError as exc:
            raise from_oserror(exc) from None

    def allocate(self, mode: int, offset: int, length: int) -> None:
        if mode:
            raise EINVAL("fallocate modes are not supported on directfs")
        try:
            os.posix_fallocate(self.fd, offset, length)
        except OSError as exc:
            raise from_oserror(exc) from None
        finally:
            _wrote(self._key)

    def fileno(self) -> int:
        return self.fd

    def mappable(self, name: str) -> Mappable:
        return ImplMappable(self, name, self._key)

    def release(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)


__all__ = ["DirectFilesystem", "GoferFile", "GoferInode"]
