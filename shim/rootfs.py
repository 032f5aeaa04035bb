"""Mounting the task's rootfs into ``<bundle>/rootfs`` and taking it down.

containerd hands the snapshot as mounts without a target (reference §3.2):
``overlay`` (``lowerdir=…,upperdir=…,workdir=…``) or ``bind`` (``rw,rbind``)
from the overlayfs and native snapshotters. The shim mounts them in order
onto the bundle's empty ``rootfs`` directory, as containerd's runc shim does
(runtime/v2/runc/container.go NewContainer), and unmounts everything below
it on Delete and in the ``delete`` subcommand (``mount.UnmountAll``).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import Sequence

from protos.containerd.types import mount_pb2
from runtime import hostsys, mountopts

log = logging.getLogger("pysandbox.shim.rootfs")

MNT_DETACH = 2
MAX_UNMOUNTS = 64


class RootfsError(Exception):
    """The rootfs mounts cannot be set up."""


def mount_all(mounts: Sequence[mount_pb2.Mount], target: str) -> None:
    """Mount ``mounts`` onto ``target`` in order; undo them all on failure."""
    done = 0
    try:
        for m in mounts:
            _mount_one(m, target)
            done += 1
    except BaseException:
        if done:
            unmount_all(target)
        raise


def _mount_one(m: mount_pb2.Mount, target: str) -> None:
    try:
        parsed = mountopts.parse(list(m.options))
    except ValueError as exc:
        raise RootfsError(f"rootfs mount {m.type} {m.source}: {exc}") from None
    fstype = None if parsed.flags & mountopts.MS_BIND else m.type
    try:
        hostsys.mount(m.source, target, fstype, parsed.flags, ",".join(parsed.data))
        if parsed.flags & mountopts.MS_BIND and parsed.flags & mountopts.MS_RDONLY:
            # A bind mount ignores MS_RDONLY until remounted (mount(2) "MS_BIND").
            hostsys.mount(None, target, None, parsed.flags | mountopts.MS_REMOUNT, "")
    except OSError as exc:
        raise RootfsError(
            f"cannot mount rootfs {m.type} {m.source} on {target}: {os.strerror(exc.errno or 0)}"
        ) from None


def is_mountpoint(path: str) -> bool:
    """Whether something is mounted exactly at ``path`` (/proc/self/mountinfo)."""
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 4 and _unescape(fields[4]) == real:
                return True
    return False


def _unescape(path: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal (proc(5)).
    return (
        path.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")
        .replace("\\134", "\\")
    )  # fmt: skip


def unmount_all(target: str) -> None:
    """Unmount every mount stacked at ``target``; a missing path is fine."""
    if not os.path.exists(target):
        return
    for _ in range(MAX_UNMOUNTS):
        if not is_mountpoint(target):
            return
        try:
            hostsys.umount2(target, 0)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                return
            if exc.errno == errno.EBUSY:
                with contextlib.suppress(OSError):
                    hostsys.umount2(target, MNT_DETACH)
                continue
            raise RootfsError(f"cannot unmount {target}: {os.strerror(exc.errno or 0)}") from None
    log.warning("gave up unmounting %s after %d mounts", target, MAX_UNMOUNTS)
