"""Attribute operations on a resolved file: readlink, stat, access, chmod,
chown, utimes, truncate, statfs (fs/open.c, fs/attr.c, fs/utimes.c)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sentry.abi.errors import (
    EACCES,
    EINVAL,
    EISDIR,
    EPERM,
    EROFS,
)
from sentry.vfs.creds import (
    CAP_CHOWN,
    CAP_FSETID,
    MAY_WRITE,
    Credentials,
    check_access,
    in_group,
    is_owner_or_capable,
    may_access,
)
from sentry.vfs.inode import StatFS
from sentry.vfs.mount import VirtualDentry
from sentry.vfs.stat import S_ISGID, S_ISUID, Stat

if TYPE_CHECKING:
    pass

from sentry.vfs._tree import MountTree


class AttributeOps(MountTree):
    """Reading and changing a file's attributes."""

    # -- attributes -------------------------------------------------------------
    def readlink(self, vd: VirtualDentry) -> bytes:
        if not vd.inode.is_symlink():
            raise EINVAL
        return vd.inode.readlink()

    def stat(self, vd: VirtualDentry) -> Stat:
        return vd.inode.stat()

    def access(self, vd: VirtualDentry, mode: int, creds: Credentials) -> None:
        """faccessat(2) (fs/open.c do_faccessat): F_OK is existence only."""
        if mode & ~7:
            raise EINVAL
        if not mode:
            return
        st = vd.inode.stat()
        if (
            mode & MAY_WRITE
            and vd.mount.readonly
            and (st.is_regular() or st.is_dir() or st.is_symlink())
        ):
            raise EROFS
        check_access(creds, st.mode, st.uid, st.gid, mode)

    def chmod(self, vd: VirtualDentry, mode: int, creds: Credentials) -> None:
        """chmod(2) (fs/attr.c setattr_prepare): owner or CAP_FOWNER."""
        if vd.mount.readonly:
            raise EROFS
        st = vd.inode.stat()
        if not is_owner_or_capable(creds, st.uid):
            raise EPERM
        mode &= 0o7777
        if mode & S_ISGID and not in_group(creds, st.gid) and not creds.has_capability(CAP_FSETID):
            mode &= ~S_ISGID
        vd.inode.setattr(mode=mode)

    def chown(self, vd: VirtualDentry, uid: int, gid: int, creds: Credentials) -> None:
        """chown(2) (fs/attr.c chown_ok/chgrp_ok); -1 leaves an id unchanged."""
        if vd.mount.readonly:
            raise EROFS
        st = vd.inode.stat()
        new_uid = None if uid == -1 else uid
        new_gid = None if gid == -1 else gid
        capable = creds.has_capability(CAP_CHOWN)
        owner = creds.fsuid == st.uid
        if new_uid is not None and not capable and (not owner or new_uid != st.uid):
            raise EPERM
        if (
            new_gid is not None
            and not capable
            and (not owner or (new_gid != st.gid and not in_group(creds, new_gid)))
        ):
            raise EPERM
        mode = None
        if (
            not st.is_dir()
            and st.mode & (S_ISUID | S_ISGID)
            and (new_uid is not None or new_gid is not None)
        ):
            # Changing owner clears set-id bits (fs/attr.c, should_remove_suid).
            mode = st.mode & 0o7777 & ~S_ISUID
            if st.mode & 0o010:
                mode &= ~S_ISGID
        vd.inode.setattr(uid=new_uid, gid=new_gid, mode=mode)

    def utimes(
        self,
        vd: VirtualDentry,
        atime_ns: int | None,
        mtime_ns: int | None,
        creds: Credentials,
        *,
        explicit: bool,
    ) -> None:
        """utimensat(2): "now" needs ownership or write access; explicit times need ownership."""
        st = vd.inode.stat()
        if vd.mount.readonly:
            raise EROFS
        if not is_owner_or_capable(creds, st.uid):
            if explicit:
                raise EPERM
            if not may_access(creds, st.mode, st.uid, st.gid, MAY_WRITE):
                raise EACCES
        vd.inode.setattr(atime_ns=atime_ns, mtime_ns=mtime_ns)

    def truncate(self, vd: VirtualDentry, size: int, creds: Credentials) -> None:
        """truncate(2) (fs/open.c vfs_truncate)."""
        st = vd.inode.stat()
        if st.is_dir():
            raise EISDIR
        if not st.is_regular():
            raise EINVAL
        if size < 0:
            raise EINVAL
        if vd.mount.readonly:
            raise EROFS
        check_access(creds, st.mode, st.uid, st.gid, MAY_WRITE)
        vd.inode.setattr(size=size)

    def statfs(self, vd: VirtualDentry) -> StatFS:
        return vd.mount.fs.statfs()
