"""Path resolution (fs/namei.c link_path_walk, walk_component, follow_dotdot).

One ``Walker`` resolves one path for one caller: it counts the symlinks it
follows across nested resolutions (ELOOP after MAXSYMLINKS, as Linux's
nd->total_link_count), checks search permission on every directory it looks
a name up in (may_lookup), never lets ``..`` climb above the caller's root,
and crosses mount points in both directions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sentry.abi.errors import ELOOP, ENAMETOOLONG, ENOENT, ENOTDIR, EXDEV
from sentry.vfs.creds import MAY_EXEC, Credentials, check_access
from sentry.vfs.flags import MAXSYMLINKS, NAME_MAX, PATH_MAX
from sentry.vfs.mount import Dentry, VirtualDentry

if TYPE_CHECKING:
    from sentry.vfs._tree import MountTree


def split_path(path: bytes) -> tuple[list[bytes], bool]:
    """The components of ``path`` and whether it ends in a slash."""
    if len(path) >= PATH_MAX:
        raise ENAMETOOLONG
    return [c for c in path.split(b"/") if c], path.endswith(b"/")


#: openat2(2) RESOLVE_* flags (include/uapi/linux/openat2.h).
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
RESOLVE_CACHED = 0x20


class Walker:
    """State of one path resolution.

    ``resolve`` takes openat2's RESOLVE_* restrictions; ``scope`` is the
    directory RESOLVE_BENEATH/RESOLVE_IN_ROOT confine the walk to.
    """

    def __init__(
        self,
        vfs: MountTree,
        root: VirtualDentry,
        creds: Credentials,
        *,
        resolve: int = 0,
        scope: VirtualDentry | None = None,
    ) -> None:
        self.vfs = vfs
        self.creds = creds
        self.links = 0
        self.resolve = resolve
        self.beneath = scope if resolve & RESOLVE_BENEATH else None
        self.root = scope if resolve & RESOLVE_IN_ROOT and scope is not None else root

    def may_lookup(self, vd: VirtualDentry) -> None:
        """Search permission on a directory (fs/namei.c may_lookup)."""
        st = vd.inode.stat()
        if not st.is_dir():
            raise ENOTDIR
        check_access(self.creds, st.mode, st.uid, st.gid, MAY_EXEC)

    def step(self, vd: VirtualDentry, name: bytes) -> VirtualDentry:
        """Look ``name`` up in directory ``vd`` without following a final symlink."""
        self.may_lookup(vd)
        if len(name) > NAME_MAX:
            raise ENAMETOOLONG
        if name == b".":
            return vd
        if name == b"..":
            return self._dotdot(vd)
        inode = vd.inode.lookup(name)
        child = self.vfs.cross_mounts(VirtualDentry(vd.mount, Dentry(name, inode, vd.dentry)))
        if self.resolve & RESOLVE_NO_XDEV and child.mount is not vd.mount:
            raise EXDEV
        return child

    def _dotdot(self, vd: VirtualDentry) -> VirtualDentry:
        # follow_dotdot: stay at the root, climb out of mounts, then go up.
        while True:
            if self.beneath is not None and vd.same(self.beneath):
                raise EXDEV  # ".." would leave the RESOLVE_BENEATH scope
            if vd.same(self.root):
                return vd
            if vd.dentry.parent is None:
                if vd.mount.mountpoint is None:
                    return vd
                if self.resolve & RESOLVE_NO_XDEV:
                    raise EXDEV
                vd = vd.mount.mountpoint
                continue
            return self.vfs.cross_mounts(VirtualDentry(vd.mount, vd.dentry.parent))

    def follow(self, parent: VirtualDentry, link: VirtualDentry) -> VirtualDentry:
        """Resolve symlink ``link`` found in ``parent`` (counts toward ELOOP)."""
        self.links += 1
        if self.links > MAXSYMLINKS or self.resolve & RESOLVE_NO_SYMLINKS:
            raise ELOOP
        jump = link.inode.follow()
        if jump is not None:
            # fs/namei.c nd_jump_link: refused by NO_MAGICLINKS and scoped lookups.
            if self.resolve & RESOLVE_NO_MAGICLINKS:
                raise ELOOP
            if self.resolve & (RESOLVE_BENEATH | RESOLVE_IN_ROOT):
                raise EXDEV
            if self.resolve & RESOLVE_NO_XDEV and jump.mount is not parent.mount:
                raise EXDEV
            return jump
        target = link.inode.readlink()
        if not target:
            raise ENOENT
        return self.walk(parent, target, follow_last=True)

    def step_follow(self, vd: VirtualDentry, name: bytes, follow: bool) -> VirtualDentry:
        child = self.step(vd, name)
        if follow and child.inode.is_symlink():
            return self.follow(vd, child)
        return child

    def walk_parent(
        self, start: VirtualDentry, path: bytes
    ) -> tuple[VirtualDentry, bytes | None, bool]:
        """Resolve all but the last component.

        Returns the directory, the last name (None when the path names the
        start or root itself, e.g. "/"), and whether the path ended in "/".
        """
        comps, trailing = split_path(path)
        if path.startswith(b"/"):
            if self.beneath is not None:
                raise EXDEV  # absolute paths and symlinks leave the scope
            if self.resolve & RESOLVE_NO_XDEV and self.root.mount is not start.mount:
                raise EXDEV
            vd = self.root
        else:
            vd = start
        if not comps:
            return vd, None, trailing
        for comp in comps[:-1]:
            vd = self.step_follow(vd, comp, follow=True)
        # link_path_walk checks search permission before the last component
        # too, so even "mkdir ." in an unsearchable directory is EACCES.
        self.may_lookup(vd)
        return vd, comps[-1], trailing

    def walk(
        self, start: VirtualDentry, path: bytes, *, follow_last: bool, must_dir: bool = False
    ) -> VirtualDentry:
        """Resolve ``path`` fully. A trailing slash follows and requires a directory."""
        if not path:
            raise ENOENT
        parent, name, trailing = self.walk_parent(start, path)
        if name is None:
            vd = parent
        else:
            vd = self.step_follow(parent, name, follow_last or trailing)
        if (trailing or must_dir) and not vd.inode.is_dir():
            raise ENOTDIR
        return vd
