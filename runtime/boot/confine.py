"""How the sandbox process confines itself before it serves (seed ``boot.go``).

In order, once the Sentry is built (every module imported, the ptrace stub
image open):

1. ``setup_root``: an empty tmpfs becomes / (pivot_root; the old root is
   detached), with a read-only bind of the host's /proc so that the open
   FDs can still be checked, then the scaffold is remounted read-only
   (seed ``setUpChroot``: tmpfs nosuid,nodev,noexec, /proc, remount ro,
   pivot_root).
2. ``validate_open_fds``: no directory FD is open except the container
   roots the gofer donated (seed ``validateOpenFDs``: an open directory FD
   is a way out of a chroot); checked before the Sentry opens its own,
   all beneath those roots.
3. ``unmount_proc`` right before seccomp (seed ``umountProc``), checked by
   ``access("/proc/self")`` failing with ENOENT.
4. ``drop_capabilities`` to what directfs needs (seed
   ``directfsSandboxCaps``); CAP_SYS_PTRACE is not kept: our ptrace
   platform only traces its own children (PTRACE_TRACEME).
5. ``set_fd_limit`` (seed: RLIMIT_NOFILE = conf.FDLimit, EPERM only warns).

Unlike runsc, nothing here re-executes the process: Python can drop
capabilities in-process, as long as no thread exists yet (capabilities and
seccomp filters are per thread; threads created later inherit them).
"""

from __future__ import annotations

import errno
import logging
import os
import resource
import stat

from runtime import capabilities, hostsys
from runtime import mountopts as mo
from runtime.errors import RuntimeFailure

log = logging.getLogger("pysandbox.boot")

# Seed boot.go directfsSandboxCaps: the gofer's six minus CAP_SYS_CHROOT.
BOOT_CAPS: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
)

# Seed: conf.FDLimit default (runsc --fdlimit=-1 keeps the host's; gVisor
# caps the Sentry's own table well above what one container needs).
FD_LIMIT = 65536

# A directory every Linux host has, used as the mount point of the scaffold
# in our own mount namespace (the host never sees it).
SCAFFOLD = "/proc/fs"


def setup_root(scaffold: str = SCAFFOLD) -> None:
    """Pivot into an empty read-only tmpfs holding only /proc (bind, ro).

    Must run in the sandbox's own mount namespace.
    """
    hostsys.mount(None, "/", None, mo.MS_SLAVE | mo.MS_REC)
    flags = mo.MS_NOSUID | mo.MS_NODEV | mo.MS_NOEXEC
    hostsys.mount("pysandbox-sandbox-root", scaffold, "tmpfs", flags, "mode=0555")
    os.mkdir(os.path.join(scaffold, "proc"), 0o555)
    proc = os.path.join(scaffold, "proc")
    hostsys.mount("/proc", proc, None, mo.MS_BIND | mo.MS_REC)
    hostsys.mount(None, proc, None, mo.MS_BIND | mo.MS_REMOUNT | mo.MS_RDONLY | flags)
    hostsys.mount(None, scaffold, None, mo.MS_REMOUNT | mo.MS_RDONLY | flags)
    os.chdir(scaffold)
    hostsys.pivot_root(".", ".")
    hostsys.umount2(".", hostsys.MNT_DETACH)
    os.chdir("/")


def validate_open_fds(allowed: list[int]) -> None:
    """Fail if a directory FD other than the donated container roots is open.

    Runs before the Sentry is built: from then on every directory FD it
    opens is walked beneath those roots (openat2 RESOLVE_BENEATH).
    """
    keep = set(allowed)
    fd_dir = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        names = os.listdir(fd_dir)
    finally:
        os.close(fd_dir)
    for name in names:
        fd = int(name)
        if fd in keep:
            continue
        try:
            st = os.fstat(fd)
        except OSError:
            continue  # the FD of the listing itself, now closed
        if stat.S_ISDIR(st.st_mode):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                target = "?"
            raise RuntimeFailure(f"FD {fd} is an open directory ({target}): not allowed")


def unmount_proc() -> None:
    """Remove /proc and prove it is gone (seed ``umountProc``)."""
    hostsys.umount2("/proc", hostsys.MNT_DETACH)
    try:
        os.stat("/proc/self")
    except FileNotFoundError:
        return
    raise RuntimeFailure("/proc is still reachable after unmounting it")


def drop_capabilities(keep: tuple[str, ...] = BOOT_CAPS) -> None:
    """Keep only ``keep`` in every capability set of this thread."""
    capabilities.reduce_to(keep)


def set_fd_limit(limit: int = FD_LIMIT) -> None:
    """RLIMIT_NOFILE of the sandbox process; EPERM only warns (seed)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)  # raising it would need CAP_SYS_RESOURCE
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    except (OSError, ValueError) as exc:
        if isinstance(exc, OSError) and exc.errno != errno.EPERM:
            raise
        log.warning("cannot set RLIMIT_NOFILE to %d: %s", limit, exc)
