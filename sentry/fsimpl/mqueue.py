"""The mqueue file system (Linux ipc/mqueue.c, gVisor ``fsimpl/mqfs``).

One instance per IPC namespace (``mqueue_filesystem``): every mount of it
(``/dev/mqueue`` from the spec) and the queues mq_open names share it, as
Linux keys the mqueue superblock by namespace. Its root lists the queues of
the ``sentry.kernel.mq.Registry``; reading a queue file gives its status
line; open(O_CREAT) makes a queue with the default sizes, unlink removes
one, chmod and chown work; there are no directories below the root.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sentry.abi.errors import EACCES, EBADF, EEXIST, EINVAL, ENAMETOOLONG, ENOENT
from sentry.kernel.mq import Queue as MessageQueue
from sentry.kernel.mq import QueueFile, Registry
from sentry.kernel.rlimits import RLIMIT_MSGQUEUE
from sentry.vfs.context import current_task
from sentry.vfs.creds import MAY_READ, MAY_WRITE, check_access
from sentry.vfs.file import FileDescription
from sentry.vfs.flags import O_ACCMODE, O_CREAT, O_EXCL, O_RDONLY, O_RDWR, O_WRONLY
from sentry.vfs.inode import Dirent, FileImpl, Filesystem, Inode, StatFS
from sentry.vfs.mount import Dentry, Mount, VirtualDentry
from sentry.vfs.stat import S_IFDIR, S_IFREG, S_ISVTX, Stat

if TYPE_CHECKING:
    from sentry.vfs.creds import Credentials

MQUEUE_MAGIC = 0x19800202
#: include/uapi/linux/limits.h
NAME_MAX = 255
_DT_REG = 8


def _rlimit_msgqueue() -> int:
    t = current_task()
    limits = getattr(t, "rlimits", None)
    if limits is None:
        return 819200
    return int(limits.soft(RLIMIT_MSGQUEUE))


class MqueueFilesystem(Filesystem):
    """The queues of one registry as a file system."""

    name = "mqueue"
    magic = MQUEUE_MAGIC

    def __init__(self, registry: Registry) -> None:
        super().__init__()
        self.registry = registry
        self._root = MqueueRoot(self)
        #: The mount queue descriptors from mq_open hang off (Linux mq_mnt).
        self.internal = Mount(self, Dentry(b"/", self._root, None), None, anonymous=True)

    def root(self) -> Inode:
        return self._root

    def statfs(self) -> StatFS:
        return StatFS(type=self.magic)

    def source(self) -> str:
        return "mqueue"


def mqueue_filesystem(registry: Registry) -> MqueueFilesystem:
    """The one mqueue file system of ``registry`` (made at the first use)."""
    with registry.lock:
        if registry.fs is None:
            registry.fs = MqueueFilesystem(registry)
        fs: MqueueFilesystem = registry.fs
        return fs


class MqueueRoot(Inode):
    """The root directory: mode 1777, one entry per queue (mqueue_fill_super)."""

    def __init__(self, fs: MqueueFilesystem) -> None:
        self.fs = fs
        self._mfs = fs
        self.mtime = self.ctime = self.atime = time.time_ns()

    @property
    def key(self) -> tuple[int, int]:
        return (self.fs.dev, 1)

    def mode(self) -> int:
        return S_IFDIR | S_ISVTX | 0o777

    def stat(self) -> Stat:
        return Stat(
            dev=self.fs.dev, ino=1, mode=self.mode(), nlink=2, size=0, blksize=4096,
            atime_ns=self.atime, mtime_ns=self.mtime, ctime_ns=self.ctime,
        )  # fmt: skip

    def lookup(self, name: bytes) -> Inode:
        if len(name) > NAME_MAX:
            raise ENAMETOOLONG
        return QueueInode(self._mfs, self._mfs.registry.lookup(name))

    def readdir(self) -> list[Dirent]:
        return [Dirent(n, q.ino + 1, _DT_REG) for n, q in self._mfs.registry.names()]

    def create(self, name: bytes, mode: int, creds: Credentials) -> Inode:
        """open(O_CREAT) in the mount: a queue with the default sizes."""
        if len(name) > NAME_MAX:
            raise ENAMETOOLONG
        q = self._mfs.registry.create(name, mode, creds, None, _rlimit_msgqueue())
        self.mtime = self.ctime = time.time_ns()
        return QueueInode(self._mfs, q)

    def unlink(self, name: bytes) -> None:
        self._mfs.registry.unlink(name)
        self.mtime = self.ctime = time.time_ns()

    def open(self, flags: int, creds: Credentials) -> FileImpl:
        return FileImpl()


class QueueInode(Inode):
    """A queue as a regular file."""

    def __init__(self, fs: MqueueFilesystem, queue: MessageQueue) -> None:
        self.fs = fs
        self.queue = queue

    @property
    def key(self) -> tuple[int, int]:
        # Inode 1 is the root.
        return (self.fs.dev, self.queue.ino + 1)

    def mode(self) -> int:
        return S_IFREG | self.queue.mode

    def stat(self) -> Stat:
        st = self.queue.stat(self.fs.dev)
        st.ino = self.queue.ino + 1
        return st

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
        q = self.queue
        if size is not None:
            raise EINVAL
        with q.lock:
            if mode is not None:
                q.mode = mode & 0o7777
            if uid is not None:
                q.uid = uid
            if gid is not None:
                q.gid = gid
            if atime_ns is not None:
                q.atime = atime_ns
            if mtime_ns is not None:
                q.mtime = mtime_ns
            q.ctime = time.time_ns()

    def open(self, flags: int, creds: Credentials) -> FileImpl:
        return QueueFile(self.queue)


def check_name(name: bytes) -> None:
    """What fs/namei.c lookup_one_len and simple_lookup refuse in a queue
    name (glibc has already dropped the leading '/')."""
    if not name or name in (b".", b"..") or b"/" in name:
        raise EACCES
    if len(name) > NAME_MAX:
        raise ENAMETOOLONG


def open_queue(  # noqa: PLR0917
    registry: Registry, name: bytes, flags: int, mode: int, creds: Any,
    attr: tuple[int, int] | None, rlimit_msgqueue: int,
) -> FileDescription:  # fmt: skip
    """mq_open(2) after its arguments are read (ipc/mqueue.c do_mq_open,
    prepare_open): ENOENT, EEXIST, EINVAL for O_WRONLY|O_RDWR, EACCES by the
    queue's mode; a new queue takes ``mode`` (umask applied by the caller)."""
    fs = mqueue_filesystem(registry)
    check_name(name)
    try:
        queue = registry.lookup(name)
    except ENOENT:
        if not flags & O_CREAT:
            raise
        queue = registry.create(name, mode, creds, attr, rlimit_msgqueue)
    else:
        if flags & (O_CREAT | O_EXCL) == (O_CREAT | O_EXCL):
            raise EEXIST from None
        acc = flags & O_ACCMODE
        if acc == O_ACCMODE:
            raise EINVAL
        want = {O_RDONLY: MAY_READ, O_WRONLY: MAY_WRITE, O_RDWR: MAY_READ | MAY_WRITE}[acc]
        check_access(creds, S_IFREG | queue.mode, queue.uid, queue.gid, want)
    # A queue just created with access mode 3 opens with neither read nor
    # write access, as Linux's dentry_open does (OPEN_FMODE).
    inode = QueueInode(fs, queue)
    vd = VirtualDentry(fs.internal, Dentry(name, inode, fs.internal.root))
    desc = FileDescription(QueueFile(queue), flags, vd, name="/" + name.decode(errors="replace"))
    return desc


def queue_of(desc: FileDescription) -> MessageQueue:
    """The queue of a descriptor; EBADF if it is not one (f_op check)."""
    impl = desc.impl
    if not isinstance(impl, QueueFile):
        raise EBADF
    return impl.queue
