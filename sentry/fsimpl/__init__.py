"""Concrete file systems: gofer-backed (directfs), tmpfs, devfs, procfs, sysfs, host FDs.

Each implements ``sentry.vfs.inode`` (Filesystem/Inode/FileImpl). Host
``OSError`` is translated to Linux errors here, at the host boundary, with
``sentry.abi.errors.from_oserror``. ``setup_root`` builds a sandbox's mounts.
"""

from sentry.fsimpl.setup import setup_root

__all__ = ["setup_root"]
