"""Open file descriptions (Linux ``struct file``, gVisor ``vfs.FileDescription``).

A description carries the offset and status flags shared by every FD that
refers to it (after dup or fork) and forwards data operations to the file
system's ``FileImpl``. It is reference counted by the FD tables (and by
anyone else holding it, e.g. a memory mapping); the impl is released when the
last reference goes.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sentry.abi.errors import EBADF, EINVAL, EISDIR, ENOTDIR, EOVERFLOW
from sentry.vfs.flags import (
    O_ACCMODE,
    O_APPEND,
    O_PATH,
    O_RDONLY,
    O_RDWR,
    O_WRONLY,
    SEEK_CUR,
    SEEK_DATA,
    SEEK_END,
    SEEK_HOLE,
    SEEK_SET,
    SETFL_MASK,
)
from sentry.vfs.inode import Dirent, FileImpl
from sentry.vfs.stat import Stat, dtype_of

if TYPE_CHECKING:
    from sentry.vfs.mappable import Mappable
    from sentry.vfs.mount import VirtualDentry

MAX_OFFSET = (1 << 63) - 1

_R = TypeVar("_R")


def held(method: Callable[..., _R]) -> Callable[..., _R]:
    """Keep the description's impl alive while ``method`` runs.

    Linux pins a file for the length of a syscall (fdget), so a close from
    another thread cannot release it mid-read; here the release waits until
    the last operation in flight has finished (the host FD cannot be reused
    under a running read).
    """

    @functools.wraps(method)
    def run(self: FileDescription, *args: Any) -> _R:
        lock = self._lock
        with lock:
            self._inflight += 1
        try:
            return method(self, *args)
        finally:
            # ``_leave`` inlined: this runs around every read and write.
            with lock:
                self._inflight -= 1
                last = (
                    self._inflight == 0 and self._counted and self._refs <= 0 and not self._released
                )
                if last:
                    self._released = True
            if last:
                self._release()

    return run


class FileDescription:
    """An open file: offset, status flags, and the file system's implementation."""

    def __init__(
        self,
        impl: FileImpl,
        flags: int,
        vd: VirtualDentry | None = None,
        *,
        name: str = "",
        stat: Callable[[], Stat] | None = None,
    ) -> None:
        self.impl = impl
        self.vd = vd
        self._flags = flags & ~(
            0o2000000 | 0o100 | 0o200 | 0o1000 | 0o400
        )  # no CLOEXEC/CREAT/EXCL/TRUNC/NOCTTY
        self._name = name
        self._stat = stat
        self._lock = threading.Lock()
        self._offset = 0
        self._refs = 0
        self._inflight = 0
        self._released = False
        # Only a description someone took a reference on is ever released:
        # one that was opened and used without (a probe) stays alive.
        self._counted = False
        self._dir_snapshot: list[Dirent] | None = None
        #: Called once when the description is released, before the impl:
        #: epoll drops its registrations here (fs/file_table.c __fput ->
        #: eventpoll_release). Keyed by the registrant.
        self._release_hooks: dict[object, Callable[[FileDescription], None]] = {}

    # -- identity -------------------------------------------------------------
    @property
    def flags(self) -> int:
        return self._flags

    @property
    def offset(self) -> int:
        return self._offset

    def set_status_flags(self, flags: int) -> None:
        """F_SETFL: only SETFL_MASK bits change (fs/fcntl.c setfl)."""
        with self._lock:
            self._flags = (self._flags & ~SETFL_MASK) | (flags & SETFL_MASK)

    @property
    def is_path(self) -> bool:
        return bool(self._flags & O_PATH)

    @property
    def readable(self) -> bool:
        acc = self._flags & O_ACCMODE
        return not self.is_path and acc in (O_RDONLY, O_RDWR)

    @property
    def writable(self) -> bool:
        acc = self._flags & O_ACCMODE
        return not self.is_path and acc in (O_WRONLY, O_RDWR)

    def path_name(self) -> str:
        """What /proc/PID/fd/N reads as (d_path, or an anonymous name like pipe:[N])."""
        return self._name

    @held
    def stat(self) -> Stat:
        if self._stat is not None:
            return self._stat()
        if self.vd is None:
            raise EBADF
        return self.vd.inode.stat()

    def is_dir(self) -> bool:
        return self.vd is not None and self.vd.inode.is_dir()

    # -- references -------------------------------------------------------------
    def inc_ref(self) -> None:
        with self._lock:
            self._refs += 1
            self._counted = True

    def dec_ref(self) -> None:
        with self._lock:
            self._refs -= 1
            last = self._refs <= 0 and self._inflight == 0 and not self._released
            if last:
                self._released = True
        if last:
            self._release()

    def _leave(self) -> None:
        with self._lock:
            self._inflight -= 1
            last = self._counted and self._refs <= 0 and self._inflight == 0 and not self._released
            if last:
                self._released = True
        if last:
            self._release()

    def _release(self) -> None:
        with self._lock:
            hooks = list(self._release_hooks.values())
            self._release_hooks.clear()
        for hook in hooks:
            hook(self)
        self.impl.release()

    def add_release_hook(self, key: object, hook: Callable[[FileDescription], None]) -> None:
        """Run ``hook(self)`` when the last reference goes (once per ``key``)."""
        with self._lock:
            self._release_hooks[key] = hook

    def remove_release_hook(self, key: object) -> None:
        with self._lock:
            self._release_hooks.pop(key, None)

    # -- data -------------------------------------------------------------------
    def _check_read(self) -> None:
        if not self.readable:
            raise EBADF
        if self.is_dir():
            raise EISDIR

    def _check_write(self) -> None:
        if not self.writable:
            raise EBADF

    @held
    def read(self, n: int) -> bytes:
        """read(2): from the file offset, advancing it (streams ignore it)."""
        self._check_read()
        if not self.impl.seekable:
            return self.impl.read_stream(n, self._flags)
        with self._lock:
            data = self.impl.read(self._offset, n)
            self._offset += len(data)
            return data

    @held
    def write(self, data: bytes) -> int:
        """write(2): at the offset, or at the end with O_APPEND."""
        self._check_write()
        if not self.impl.seekable:
            return self.impl.write_stream(data, self._flags)
        with self._lock:
            if self._flags & O_APPEND:
                self._offset = self.impl.append_offset()
            if self._offset + len(data) > MAX_OFFSET:
                raise EOVERFLOW
            n = self.impl.write(self._offset, data)
            self._offset += n
            return n

    @held
    def pread(self, n: int, offset: int) -> bytes:
        """pread64(2): at ``offset``; the file offset is unchanged."""
        self._check_read()
        self.impl.seek_check()
        if offset < 0:
            raise EINVAL
        return self.impl.read(offset, n)

    @held
    def pwrite(self, data: bytes, offset: int) -> int:
        """pwrite64(2). Linux quirk kept: with O_APPEND the data goes to the end."""
        self._check_write()
        self.impl.seek_check()
        if offset < 0:
            raise EINVAL
        if self._flags & O_APPEND:
            offset = self.impl.append_offset()
        return self.impl.write(offset, data)

    @held
    def seek(self, offset: int, whence: int) -> int:
        """lseek(2) (fs/read_write.c generic_file_llseek; directories rewind their listing)."""
        if self.is_path:
            raise EBADF
        self.impl.seek_check()
        with self._lock:
            if whence == SEEK_SET:
                new = offset
            elif whence == SEEK_CUR:
                new = self._offset + offset
            elif whence == SEEK_END:
                new = self.impl.size() + offset
            elif whence in (SEEK_DATA, SEEK_HOLE):
                size = self.impl.size()
                if offset < 0 or offset >= size:
                    from sentry.abi.errors import ENXIO

                    raise ENXIO
                new = offset if whence == SEEK_DATA else size
            else:
                raise EINVAL
            if new < 0:
                raise EINVAL
            if new > MAX_OFFSET:
                raise EOVERFLOW
            self._offset = new
            if new == 0:
                self._dir_snapshot = None
            return new

    @held
    def truncate(self, size: int) -> None:
        """ftruncate(2): needs a writable description."""
        if self.is_path:
            raise EBADF
        if not self.writable or not self.stat().is_regular():
            raise EINVAL
        if size < 0:
            raise EINVAL
        self.impl.truncate(size)

    @held
    def sync(self) -> None:
        if self.is_path:
            raise EBADF
        self.impl.sync()

    @held
    def allocate(self, mode: int, offset: int, length: int) -> None:
        if not self.writable:
            raise EBADF
        self.impl.allocate(mode, offset, length)

    @held
    def ioctl(self, request: int, arg: int, io: Any) -> int:
        """ioctl(2) on the file; ``io`` copies user memory (the task's mm)."""
        if self.is_path:
            raise EBADF
        return self.impl.ioctl(request, arg, io)

    @held
    def readiness(self, mask: int) -> int:
        """poll/select: which of ``mask`` is ready now (never blocks). A waiter
        on host-backed files can poll ``impl.fileno()`` to block."""
        return self.impl.readiness(mask)

    @held
    def readable_now(self) -> int:
        return self.impl.readable_now()

    def mappable(self) -> Mappable:
        """The object mm maps this file through; ENODEV if it cannot be mapped."""
        if self.is_path:
            raise EBADF
        return self.impl.mappable(self.path_name())

    # -- directories -------------------------------------------------------------
    @held
    def getdents(self, size: int, encode: Callable[[Dirent, int], bytes]) -> bytes:
        """Encode entries from the current position until ``size`` bytes are full.

        The position is the index into the listing (``.`` and ``..`` first);
        ``encode(dirent, next_position)`` returns one record. EINVAL if not
        even one record fits (fs/readdir.c filldir64).
        """
        if self.is_path or self.vd is None:
            raise EBADF
        inode = self.vd.inode
        if not inode.is_dir():
            raise ENOTDIR
        with self._lock:
            if self._dir_snapshot is None or self._offset == 0:
                st = inode.stat()
                parent = self.vd.dentry.parent
                pino = parent.inode.stat().ino if parent is not None else st.ino
                self._dir_snapshot = [
                    Dirent(b".", st.ino, dtype_of(st.mode)),
                    Dirent(b"..", pino, 4),
                    *inode.readdir(),
                ]
            out = bytearray()
            pos = self._offset
            entries = self._dir_snapshot
            while pos < len(entries):
                rec = encode(entries[pos], pos + 1)
                if len(out) + len(rec) > size:
                    if not out:
                        raise EINVAL
                    break
                out += rec
                pos += 1
            self._offset = pos
            return bytes(out)
