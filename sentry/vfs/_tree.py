"""The mount tree and path resolution shared by every VFS operation.

``MountTree`` keeps the mounts (and which directory each covers), turns
(start, path) into a ``VirtualDentry`` through a ``Walker``, and holds the
permission helpers of fs/namei.c (may_create, may_delete) that both the
namespace and the open paths use.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from sentry.abi.errors import (
    EBUSY,
    EISDIR,
    ENOENT,
    ENOTDIR,
    EPERM,
    EROFS,
)
from sentry.vfs.creds import (
    CAP_FOWNER,
    MAY_EXEC,
    MAY_WRITE,
    Credentials,
    check_access,
)
from sentry.vfs.inode import Filesystem
from sentry.vfs.mount import Dentry, Mount, VirtualDentry
from sentry.vfs.stat import S_ISVTX
from sentry.vfs.walk import Walker

if TYPE_CHECKING:
    from sentry.vfs.fscontext import FSContext


class MountTree:
    """Mounts, resolution and the shared namei.c permission helpers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mounts: list[Mount] = []
        self._mountpoints: dict[tuple[int, tuple[int, int]], Mount] = {}
        self._children: dict[int, int] = {}

    # -- mounts ---------------------------------------------------------------
    def new_root_mount(self, fs: Filesystem, *, readonly: bool = False, options: str = "") -> Mount:
        """A mount not attached anywhere: the root of a namespace (or anonymous files)."""
        mount = Mount(fs, Dentry(b"/", fs.root(), None), None, readonly, options)
        with self._lock:
            self._mounts.append(mount)
        return mount

    def anon_mount(self, fs: Filesystem) -> Mount:
        """A mount for files with no place in the tree (host stdio, pipes); not listed."""
        return Mount(fs, Dentry(b"/", fs.root(), None), None, anonymous=True)

    def mount(
        self, target: VirtualDentry, fs: Filesystem, *, readonly: bool = False, options: str = ""
    ) -> Mount:
        """Attach ``fs`` on ``target`` (the newest mount on a point wins).

        A directory on a directory, a file on a file (fs/namespace.c
        graft_tree: ENOTDIR when one is a directory and the other not).
        """
        if target.inode.is_dir() != fs.root().is_dir():
            raise ENOTDIR
        mount = Mount(fs, Dentry(b"/", fs.root(), None), target, readonly, options)
        with self._lock:
            self._mounts.append(mount)
            self._mountpoints[(target.mount.id, target.inode.key)] = mount
            self._children[target.mount.id] = self._children.get(target.mount.id, 0) + 1
        return mount

    def mounts(self) -> list[Mount]:
        """Attached mounts in mount order (for /proc/mounts)."""
        with self._lock:
            return list(self._mounts)

    def root_of(self, mount: Mount) -> VirtualDentry:
        return VirtualDentry(mount, mount.root)

    def cross_mounts(self, vd: VirtualDentry) -> VirtualDentry:
        """Step onto whatever is mounted on ``vd`` (fs/namei.c traverse_mounts)."""
        while self._children.get(vd.mount.id):
            mount = self._mountpoints.get((vd.mount.id, vd.inode.key))
            if mount is None:
                break
            vd = VirtualDentry(mount, mount.root)
        return vd

    def is_mountpoint(self, vd: VirtualDentry) -> bool:
        return (vd.mount.id, vd.inode.key) in self._mountpoints

    def path_of(self, vd: VirtualDentry, root: VirtualDentry | None = None) -> bytes:
        """The absolute path of ``vd`` as seen from ``root`` (fs/d_path.c d_path)."""
        names: list[bytes] = []
        while root is None or not vd.same(root):
            if vd.dentry.parent is None:
                if vd.mount.mountpoint is None:
                    break
                vd = vd.mount.mountpoint
                continue
            names.append(vd.dentry.name)
            vd = VirtualDentry(vd.mount, vd.dentry.parent)
        return b"/" + b"/".join(reversed(names))

    # -- resolution ---------------------------------------------------------
    def _walker(
        self,
        fs: FSContext,
        creds: Credentials,
        resolve: int = 0,
        scope: VirtualDentry | None = None,
    ) -> Walker:
        return Walker(self, fs.root, creds, resolve=resolve, scope=scope)

    def resolve(
        self,
        fs: FSContext,
        path: bytes,
        creds: Credentials,
        *,
        start: VirtualDentry | None = None,
        follow: bool = True,
        must_dir: bool = False,
    ) -> VirtualDentry:
        """Resolve ``path`` relative to ``start`` (default the cwd)."""
        return self._walker(fs, creds).walk(
            start or fs.cwd, path, follow_last=follow, must_dir=must_dir
        )

    # -- helpers ----------------------------------------------------------------
    def _may_create(self, parent: VirtualDentry, creds: Credentials) -> None:
        """fs/namei.c may_create: write+search on the directory, on a writable mount."""
        # mnt_want_write comes first: EROFS wins over EACCES (fs/namei.c filename_create).
        if parent.mount.readonly:
            raise EROFS
        st = parent.inode.stat()
        check_access(creds, st.mode, st.uid, st.gid, MAY_WRITE | MAY_EXEC)

    def _may_delete(
        self, parent: VirtualDentry, child: VirtualDentry, creds: Credentials, *, isdir: bool
    ) -> None:
        """fs/namei.c may_delete, in its order: write+search on the directory,
        the sticky-bit rule (check_sticky), then the type, then busy mounts.
        The caller has checked for a read-only mount (mnt_want_write)."""
        pst = parent.inode.stat()
        check_access(creds, pst.mode, pst.uid, pst.gid, MAY_WRITE | MAY_EXEC)
        if pst.mode & S_ISVTX:
            cst = child.inode.stat()
            if creds.fsuid not in (cst.uid, pst.uid) and not creds.has_capability(CAP_FOWNER):
                raise EPERM
        child_dir = child.inode.is_dir()
        if isdir and not child_dir:
            raise ENOTDIR
        if not isdir and child_dir:
            raise EISDIR
        if self.is_mountpoint(child) or child.is_mount_root():
            raise EBUSY

    def _parent(
        self, fs: FSContext, start: VirtualDentry | None, path: bytes, creds: Credentials
    ) -> tuple[Walker, VirtualDentry, bytes | None, bool]:
        if not path:
            raise ENOENT
        walker = self._walker(fs, creds)
        parent, name, trailing = walker.walk_parent(start or fs.cwd, path)
        return walker, parent, name, trailing

    @staticmethod
    def _lookup(walker: Walker, parent: VirtualDentry, name: bytes) -> VirtualDentry | None:
        try:
            return walker.step(parent, name)
        except ENOENT:
            return None
