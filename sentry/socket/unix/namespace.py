"""Where bound Unix sockets are found: the abstract names of a sandbox and
the socket files of its file systems (net/unix/af_unix.c unix_table and
the inode -> socket link of unix_find_bsd).

A path-bound socket is a socket file created in the Sentry's VFS (tmpfs or
the gofer-backed root) plus an entry keyed by that file's identity (device,
inode); connect resolves the path and looks the identity up. The entry
goes when the socket closes, so a stale socket file refuses connections
(ECONNREFUSED) as on Linux.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from sentry.abi.errors import EADDRINUSE

_namespaces: weakref.WeakKeyDictionary[Any, UnixNamespace] = weakref.WeakKeyDictionary()
_namespaces_lock = threading.Lock()


class UnixNamespace:
    """The bound names of one sandbox (one network namespace)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.abstract: dict[bytes, Any] = {}
        self.paths: dict[tuple[int, int], Any] = {}
        self._autobind = 0

    def bind_abstract(self, name: bytes, endpoint: Any) -> None:
        with self.lock:
            if name in self.abstract:
                raise EADDRINUSE
            self.abstract[name] = endpoint

    def autobind(self, endpoint: Any) -> bytes:
        """A fresh abstract name: five hex digits (unix_autobind)."""
        with self.lock:
            while True:
                self._autobind = (self._autobind + 1) & 0xFFFFF
                name = b"%05x" % self._autobind
                if name not in self.abstract:
                    self.abstract[name] = endpoint
                    return name

    def bind_path(self, key: tuple[int, int], endpoint: Any) -> None:
        with self.lock:
            self.paths[key] = endpoint

    def unbind(
        self, abstract: bool, name: bytes, key: tuple[int, int] | None, endpoint: Any
    ) -> None:
        with self.lock:
            if abstract:
                if self.abstract.get(name) is endpoint:
                    del self.abstract[name]
            elif key is not None and self.paths.get(key) is endpoint:
                del self.paths[key]

    def find_abstract(self, name: bytes) -> Any | None:
        with self.lock:
            return self.abstract.get(name)

    def find_path(self, key: tuple[int, int]) -> Any | None:
        with self.lock:
            return self.paths.get(key)


def namespace_of(kernel: Any) -> UnixNamespace:
    """The Unix socket namespace of ``kernel`` (made on first use)."""
    with _namespaces_lock:
        ns = _namespaces.get(kernel)
        if ns is None:
            ns = _namespaces[kernel] = UnixNamespace()
        return ns
