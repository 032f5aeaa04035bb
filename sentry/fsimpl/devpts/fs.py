"""devpts: ``/dev/pts`` with ``ptmx`` and one ``N`` per open pseudo-terminal
(fs/devpts/inode.c, drivers/tty/pty.c).

Opening ``ptmx`` allocates the lowest free index and a locked
:class:`~.terminal.Terminal`; ``/dev/pts/N`` appears while its master is open
and opens (once unlocked with TIOCSPTLCK 0) the replica. Opening a replica
without O_NOCTTY makes it the controlling terminal of a session leader that
has none (tty_open_proc_set_tty).
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from sentry.abi.errors import EIO, ENOENT, ENOSPC, ENOTDIR
from sentry.fsimpl.devpts.terminal import Terminal
from sentry.kernel.sessions import controlling_tty
from sentry.kernel.waiter import WaitQueue
from sentry.vfs.context import current_task
from sentry.vfs.flags import O_NONBLOCK
from sentry.vfs.inode import Dirent, FileImpl, Filesystem, Inode
from sentry.vfs.stat import S_IFCHR, S_IFDIR, Stat, dtype_of, makedev

if TYPE_CHECKING:
    from sentry.vfs.creds import Credentials

DEVPTS_SUPER_MAGIC = 0x1CD1
TTYAUX_MAJOR = 5
PTMX_MINOR = 2
UNIX98_PTY_SLAVE_MAJOR = 136
#: /proc/sys/kernel/pty/max's default
PTY_MAX = 4096
O_NOCTTY = 0o400


class DevptsFilesystem(Filesystem):
    """One devpts instance: its terminals by index."""

    name = "devpts"
    magic = DEVPTS_SUPER_MAGIC

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.terminals: dict[int, Terminal] = {}
        self._root = DevptsRoot(self)
        self.ptmx = PtmxInode(self)

    def root(self) -> Inode:
        return self._root

    def source(self) -> str:
        return "devpts"

    def allocate(self) -> Terminal:
        """A new terminal at the lowest free index (devpts_new_index)."""
        with self.lock:
            index = next((i for i in range(PTY_MAX) if i not in self.terminals), None)
            if index is None:
                raise ENOSPC
            term = Terminal(index)
            self.terminals[index] = term
            return term

    def forget(self, term: Terminal) -> None:
        """The master closed: the index is free again (devpts_kill_index)."""
        with self.lock:
            if self.terminals.get(term.index) is term:
                del self.terminals[term.index]


class _Node(Inode):
    def __init__(self, fs: DevptsFilesystem, ino: int, mode: int, rdev: int = 0) -> None:
        self.fs = fs
        self._ino = ino
        self._mode = mode
        self.rdev = rdev
        self.uid, self.gid = 0, 0
        self._ctime = time.time_ns()

    @property
    def key(self) -> tuple[int, int]:
        return (self.fs.dev, self._ino)

    def mode(self) -> int:
        return self._mode

    def stat(self) -> Stat:
        t = self._ctime
        return Stat(
            dev=self.fs.dev, ino=self._ino, mode=self._mode, nlink=2 if self.is_dir() else 1,
            uid=self.uid, gid=self.gid, rdev=self.rdev, atime_ns=t, mtime_ns=t, ctime_ns=t,
        )  # fmt: skip


class DevptsRoot(_Node):
    """The /dev/pts directory: ptmx and the open terminals."""

    def __init__(self, fs: DevptsFilesystem) -> None:
        super().__init__(fs, 1, S_IFDIR | 0o755)
        self._devpts = fs

    def lookup(self, name: bytes) -> Inode:
        if name == b"ptmx":
            return self._devpts.ptmx
        if name.isdigit() and not (len(name) > 1 and name.startswith(b"0")):
            term = self._devpts.terminals.get(int(name))
            if term is not None:
                return ReplicaInode(self._devpts, term)
        raise ENOENT

    def readdir(self) -> list[Dirent]:
        out = [Dirent(b"ptmx", self._devpts.ptmx.key[1], dtype_of(S_IFCHR))]
        for index in sorted(self._devpts.terminals):
            out.append(Dirent(str(index).encode(), index + 3, dtype_of(S_IFCHR)))
        return out

    def open(self, flags: int, creds: Credentials) -> FileImpl:
        return FileImpl()


class PtmxInode(_Node):
    """/dev/pts/ptmx (and /dev/ptmx through its link): each open is a new pty."""

    def __init__(self, fs: DevptsFilesystem) -> None:
        super().__init__(fs, 2, S_IFCHR | 0o666, makedev(TTYAUX_MAJOR, PTMX_MINOR))
        self._devpts = fs

    def lookup(self, name: bytes) -> Inode:
        raise ENOTDIR

    def open(self, flags: int, creds: Credentials) -> FileImpl:
        term = self._devpts.allocate()
        # ptmx_open: the replica is owned by the opener (devpts_pty_new).
        term.owner = (getattr(creds, "fsuid", 0), getattr(creds, "fsgid", 0))
        return MasterFile(self._devpts, term, flags)


class ReplicaInode(_Node):
    """/dev/pts/N."""

    def __init__(self, fs: DevptsFilesystem, term: Terminal) -> None:
        super().__init__(fs, term.index + 3, S_IFCHR | 0o620,
                         makedev(UNIX98_PTY_SLAVE_MAJOR, term.index))  # fmt: skip
        self.uid, self.gid = term.owner
        self.term = term

    def lookup(self, name: bytes) -> Inode:
        raise ENOTDIR

    def open(self, flags: int, creds: Credentials) -> FileImpl:
        term = self.term
        if term.locked or term.hung_up:
            raise EIO  # pty_open: a locked or closed pty
        impl = ReplicaFile(term, flags)
        task = current_task()
        if task is not None and not flags & O_NOCTTY:
            _maybe_acquire_ctty(term, task)
        return impl


def _maybe_acquire_ctty(term: Terminal, task: Any) -> None:
    """tty_open_proc_set_tty: a session leader without a terminal gets this one
    if it is nobody's."""
    if task.sid != task.tgid or term.job.session is not None:
        return
    if controlling_tty(task) is not None:
        return
    try:
        term.job.tiocsctty(task, 0)
    except Exception:  # lost a race with another session: stays without one, like Linux
        return


class _TtyFile(FileImpl):
    seekable = False
    master = False

    def __init__(self, term: Terminal, flags: int) -> None:
        self.term = term
        self.flags = flags
        term.open_end(self.master)
        self._released = False

    @property
    def wait_queue(self) -> WaitQueue:
        """Where poll and select sleep for this terminal."""
        return self.term.queue

    def read(self, offset: int, length: int) -> bytes:
        return self.read_stream(length, self.flags)

    def write(self, offset: int, data: bytes) -> int:
        return self.write_stream(data, self.flags)

    def readable_now(self) -> int:
        with self.term.cond:
            if self.master:
                return len(self.term.ldisc.to_master)
            return self.term.ldisc.available()

    def readiness(self, mask: int) -> int:
        return self.term.readiness(self.master, mask)

    def ioctl(self, request: int, arg: int, io: Any) -> int:
        return self.term.ioctl(request, arg, io, master=self.master)

    def release(self) -> None:
        if not self._released:
            self._released = True
            self.term.close_end(self.master)


class MasterFile(_TtyFile):
    """The ptmx side: reads what the replica printed, writes what is typed."""

    master = True

    def __init__(self, fs: DevptsFilesystem, term: Terminal, flags: int) -> None:
        super().__init__(term, flags)
        self._fs = fs

    def read_stream(self, length: int, flags: int) -> bytes:
        return self.term.master_read(length, bool(flags & O_NONBLOCK))

    def write_stream(self, data: bytes, flags: int) -> int:
        return self.term.master_write(data)

    def release(self) -> None:
        super().release()
        if self.term.master_open == 0:
            self._fs.forget(self.term)


class ReplicaFile(_TtyFile):
    """The /dev/pts/N side the program runs on."""

    def read_stream(self, length: int, flags: int) -> bytes:
        return self.term.replica_read(length, bool(flags & O_NONBLOCK))

    def write_stream(self, data: bytes, flags: int) -> int:
        return self.term.replica_write(data, bool(flags & O_NONBLOCK))
