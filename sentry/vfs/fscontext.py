"""A task's file system context: root, working directory, umask (Linux ``fs_struct``)."""

from __future__ import annotations

import threading

from sentry.vfs.mount import VirtualDentry


class FSContext:
    """Root, cwd and umask, shared by tasks cloned with CLONE_FS."""

    def __init__(self, root: VirtualDentry, cwd: VirtualDentry, umask: int = 0o022) -> None:
        self._lock = threading.Lock()
        self.root = root
        self.cwd = cwd
        self.umask = umask & 0o777

    def fork(self) -> FSContext:
        """A copy for a child created without CLONE_FS."""
        with self._lock:
            return FSContext(self.root, self.cwd, self.umask)

    def set_cwd(self, vd: VirtualDentry) -> None:
        with self._lock:
            self.cwd = vd

    def set_root(self, vd: VirtualDentry) -> None:
        with self._lock:
            self.root = vd

    def swap_umask(self, mask: int) -> int:
        """Set the umask and return the old one (umask(2))."""
        with self._lock:
            old, self.umask = self.umask, mask & 0o777
            return old
