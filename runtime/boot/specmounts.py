"""The OCI spec's mounts as Sentry file systems (runsc ``boot/vfs.go``).

Every mount type of runtime-spec config.md maps to a file system of the
Sentry, built on top of the container's root in spec order:

- gofer binds (``bind`` and anything the gofer resolved to a directory
  FD): directfs;
- ``tmpfs``: a new tmpfs (``mode=`` honoured);
- ``proc``, ``devtmpfs`` at /proc, /dev, /dev/shm: the Sentry's own (set up
  by ``sentry.fsimpl.setup``), the spec's entry is absorbed;
- ``sysfs`` at /sys and ``devpts`` at /dev/pts: the Sentry's built-ins,
  remounted with the spec's ``ro`` and options; elsewhere a new instance
  (``proc`` too);
- ``mqueue``: the IPC namespace's one mqueue file system (the queues
  mq_open makes appear there);
- ``cgroup`` and ``cgroup2``: a read-only cgroupfs (v1 or v2 layout) with
  the container's linux.resources as its limits.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from runtime import spec as ocispec
from runtime.boot.gofermounts import SpecMount
from runtime.errors import RuntimeFailure
from sentry.abi.errors import EEXIST, LinuxError
from sentry.fsimpl.cgroupfs import CgroupFilesystem
from sentry.fsimpl.devpts import DevptsFilesystem
from sentry.fsimpl.gofer.directfs import DirectFilesystem
from sentry.fsimpl.mqueue import mqueue_filesystem
from sentry.fsimpl.proc import ProcFilesystem
from sentry.fsimpl.sysfs import SysFilesystem
from sentry.fsimpl.tmpfs import TmpfsFilesystem
from sentry.kernel.cgroup import CgroupLimits
from sentry.vfs import FSContext, VirtualDentry, VirtualFilesystem
from sentry.vfs.stat import S_IFREG

log = logging.getLogger("pysandbox.boot")

#: Spec mounts the Sentry provides itself (sentry.fsimpl.setup_root mounts
#: devfs on /dev, tmpfs on /dev/shm, procfs on /proc): the spec's are absorbed.
BUILTIN_MOUNTS = frozenset({"/dev", "/dev/shm", "/proc"})
#: Built-ins the spec may remount with its own options, by destination.
REMOUNTED_BUILTINS = {"/sys": "sysfs", "/dev/pts": "devpts"}
#: Kernel file systems: skipped with a warning when a read-only root has
#: no mount point for them.
VIRTUAL_TYPES = frozenset({"proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2"})


class _SetupCreds:
    """The Sentry's own credentials while it builds the mount tree."""

    fsuid = 0
    fsgid = 0
    groups: tuple[int, ...] = ()

    def has_capability(self, cap: int) -> bool:
        return True


def cgroup_limits(resources: ocispec.Resources | None) -> CgroupLimits:
    """linux.resources as cgroupfs shows them."""
    if resources is None:
        return CgroupLimits()
    mem, cpu, pids = resources.memory, resources.cpu, resources.pids
    return CgroupLimits(
        memory_limit=mem.limit if mem is not None else None,
        memory_reservation=mem.reservation if mem is not None else None,
        cpu_shares=cpu.shares if cpu is not None else None,
        cpu_quota=cpu.quota if cpu is not None else None,
        cpu_period=cpu.period if cpu is not None else None,
        pids_limit=pids.limit if pids is not None else None,
    )


def tmpfs_mode(options: tuple[str, ...]) -> int:
    """``mode=`` of a tmpfs mount (octal), 1777 by default (mm/shmem.c)."""
    for opt in options:
        if opt.startswith("mode="):
            try:
                return int(opt[5:], 8)
            except ValueError:
                raise RuntimeFailure(f"tmpfs: bad option {opt!r}") from None
    return 0o1777


def new_filesystem(m: SpecMount, kernel: Any, limits: CgroupLimits, readonly: bool) -> Any:
    """The Sentry file system for spec mount ``m``."""
    if m.root_fd >= 0:
        return DirectFilesystem(m.root_fd, readonly=readonly, source=m.destination)
    if m.type == "tmpfs":
        return TmpfsFilesystem(mode=tmpfs_mode(m.options))
    if m.type == "proc":
        return ProcFilesystem(kernel)
    if m.type == "sysfs":
        return SysFilesystem()
    if m.type == "devpts":
        return DevptsFilesystem()
    if m.type == "mqueue":
        return mqueue_filesystem(kernel.mq_registry)
    if m.type in ("cgroup", "cgroup2"):
        return CgroupFilesystem(kernel, limits, 1 if m.type == "cgroup" else 2)
    raise RuntimeFailure(f"mount {m.destination}: type {m.type!r} is not supported")


def mount_all(
    vfs: VirtualFilesystem,
    kernel: Any,
    root: VirtualDentry,
    mounts: list[SpecMount],
    resources: ocispec.Resources | None,
) -> None:
    """The spec's mounts on top of ``root``, in spec order (runtime-spec
    config.md "mounts")."""
    creds = _SetupCreds()
    ctx = FSContext(root, root)
    limits = cgroup_limits(resources)
    for m in mounts:
        if m.root_fd < 0 and m.destination in BUILTIN_MOUNTS:
            continue
        readonly = m.readonly or "ro" in m.options
        virtual = m.root_fd < 0 and m.type in VIRTUAL_TYPES
        if virtual and not _has_mount_point(vfs, ctx, creds, m):
            # runc creates it before making the root read-only; a Sentry
            # root is read-only from the start. Skipping a kernel file
            # system is kinder than refusing the container.
            log.warning("mount %s (%s) skipped: no mount point in the read-only root",
                        m.destination, m.type)  # fmt: skip
            continue
        if virtual and REMOUNTED_BUILTINS.get(m.destination) == m.type:
            _remount(vfs, ctx, creds, m, readonly)
            continue
        fs = new_filesystem(m, kernel, limits, readonly)
        if m.type in ("cgroup", "cgroup2") and m.root_fd < 0:
            readonly = True  # cgroupfs shows limits; it cannot change them
        _attach(vfs, ctx, creds, m, fs, readonly)


def _has_mount_point(vfs: VirtualFilesystem, ctx: FSContext, creds: Any, m: SpecMount) -> bool:
    """Whether ``m``'s destination exists or can be made (a writable parent)."""
    path = os.fsencode(m.destination)
    try:
        vfs.resolve(ctx, path, creds)
        return True
    except LinuxError:
        pass
    try:
        vfs.mkdir(ctx, None, path, 0o755, creds)
    except EEXIST:
        return True
    except LinuxError:
        return False
    return True


def _remount(
    vfs: VirtualFilesystem, ctx: FSContext, creds: Any, m: SpecMount, readonly: bool
) -> None:
    """Apply the spec's flags to a built-in mount (mount -o remount)."""
    try:
        vd = vfs.resolve(ctx, os.fsencode(m.destination), creds, must_dir=True)
    except LinuxError as err:
        raise RuntimeFailure(f"mount {m.destination}: {os.strerror(err.errno)}") from None
    mount = vd.mount
    if not vd.is_mount_root() or mount.fs.name != m.type:
        raise RuntimeFailure(f"mount {m.destination}: the Sentry's {m.type} is not mounted there")
    # sysfs is read-only in the Sentry whatever the spec asks.
    mount.readonly = readonly or m.type == "sysfs"
    if m.options:
        mount.options = ",".join(o for o in m.options if o not in ("ro", "rw"))


def _attach(  # noqa: PLR0917
    vfs: VirtualFilesystem, ctx: FSContext, creds: Any, m: SpecMount, fs: Any, readonly: bool
) -> None:
    path = os.fsencode(m.destination)
    is_dir = fs.root().is_dir()
    try:
        if is_dir:
            vfs.mkdir(ctx, None, path, 0o755, creds)
        else:
            # A file on a file (CRI's /etc/hosts, /dev/termination-log).
            vfs.mknod(ctx, None, path, S_IFREG | 0o644, 0, creds)
    except EEXIST:
        pass
    except LinuxError as err:
        # e.g. EROFS on a read-only root: resolving it below then fails
        # with a clear error naming the mount.
        log.debug("mount %s: cannot create the mount point: %s", m.destination, err)
    try:
        target = vfs.resolve(ctx, path, creds, must_dir=is_dir)
    except LinuxError as err:
        raise RuntimeFailure(
            f"mount {m.destination}: {os.strerror(err.errno)} "
            "(the mount point must exist in a read-only root)"
        ) from None
    try:
        vfs.mount(target, fs, readonly=readonly, options=",".join(m.options))
    except LinuxError as err:
        kind = "directory" if is_dir else "file"
        raise RuntimeFailure(
            f"mount {m.destination}: cannot mount a {kind} there: {os.strerror(err.errno)}"
        ) from None
