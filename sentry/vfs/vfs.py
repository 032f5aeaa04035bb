"""The VirtualFilesystem: the mount tree and every path-based operation.

Syscall handlers call these with the caller's ``FSContext`` (root, cwd,
umask), an optional start directory (the dirfd of an *at call; None means
the cwd) and credentials. Checks follow fs/namei.c (may_open, may_create,
may_delete), fs/open.c and fs/attr.c; the file systems only carry out the
operation. The class is assembled from ``_tree.MountTree`` (mounts and
resolution), ``namespace.NamespaceOps`` and ``attrs.AttributeOps``; opening
and the working directory live here.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sentry.abi.errors import (
    EACCES,
    EEXIST,
    EINVAL,
    EISDIR,
    ELOOP,
    ENOENT,
    ENOTDIR,
    ENOTSUP,
    EPERM,
    EROFS,
)
from sentry.vfs.creds import (
    MAY_EXEC,
    MAY_READ,
    MAY_WRITE,
    Credentials,
    check_access,
    is_owner_or_capable,
    may_access,
)
from sentry.vfs.file import FileDescription
from sentry.vfs.flags import (
    O_ACCMODE,
    O_CREAT,
    O_DIRECTORY,
    O_EXCL,
    O_NOATIME,
    O_NOFOLLOW,
    O_PATH,
    O_RDONLY,
    O_RDWR,
    O_TMPFILE,
    O_TRUNC,
    O_WRONLY,
)
from sentry.vfs.inode import FileImpl, Inode
from sentry.vfs.mount import Dentry, VirtualDentry
from sentry.vfs.stat import S_IFCHR, S_IFIFO, S_IFMT, S_IFREG
from sentry.vfs.walk import Walker

if TYPE_CHECKING:
    from sentry.vfs.fscontext import FSContext

from sentry.vfs.attrs import AttributeOps
from sentry.vfs.namespace import NamespaceOps

UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2


class _PathImpl(FileImpl):
    """The FileImpl of an O_PATH description: no I/O at all."""

    seekable = False


class VirtualFilesystem(NamespaceOps, AttributeOps):
    """The mount tree plus path-based operations."""

    def check_exec(self, creds: Credentials, vd: VirtualDentry) -> None:
        """May ``creds`` execve this file? (fs/exec.c do_open_execat, may_open)."""
        st = vd.inode.stat()
        if not st.is_regular():
            raise EACCES
        if not may_access(creds, st.mode, st.uid, st.gid, MAY_EXEC):
            raise EACCES

    def open_exec(
        self,
        fs: FSContext,
        path: bytes,
        creds: Credentials,
        *,
        start: VirtualDentry | None = None,
    ) -> FileDescription:
        """Open a program for execve (fs/exec.c do_open_execat).

        Needs execute permission only: an execute-only (--x) binary runs
        even though open(O_RDONLY) of it would fail. Directories and other
        non-regular files give EACCES.
        """
        vd = self.resolve(fs, path, creds, start=start)
        self.check_exec(creds, vd)
        impl = vd.inode.open(O_RDONLY, creds)
        name = self.path_of(vd, fs.root).decode(errors="replace")
        return FileDescription(impl, O_RDONLY | 0o100000, vd, name=name)

    # -- open ---------------------------------------------------------------
    def open_path(
        self,
        fs: FSContext,
        path: bytes,
        flags: int,
        mode: int,
        creds: Credentials,
        *,
        start: VirtualDentry | None = None,
        resolve: int = 0,
    ) -> FileDescription:
        """open(2)/openat(2)/openat2(2) (fs/namei.c path_openat, do_open, may_open)."""
        if flags & O_TMPFILE != O_TMPFILE and flags & O_CREAT and flags & O_DIRECTORY:
            raise EINVAL  # fs/open.c build_open_flags (Linux 6.4+)
        if not path:
            raise ENOENT
        if flags & O_TMPFILE == O_TMPFILE:
            # The path must name a directory first (ENOTDIR, ENOENT as Linux);
            # unnamed temporary files themselves are not supported yet.
            self._walker(fs, creds).walk(start or fs.cwd, path, follow_last=True, must_dir=True)
            raise ENOTSUP("O_TMPFILE is not supported")
        if flags & O_PATH:
            flags &= O_PATH | O_DIRECTORY | O_NOFOLLOW | 0o2000000
        walker = self._walker(fs, creds, resolve, start or fs.cwd)
        follow = not flags & O_NOFOLLOW
        created = False
        if flags & O_CREAT:
            vd, created = self._open_create(walker, fs, start or fs.cwd, path, flags, mode, creds)
        else:
            vd = walker.walk(start or fs.cwd, path, follow_last=follow)
        st = vd.inode.stat()
        if st.is_symlink() and not flags & O_PATH:
            raise ELOOP
        if flags & O_DIRECTORY and not st.is_dir():
            raise ENOTDIR
        if flags & O_PATH:
            name = self.path_of(vd, fs.root).decode(errors="replace")
            return FileDescription(_PathImpl(), flags, vd, name=name)
        acc = flags & O_ACCMODE
        wants_write = acc in (O_WRONLY, O_RDWR)
        if st.is_dir() and (wants_write or flags & O_CREAT):
            raise EISDIR
        ftype = st.mode & S_IFMT
        # inode_permission checks a read-only mount before the mode bits (sb_permission).
        # Devices and FIFOs are written without touching the file system.
        special = ftype in (S_IFCHR, S_IFIFO)
        if (wants_write or flags & O_TRUNC) and vd.mount.readonly and not special:
            raise EROFS
        if not created:
            want = {0: MAY_READ, O_WRONLY: MAY_WRITE, O_RDWR: MAY_READ | MAY_WRITE}.get(acc, 0)
            if flags & O_TRUNC:
                want |= MAY_WRITE
            check_access(creds, st.mode, st.uid, st.gid, want)
        if flags & O_NOATIME and not is_owner_or_capable(creds, st.uid):
            raise EPERM  # fs/namei.c may_open: O_NOATIME only for the owner
        if flags & O_TRUNC and ftype == S_IFREG and not created:
            vd.inode.setattr(size=0)
        impl = vd.inode.open(flags, creds)
        return FileDescription(
            impl, flags, vd, name=self.path_of(vd, fs.root).decode(errors="replace")
        )

    def _open_create(  # noqa: PLR0917
        self,
        walker: Walker,
        fs: FSContext,
        start: VirtualDentry,
        path: bytes,
        flags: int,
        mode: int,
        creds: Credentials,
    ) -> tuple[VirtualDentry, bool]:
        # O_CREAT: the last component must be a plain name; a dangling symlink
        # is followed and its target created unless O_EXCL|O_NOFOLLOW (open(2)).
        while True:
            parent, name, trailing = walker.walk_parent(start, path)
            if name in (None, b".", b".."):
                # fs/namei.c: dots resolve to a directory, then do_open refuses it.
                if name is not None:
                    walker.step(parent, name)
                raise EEXIST if flags & O_EXCL else EISDIR
            assert name is not None
            if trailing:
                raise EISDIR
            try:
                child: VirtualDentry | None = walker.step(parent, name)
            except ENOENT:
                child = None
            if child is not None:
                if flags & O_EXCL:
                    raise EEXIST
                if child.inode.is_symlink() and not flags & O_NOFOLLOW:
                    walker.links += 1
                    if walker.links > 40:
                        raise ELOOP
                    jump = child.inode.follow()
                    if jump is not None:
                        return jump, False
                    start, path = parent, child.inode.readlink()
                    continue
                return child, False
            self._may_create(parent, creds)
            perm = mode & ~fs.umask & 0o7777
            inode = parent.inode.create(name, S_IFREG | perm, creds)
            return VirtualDentry(parent.mount, Dentry(name, inode, parent.dentry)), True

    # -- cwd -------------------------------------------------------------------
    def chdir(self, fs: FSContext, vd: VirtualDentry, creds: Credentials) -> None:
        """chdir(2)/fchdir(2): a searchable directory."""
        st = vd.inode.stat()
        if not st.is_dir():
            raise ENOTDIR
        check_access(creds, st.mode, st.uid, st.gid, MAY_EXEC)
        fs.set_cwd(vd)

    def getcwd(self, fs: FSContext) -> bytes:
        return self.path_of(fs.cwd, fs.root)


def now_ns() -> int:
    """The current real time, for file timestamps."""
    return time.time_ns()


__all__ = ["UTIME_NOW", "UTIME_OMIT", "Inode", "VirtualFilesystem", "now_ns"]
