"""Build the container's root in the gofer's mount namespace (seed ``setupRootFS``).

Layout, as in the seed: a tmpfs scaffold (nosuid, nodev, noexec,
unbindable) is mounted on ``/proc/fs`` — a directory every Linux host has,
so no host directory is touched — with ``root/`` (the container root,
bind-mounted) and ``etc/localtime`` (the host's time zone). The spec's bind
mounts go inside ``root/`` at destinations resolved inside the root; then
the process pivots into the scaffold, so the host's tree is gone and the
container root is ``/root``.

Unlike runsc, the gofer does not re-exec after dropping capabilities
(Python can drop them in-process), so it needs no ``/proc`` after the pivot
and the scaffold does not carry one.

Mount targets are checked like the seed's SafeMount: the target is opened
with O_PATH|O_NOFOLLOW, its /proc/self/fd link must lie inside the root, and
the mount is made onto that FD's /proc/self/fd path, so nothing can swap the
target between the check and mount(2).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import stat
from collections.abc import Iterator

from runtime import hostsys
from runtime import mountopts as mo
from runtime.gofer.mountconf import GoferMountConf
from runtime.gofer.resolve import resolve_symlinks
from runtime.spec import Mount, Spec

log = logging.getLogger("pysandbox.gofer")

SCAFFOLD = "/proc/fs"
ROOT_IN_SCAFFOLD = "root"
ROOT_AFTER_PIVOT = "/root"


def gofer_mounts(spec: Spec) -> list[Mount]:
    """The spec mounts the gofer handles (seed ``IsGoferMount``: binds)."""
    return [m for m in spec.mounts if m.is_bind]


def _inside(root: str, path: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


@contextlib.contextmanager
def _opened_target(root: str, target: str) -> Iterator[str]:
    """Yield a /proc/self/fd path for ``target``, proven to lie inside ``root``."""
    fd = os.open(target, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
        if not _inside(root, real):
            raise OSError(errno.EXDEV, f"mount target {target} escapes the root ({real})", target)
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


def _make_target(root: str, target: str, directory: bool) -> None:
    """Create ``target`` (resolved, symlink-free) and its parents, never through a link."""
    rel = os.path.relpath(target, root)
    cur = root
    parts = [] if rel == "." else rel.split("/")
    for i, name in enumerate(parts):
        cur = os.path.join(cur, name)
        last = i == len(parts) - 1
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            if last and not directory:
                os.close(os.open(cur, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o644))
            else:
                os.mkdir(cur, 0o755)
            continue
        if stat.S_ISLNK(st.st_mode):
            raise OSError(errno.ELOOP, f"mount target component {cur} is a symlink", cur)
        if not last and not stat.S_ISDIR(st.st_mode):
            raise OSError(errno.ENOTDIR, f"mount target part {cur} is not a directory", cur)


def bind_mount(
    root: str, source: str, target: str, options: tuple[str, ...], force_ro: bool
) -> None:
    """Bind ``source`` onto ``target`` inside ``root`` with the OCI options.

    mount(2) ignores most flags on MS_BIND, so flags are applied by a
    remount, and propagation by a third call ("Changing the propagation
    type" cannot be combined with other flags).
    """
    parsed = mo.parse(options)
    flags = parsed.flags | (mo.MS_RDONLY if force_ro else 0)
    recursive = "rbind" in options
    _make_target(root, target, os.path.isdir(source))
    with _opened_target(root, target) as fd_path:
        hostsys.mount(source, fd_path, None, mo.MS_BIND | (mo.MS_REC if recursive else 0))
    extra = flags & ~(mo.MS_BIND | mo.MS_REC)
    if extra:
        with _opened_target(root, target) as fd_path:
            hostsys.mount(None, fd_path, None, mo.MS_BIND | mo.MS_REMOUNT | extra)
    if parsed.propagation:
        with _opened_target(root, target) as fd_path:
            hostsys.mount(None, fd_path, None, parsed.propagation)


def setup_mounts(spec: Spec, root: str, confs: list[GoferMountConf]) -> None:
    """Seed ``setupMounts``: every served bind mount, in spec order."""
    for m, conf in zip(gofer_mounts(spec), confs[1:], strict=True):
        if not conf.served:
            continue
        dst = resolve_symlinks(root, m.destination)
        log.info("mounting %s on %s (resolved %s)", m.source, m.destination, dst)
        try:
            bind_mount(root, m.source, dst, m.options, conf.overlaid)
        except OSError as exc:
            raise OSError(
                exc.errno, f"mounting {m.source} on {m.destination}: {exc.strerror}"
            ) from None


def _copy_localtime(scaffold: str) -> None:
    try:
        shutil.copyfile("/etc/localtime", os.path.join(scaffold, "etc", "localtime"))
    except OSError as exc:
        log.warning("cannot copy /etc/localtime (%s); the container will use UTC", exc.strerror)


def _overlay_option_path(path: str) -> str:
    """``path`` escaped for an overlayfs option (``\\``, ``,`` and ``:`` are special)."""
    return path.replace("\\", "\\\\").replace(",", "\\,").replace(":", "\\:")


def _mount_overlay(lower: str, target: str, scaffold: str) -> None:
    """The root with a writable in-memory layer (seed overlay root,
    ``upper: memory``): the host's overlayfs over ``lower``, its upper and
    work directories on a tmpfs of this mount namespace, so a write never
    reaches ``lower`` and is gone with the gofer's namespace. Only
    ``lower``'s own file system is layered (overlayfs does not descend into
    its submounts); the Sentry mounts /dev, /proc, /sys and /tmp itself."""
    layer = os.path.join(scaffold, "layer")
    os.mkdir(layer, 0o700)
    hostsys.mount("pysandbox-overlay", layer, "tmpfs", mo.MS_NOSUID | mo.MS_NODEV, "mode=0700")
    upper, work = os.path.join(layer, "upper"), os.path.join(layer, "work")
    os.mkdir(upper, 0o755)
    os.mkdir(work, 0o700)
    options = (
        f"lowerdir={_overlay_option_path(lower)},upperdir={_overlay_option_path(upper)},"
        f"workdir={_overlay_option_path(work)}"
    )
    hostsys.mount("overlay", target, "overlay", 0, options)


def setup_rootfs(spec: Spec, confs: list[GoferMountConf], scaffold: str = SCAFFOLD) -> str:
    """Build the root and pivot into the scaffold; returns the container root path.

    Must run in the gofer's own mount namespace.
    """
    # No mount event may propagate back to the host.
    hostsys.mount(None, "/", None, mo.MS_SLAVE | mo.MS_REC)
    hostsys.mount(
        "pysandbox-root", scaffold, "tmpfs", mo.MS_NOSUID | mo.MS_NODEV | mo.MS_NOEXEC, "mode=0755"
    )
    hostsys.mount(None, scaffold, None, mo.MS_UNBINDABLE)
    root = os.path.join(scaffold, ROOT_IN_SCAFFOLD)
    os.mkdir(root, 0o755)
    os.mkdir(os.path.join(scaffold, "etc"), 0o755)
    _copy_localtime(scaffold)

    if confs[0].served and confs[0].overlaid:
        _mount_overlay(spec.root.path, root, scaffold)
    elif confs[0].served:
        hostsys.mount(spec.root.path, root, None, mo.MS_BIND | mo.MS_REC)
        propagation = mo.MS_SLAVE | mo.MS_REC
        if spec.linux.rootfs_propagation:
            propagation = mo.PROPAGATION_OPTIONS[spec.linux.rootfs_propagation]
        hostsys.mount(None, root, None, propagation)

    setup_mounts(spec, root, confs)

    if spec.process is not None and spec.process.cwd:
        # OCI: the working directory must exist; create it inside the root.
        cwd = resolve_symlinks(root, spec.process.cwd)
        if not os.path.isdir(cwd):
            _make_target(root, cwd, directory=True)

    if confs[0].served and spec.root.readonly:
        # NOSUID and NODEV too: they may be locked, and clearing a locked flag
        # fails (mount_namespaces(7)).
        flags = mo.MS_BIND | mo.MS_REMOUNT | mo.MS_RDONLY | mo.MS_NOSUID | mo.MS_NODEV
        hostsys.mount(None, root, None, flags)

    pivot_root(scaffold)
    return ROOT_AFTER_PIVOT


def pivot_root(new_root: str) -> None:
    """pivot_root(".", ".") then detach the old root (pivot_root(2) NOTES)."""
    os.chdir(new_root)
    hostsys.pivot_root(".", ".")
    hostsys.umount2(".", hostsys.MNT_DETACH)
    os.chdir("/")
