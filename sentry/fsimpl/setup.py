"""Building a sandbox's mount tree: the root file system plus /dev, /proc and /tmp."""

from __future__ import annotations

import logging
import os
from typing import Any

from sentry.abi.errors import EEXIST, EROFS, LinuxError
from sentry.fsimpl.devfs import DevFilesystem
from sentry.fsimpl.devpts import DevptsFilesystem
from sentry.fsimpl.gofer.directfs import DirectFilesystem
from sentry.fsimpl.proc import ProcFilesystem
from sentry.fsimpl.sysfs import SysFilesystem
from sentry.fsimpl.tmpfs import TmpfsFilesystem
from sentry.inet import Stack
from sentry.vfs import FSContext, VirtualDentry, VirtualFilesystem
from sentry.vfs.inode import Filesystem

log = logging.getLogger(__name__)


class _Root:
    """Credentials of the Sentry itself while it sets up mounts (all capabilities)."""

    fsuid = 0
    fsgid = 0
    groups: tuple[int, ...] = ()

    def has_capability(self, cap: int) -> bool:
        return True


def _mount_on(vfs: VirtualFilesystem, fs_ctx: FSContext, path: bytes, fs: Filesystem,
              readonly_root: bool, **kw: Any) -> None:  # fmt: skip
    creds = _Root()
    try:
        vfs.mkdir(fs_ctx, None, path, 0o755, creds)
    except (EEXIST, EROFS):
        pass
    try:
        target = vfs.resolve(fs_ctx, path, creds)
    except LinuxError as exc:
        log.warning("cannot mount %s on %s: %s (read-only root without the directory?)",
                    fs.name, path.decode(), exc)  # fmt: skip
        return
    vfs.mount(target, fs, **kw)


def setup_root(
    vfs: VirtualFilesystem,
    root_dir: str | int,
    readonly: bool = False,
    *,
    tty_fd: int | None = None,
    kernel: Any = None,
    net: Stack | None = None,
    tmp_if_empty: bool = False,
) -> VirtualDentry:
    """Mount ``root_dir`` (a host path or an owned directory FD) as / with
    devfs on /dev, devpts on /dev/pts, tmpfs on /dev/shm and /tmp, procfs on /proc, a minimal
    read-only sysfs on /sys; ``net`` (the sandbox's network namespace) fills
    /proc/net and /sys/class/net.

    With ``tmp_if_empty`` (containers) the tmpfs goes on /tmp only when the
    root's /tmp is empty or missing, as gVisor's loader decides (mountTmp):
    a tmpfs would hide the files there (``pysandbox do`` from a directory
    under the host's /tmp could not even start in it).

    Returns the root, from which the kernel builds the first task's FSContext.
    """
    if isinstance(root_dir, int):
        rootfs = DirectFilesystem(root_dir, readonly=readonly)
    else:
        rootfs = DirectFilesystem(
            os.open(root_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC),
            readonly=readonly, source=root_dir,
        )  # fmt: skip
    mount = vfs.new_root_mount(rootfs, readonly=readonly)
    root = vfs.root_of(mount)
    ctx = FSContext(root, root)
    _mount_on(vfs, ctx, b"/dev", DevFilesystem(tty_fd), readonly, options="mode=755")
    _mount_on(vfs, ctx, b"/dev/shm", TmpfsFilesystem(), readonly)
    _mount_on(vfs, ctx, b"/dev/pts", DevptsFilesystem(), readonly,
              options="gid=5,mode=620,ptmxmode=666")  # fmt: skip
    _mount_on(vfs, ctx, b"/proc", ProcFilesystem(kernel, net=net), readonly)
    _mount_on(vfs, ctx, b"/sys", SysFilesystem(net), readonly, readonly=True)
    if not (tmp_if_empty and _has_entries(rootfs.root_host_fd(), "tmp")):
        _mount_on(vfs, ctx, b"/tmp", TmpfsFilesystem(), readonly)
    return root


def _has_entries(dir_fd: int, name: str) -> bool:
    """Whether the host directory ``name`` under ``dir_fd`` has an entry
    (False when it is missing or not a directory)."""
    try:
        fd = os.open(
            name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd
        )
    except OSError:
        return False
    try:
        with os.scandir(fd) as it:
            return next(it, None) is not None
    finally:
        os.close(fd)
