"""Generic synthetic inodes procfs is built from: directories whose entries are
computed on lookup, read-only files whose content is generated at open, and
symlinks whose target is computed on readlink (optionally "magic": jumping
straight to an open file's dentry, as Linux's proc_fd_link)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sentry.abi.errors import EACCES, ENOENT, ENOTDIR
from sentry.vfs.inode import Dirent, FileImpl, Filesystem, Inode
from sentry.vfs.stat import S_IFDIR, S_IFLNK, S_IFREG, Stat, dtype_of

if TYPE_CHECKING:
    from sentry.vfs.creds import Credentials


def stable_ino(fs: Filesystem, key: str) -> int:
    """The same inode number each time a proc path is looked up: a hash of
    the path, so nothing is kept per path (a table of them grew by a few
    entries for every process a sandbox ever ran). Python's string hash is
    fixed for the process's life, which is the sandbox's; 62 bits make a
    collision between two live paths vanishingly unlikely."""
    ino = hash((fs.dev, key)) & _INO_MASK
    return ino if ino > 1 else ino + 2


_INO_MASK = (1 << 62) - 1


class ProcNode(Inode):
    """Shared attributes: owner (the task's), a stable inode number, now as times."""

    def __init__(
        self, fs: Filesystem, key: str, mode: int, owner: tuple[int, int] = (0, 0)
    ) -> None:
        self.fs = fs
        self._key = (fs.dev, stable_ino(fs, key))
        self.path_key = key
        self._mode = mode
        self.owner = owner

    @property
    def key(self) -> tuple[int, int]:
        return self._key

    def mode(self) -> int:
        return self._mode

    def stat(self) -> Stat:
        now = time.time_ns()
        nlink = 2 if self._mode & 0o170000 == S_IFDIR else 1
        return Stat(
            dev=self.fs.dev, ino=self._key[1], mode=self._mode, nlink=nlink, uid=self.owner[0],
            gid=self.owner[1], atime_ns=now, mtime_ns=now, ctime_ns=now,
        )  # fmt: skip


Entries = Callable[[], dict[bytes, Callable[[], Inode]]]


class ProcDir(ProcNode):
    """A directory whose entries are produced by ``entries()`` (name -> inode factory)."""

    def __init__(self, fs: Filesystem, key: str, entries: Entries, owner: tuple[int, int] = (0, 0),
                 mode: int = 0o555, *,
                 find: Callable[[bytes], Callable[[], Inode] | None] | None = None,
                 ) -> None:  # fmt: skip
        super().__init__(fs, key, S_IFDIR | mode, owner)
        self._entries = entries
        #: One entry's factory without listing them all (the /proc root:
        #: every exec's readlink of /proc/self/exe looks a name up there).
        self._find = find

    def lookup(self, name: bytes) -> Inode:
        find = self._find
        factory = find(name) if find is not None else self._entries().get(name)
        if factory is None:
            raise ENOENT
        return factory()

    def readdir(self) -> list[Dirent]:
        out = []
        for name, factory in self._entries().items():
            node = factory()
            out.append(Dirent(name, node.key[1], dtype_of(node.mode())))
        return out

    def open(self, flags: int, creds: Credentials) -> FileImpl:
        return FileImpl()


class SnapshotFile(FileImpl):
    """Content generated once at open; reads are slices of it (like seq_file)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, offset: int, length: int) -> bytes:
        return self.data[offset : offset + length]

    def size(self) -> int:
        return len(self.data)

    def readable_now(self) -> int:
        return 0


class ProcFile(ProcNode):
    """A read-only file whose content is ``render()`` at open time."""

    def __init__(self, fs: Filesystem, key: str, render: Callable[[], bytes],
                 owner: tuple[int, int] = (0, 0), mode: int = 0o444) -> None:  # fmt: skip
        super().__init__(fs, key, S_IFREG | mode, owner)
        self._render = render

    def lookup(self, name: bytes) -> Inode:
        raise ENOTDIR

    def open(self, flags: int, creds: Credentials) -> FileImpl:
        if flags & 3:
            raise EACCES
        return SnapshotFile(self._render())


class ProcLink(ProcNode):
    """A symlink with a computed target; ``jump`` makes it a magic link."""

    def __init__(  # noqa: PLR0917 - built with functools.partial
        self,
        fs: Filesystem,
        key: str,
        target: Callable[[], bytes],
        jump: Callable[[], Any] | None = None,
        owner: tuple[int, int] = (0, 0),
        perm: int = 0o777,
    ) -> None:
        super().__init__(fs, key, S_IFLNK | perm, owner)
        self.size = 64 if perm != 0o777 else 0
        self._target = target
        self._jump = jump

    def readlink(self) -> bytes:
        return self._target()

    def stat(self) -> Stat:
        st = super().stat()
        st.size = self.size  # fs/proc/fd.c reports 64 for fd links
        return st

    def follow(self) -> Any:
        return self._jump() if self._jump is not None else None
