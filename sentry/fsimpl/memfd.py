"""Anonymous memory files for memfd_create(2) (mm/memfd.c): an unlinked
tmpfs file of an internal tmpfs instance, named "/memfd:NAME (deleted)" as
Linux shows it in /proc/PID/fd and maps. File seals are not supported yet."""

from __future__ import annotations

from sentry.fsimpl.tmpfs import TmpfsFile, TmpfsFilesystem, TmpfsInode
from sentry.vfs.creds import Credentials
from sentry.vfs.file import FileDescription
from sentry.vfs.flags import O_LARGEFILE, O_RDWR
from sentry.vfs.mount import Dentry, Mount, VirtualDentry
from sentry.vfs.stat import S_IFREG

_MEMFD_FS = TmpfsFilesystem(mode=0o1777)


def new_memfd(name: bytes, creds: Credentials) -> FileDescription:
    """A fresh, empty, read-write memory file called ``name``."""
    inode = TmpfsInode(_MEMFD_FS, S_IFREG | 0o777, creds.fsuid, creds.fsgid)
    label = b"memfd:" + name
    inode.nlink = 0  # never linked into a directory (fstat shows 0, as Linux)
    mount = Mount(_MEMFD_FS, Dentry(label, inode, None), None, anonymous=True)
    path = "/" + label.decode(errors="replace") + " (deleted)"
    return FileDescription(
        TmpfsFile(inode), O_RDWR | O_LARGEFILE, VirtualDentry(mount, mount.root), name=path
    )
