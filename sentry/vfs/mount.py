"""Mounts, dentries and the (mount, dentry) pairs that name a place in the tree.

Dentries are created as a path is walked and hold their parent, which is what
makes ``..`` and getcwd work; they are not cached (file systems cache inodes
where that pays). A mount point is identified by the mount and the inode key
of the directory it covers, so a fresh dentry of the same directory still
finds the mount.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

from sentry.vfs.inode import Filesystem, Inode

_mount_ids = itertools.count(1)


class Dentry:
    """A name in a file system bound to an inode, with a link to its parent."""

    __slots__ = ("inode", "name", "parent")

    def __init__(self, name: bytes, inode: Inode, parent: Dentry | None) -> None:
        self.name = name
        self.inode = inode
        self.parent = parent


class Mount:
    """A file system instance attached at a place in the mount tree."""

    fs: Filesystem
    root: Dentry
    #: Where this mount is attached (None for the root mount).
    mountpoint: VirtualDentry | None
    readonly: bool
    options: str
    #: Not part of any mount tree (host stdio, memfd): paths come from the description.
    anonymous: bool
    id: int

    def __init__(  # noqa: PLR0917 - positional, as the dataclass's were
        self,
        fs: Filesystem,
        root: Dentry,
        mountpoint: VirtualDentry | None,
        readonly: bool = False,
        options: str = "",
        anonymous: bool = False,
        id: int | None = None,
    ) -> None:
        self.fs = fs
        self.root = root
        self.mountpoint = mountpoint
        self.readonly = readonly
        self.options = options
        self.anonymous = anonymous
        self.id = next(_mount_ids) if id is None else id

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{n}={getattr(self, n)!r}"
            for n in ("fs", "root", "mountpoint", "readonly", "options", "anonymous", "id")
        )
        return f"Mount({fields})"

    @property
    def parent(self) -> Mount | None:
        return self.mountpoint.mount if self.mountpoint is not None else None


class VirtualDentry(NamedTuple):
    """A place in the VFS: a dentry together with the mount it is seen through."""

    mount: Mount
    dentry: Dentry

    @property
    def inode(self) -> Inode:
        return self.dentry.inode

    def same(self, other: VirtualDentry) -> bool:
        """Whether both name the same file through the same mount."""
        return self.mount is other.mount and self.dentry.inode.key == other.dentry.inode.key

    def is_mount_root(self) -> bool:
        return self.dentry.parent is None
