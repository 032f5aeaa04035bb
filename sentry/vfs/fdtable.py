"""The FD table (Linux ``files_struct``, gVisor ``kernel.FDTable``).

Maps descriptor numbers to file descriptions with a per-descriptor
close-on-exec flag. New descriptors take the lowest free number (POSIX);
the caller passes RLIMIT_NOFILE as ``limit`` (EMFILE beyond it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from sentry.abi.errors import EBADF, EINVAL, EMFILE
from sentry.vfs.file import FileDescription

#: fs/file.c sysctl_nr_open default: the hard ceiling on descriptor numbers.
NR_OPEN = 1 << 20


class FDTable:
    """Descriptor number -> (FileDescription, close-on-exec)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fds: dict[int, tuple[FileDescription, bool]] = {}

    def get(self, fd: int) -> FileDescription:
        """The description of ``fd``; EBADF if it is not open."""
        entry = self._fds.get(fd)
        if entry is None:
            raise EBADF
        return entry[0]

    def cloexec(self, fd: int) -> bool:
        entry = self._fds.get(fd)
        if entry is None:
            raise EBADF
        return entry[1]

    def set_cloexec(self, fd: int, cloexec: bool) -> None:
        with self._lock:
            entry = self._fds.get(fd)
            if entry is None:
                raise EBADF
            self._fds[fd] = (entry[0], cloexec)

    def install(
        self,
        desc: FileDescription,
        *,
        cloexec: bool = False,
        min_fd: int = 0,
        limit: int = NR_OPEN,
    ) -> int:
        """Install at the lowest free number >= ``min_fd``; EMFILE at ``limit``."""
        if min_fd < 0:
            raise EINVAL
        with self._lock:
            fd = min_fd
            while fd in self._fds:
                fd += 1
            if fd >= min(limit, NR_OPEN):
                raise EMFILE
            desc.inc_ref()
            self._fds[fd] = (desc, cloexec)
            return fd

    def install_at(
        self, fd: int, desc: FileDescription, cloexec: bool = False, *, limit: int = NR_OPEN
    ) -> None:
        """Install at ``fd``, closing what was there (dup2 semantics); EBADF beyond ``limit``."""
        if fd < 0 or fd >= min(limit, NR_OPEN):
            raise EBADF
        desc.inc_ref()
        with self._lock:
            old = self._fds.get(fd)
            self._fds[fd] = (desc, cloexec)
        if old is not None:
            old[0].dec_ref()

    def close(self, fd: int) -> None:
        """Remove ``fd``; EBADF if it is not open."""
        with self._lock:
            entry = self._fds.pop(fd, None)
        if entry is None:
            raise EBADF
        entry[0].dec_ref()

    def close_range(self, first: int, last: int, *, cloexec_only: bool = False) -> None:
        """close_range(2): close (or mark close-on-exec) every fd in [first, last]."""
        with self._lock:
            fds = [fd for fd in self._fds if first <= fd <= last]
            closed = []
            for fd in fds:
                if cloexec_only:
                    self._fds[fd] = (self._fds[fd][0], True)
                else:
                    closed.append(self._fds.pop(fd)[0])
        for desc in closed:
            desc.dec_ref()

    def fork(self) -> FDTable:
        """A copy for a child created without CLONE_FILES (descriptions shared)."""
        child = FDTable()
        with self._lock:
            for fd, (desc, cloexec) in self._fds.items():
                desc.inc_ref()
                child._fds[fd] = (desc, cloexec)
        return child

    def close_on_exec(self) -> None:
        """Close every close-on-exec descriptor (execve, fs/file.c do_close_on_exec)."""
        with self._lock:
            doomed = [fd for fd, (_, ce) in self._fds.items() if ce]
            descs = [self._fds.pop(fd)[0] for fd in doomed]
        for desc in descs:
            desc.dec_ref()

    def close_all(self) -> None:
        """Drop every descriptor (task exit)."""
        with self._lock:
            descs = [d for d, _ in self._fds.values()]
            self._fds.clear()
        for desc in descs:
            desc.dec_ref()

    def fds(self) -> list[int]:
        """Open descriptor numbers, ascending (for /proc/PID/fd)."""
        with self._lock:
            return sorted(self._fds)

    def __iter__(self) -> Iterator[tuple[int, FileDescription]]:
        with self._lock:
            items = sorted((fd, d) for fd, (d, _) in self._fds.items())
        return iter(items)

    def __len__(self) -> int:
        return len(self._fds)
