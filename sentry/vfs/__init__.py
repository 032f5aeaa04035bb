"""The virtual file system: mounts, dentries, path walking, file descriptions, the FD table.

Owns: the mount tree and path resolution (``_tree``, ``walk``: symlinks,
"..", mount crossing, openat2 RESOLVE_* scopes), namespace and attribute
operations in Linux's check order (``namespace``, ``attrs``), opening
(``vfs``), DAC permission checks (``creds``), open file descriptions
(``file``), FD tables (``fdtable``) and the per-task root/cwd/umask
(``fscontext``). File systems (``sentry.fsimpl``) implement
``Filesystem``/``Inode``/``FileImpl`` from ``inode``; memory mappings go
through mm's ``Mappable`` (``mappable``). ``context`` records the calling
task per thread for procfs's /proc/self.

Lock order: FDTable._lock, then FileDescription._lock, then a file system's
own lock; MountTree._lock (the mount list) is a leaf. A description's lock
is held across a seekable read or write so the offset moves atomically (as
Linux's f_pos_lock); stream I/O (ttys, pipes) runs without it, so a blocked
read does not stall other users of the description.
"""

from sentry.vfs.context import current_task, set_current_task
from sentry.vfs.creds import Credentials
from sentry.vfs.fdtable import FDTable
from sentry.vfs.file import FileDescription
from sentry.vfs.fscontext import FSContext
from sentry.vfs.inode import Dirent, FileImpl, Filesystem, Inode, StatFS
from sentry.vfs.mappable import Mappable
from sentry.vfs.mount import Dentry, Mount, VirtualDentry
from sentry.vfs.stat import Stat
from sentry.vfs.vfs import VirtualFilesystem

__all__ = [
    "Credentials",
    "Dentry",
    "Dirent",
    "FDTable",
    "FSContext",
    "FileDescription",
    "FileImpl",
    "Filesystem",
    "Inode",
    "Mappable",
    "Mount",
    "Stat",
    "StatFS",
    "VirtualDentry",
    "VirtualFilesystem",
    "current_task",
    "set_current_task",
]
