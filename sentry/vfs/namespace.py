"""Namespace operations: mkdir, mknod, symlink, link, unlink, rmdir, rename
(fs/namei.c), with Linux's order of checks (EROFS before lookups, EACCES and
the sticky bit before type errors)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sentry.abi.errors import (
    EBUSY,
    EEXIST,
    EINVAL,
    EISDIR,
    ENOENT,
    ENOTDIR,
    ENOTEMPTY,
    EPERM,
    EROFS,
    EXDEV,
)
from sentry.vfs.creds import (
    Credentials,
)
from sentry.vfs.flags import (
    RENAME_EXCHANGE,
    RENAME_NOREPLACE,
    RENAME_WHITEOUT,
)
from sentry.vfs.mount import Dentry, VirtualDentry
from sentry.vfs.stat import S_IFMT, S_IFREG

if TYPE_CHECKING:
    from sentry.vfs.fscontext import FSContext

from sentry.vfs._tree import MountTree


class NamespaceOps(MountTree):
    """Creating, linking, removing and renaming names."""

    # -- namespace operations ---------------------------------------------------
    def mkdir(
        self, fs: FSContext, start: VirtualDentry | None, path: bytes, mode: int, creds: Credentials
    ) -> None:
        """mkdirat(2)."""
        walker, parent, name, _ = self._parent(fs, start, path, creds)
        if name is None or name in (b".", b".."):
            raise EEXIST
        if self._lookup(walker, parent, name) is not None:
            raise EEXIST
        self._may_create(parent, creds)
        parent.inode.mkdir(name, mode & ~fs.umask & 0o7777, creds)

    def mknod(  # noqa: PLR0917 - mknodat(2)'s arguments
        self,
        fs: FSContext,
        start: VirtualDentry | None,
        path: bytes,
        mode: int,
        rdev: int,
        creds: Credentials,
    ) -> None:
        """mknodat(2): regular files here; devices need CAP_MKNOD and the file system."""
        walker, parent, name, trailing = self._parent(fs, start, path, creds)
        if name is None or name in (b".", b".."):
            raise EEXIST
        if self._lookup(walker, parent, name) is not None:
            raise EEXIST
        if trailing:
            raise ENOENT
        self._may_create(parent, creds)
        ftype = mode & S_IFMT or S_IFREG
        perm = mode & ~fs.umask & 0o7777
        if ftype == S_IFREG:
            parent.inode.create(name, S_IFREG | perm, creds)
        else:
            parent.inode.mknod(name, ftype | perm, rdev, creds)

    def symlink(
        self,
        fs: FSContext,
        target: bytes,
        start: VirtualDentry | None,
        path: bytes,
        creds: Credentials,
    ) -> None:
        """symlinkat(2)."""
        if not target:
            raise ENOENT
        walker, parent, name, trailing = self._parent(fs, start, path, creds)
        if name is None or name in (b".", b".."):
            raise EEXIST
        if self._lookup(walker, parent, name) is not None:
            raise EEXIST
        if trailing:
            raise ENOENT
        self._may_create(parent, creds)
        parent.inode.symlink(name, target, creds)

    def link(
        self,
        fs: FSContext,
        old: VirtualDentry,
        start: VirtualDentry | None,
        path: bytes,
        creds: Credentials,
    ) -> None:
        """linkat(2): ``old`` already resolved (following per AT_SYMLINK_FOLLOW)."""
        walker, parent, name, trailing = self._parent(fs, start, path, creds)
        if name is None or name in (b".", b".."):
            raise EEXIST
        if self._lookup(walker, parent, name) is not None:
            raise EEXIST
        if trailing:
            raise ENOENT
        if old.mount is not parent.mount:
            raise EXDEV
        if old.inode.is_dir():
            raise EPERM
        self._may_create(parent, creds)
        parent.inode.link(name, old.inode)

    def unlink(
        self, fs: FSContext, start: VirtualDentry | None, path: bytes, creds: Credentials
    ) -> None:
        """unlinkat(2) without AT_REMOVEDIR (fs/namei.c do_unlinkat)."""
        walker, parent, name, trailing = self._parent(fs, start, path, creds)
        if name is None or name in (b".", b".."):
            raise EISDIR
        if parent.mount.readonly:
            raise EROFS
        child = walker.step(parent, name)
        if trailing:
            # do_unlinkat "slashes": a trailing slash on a non-directory.
            raise EISDIR if child.inode.is_dir() else ENOTDIR
        self._may_delete(parent, child, creds, isdir=False)
        parent.inode.unlink(name)

    def rmdir(
        self, fs: FSContext, start: VirtualDentry | None, path: bytes, creds: Credentials
    ) -> None:
        """rmdir(2) / unlinkat(AT_REMOVEDIR) (fs/namei.c do_rmdir)."""
        walker, parent, name, _ = self._parent(fs, start, path, creds)
        if name is None:
            raise EBUSY
        if name == b".":
            raise EINVAL
        if name == b"..":
            raise ENOTEMPTY
        if parent.mount.readonly:
            raise EROFS
        child = walker.step(parent, name)
        self._may_delete(parent, child, creds, isdir=True)
        parent.inode.rmdir(name)

    def rename(  # noqa: PLR0917 - renameat2(2)'s arguments
        self,
        fs: FSContext,
        old_start: VirtualDentry | None,
        old_path: bytes,
        new_start: VirtualDentry | None,
        new_path: bytes,
        flags: int,
        creds: Credentials,
    ) -> None:
        """renameat2(2), checks in fs/namei.c do_renameat2 + vfs_rename order."""
        if flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT):
            raise EINVAL
        if flags & RENAME_EXCHANGE and flags & (RENAME_NOREPLACE | RENAME_WHITEOUT):
            raise EINVAL
        if flags & RENAME_WHITEOUT:
            raise EINVAL("RENAME_WHITEOUT is only for overlay file systems")
        walker, oparent, oname, otrail = self._parent(fs, old_start, old_path, creds)
        _, nparent, nname, ntrail = self._parent(fs, new_start, new_path, creds)
        if oparent.mount is not nparent.mount:
            raise EXDEV
        if oname in (None, b".", b".."):
            raise EBUSY
        if nname in (None, b".", b".."):
            raise EEXIST if flags & RENAME_NOREPLACE else EBUSY
        assert oname is not None and nname is not None
        if oparent.mount.readonly:
            raise EROFS
        old = walker.step(oparent, oname)
        old_dir = old.inode.is_dir()
        new = self._lookup(walker, nparent, nname)
        if flags & RENAME_EXCHANGE:
            if new is None:
                raise ENOENT
            if not new.inode.is_dir() and ntrail:
                raise ENOTDIR
        if not old_dir and (otrail or (ntrail and not flags & RENAME_EXCHANGE)):
            raise ENOTDIR
        if new is not None and flags & RENAME_NOREPLACE:
            raise EEXIST
        # lock_rename's trap: the source may not be an ancestor of the target
        # (EINVAL), the target not an ancestor of the source (ENOTEMPTY).
        okey = old.inode.key
        d: Dentry | None = nparent.dentry
        while d is not None:
            if d.inode.key == okey:
                raise EINVAL
            d = d.parent
        if new is not None and not flags & RENAME_EXCHANGE:
            nkey = new.inode.key
            d = oparent.dentry
            while d is not None:
                if d.inode.key == nkey:
                    raise ENOTEMPTY
                d = d.parent
        if new is not None and okey == new.inode.key:
            return  # the same file: rename(2) does nothing
        self._may_delete(oparent, old, creds, isdir=old_dir)
        if new is None:
            self._may_create(nparent, creds)
        elif flags & RENAME_EXCHANGE:
            self._may_delete(nparent, new, creds, isdir=new.inode.is_dir())
        else:
            self._may_delete(nparent, new, creds, isdir=old_dir)
        oparent.inode.rename(oname, nparent.inode, nname, flags)
