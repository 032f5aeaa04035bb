"""openat2(2) with ``struct open_how`` (no glibc wrapper before 2.36 headers)."""

from __future__ import annotations

import os

from sentry.hostsys._lib import check, ffi, lib

RESOLVE_NO_XDEV: int = lib.RESOLVE_NO_XDEV
RESOLVE_NO_MAGICLINKS: int = lib.RESOLVE_NO_MAGICLINKS
RESOLVE_NO_SYMLINKS: int = lib.RESOLVE_NO_SYMLINKS
RESOLVE_BENEATH: int = lib.RESOLVE_BENEATH
RESOLVE_IN_ROOT: int = lib.RESOLVE_IN_ROOT
RESOLVE_CACHED: int = lib.RESOLVE_CACHED


def openat2(dirfd: int, path: str | bytes, flags: int, mode: int = 0, resolve: int = 0) -> int:
    """openat2(2): open ``path`` relative to ``dirfd`` under ``resolve`` restrictions.

    ``O_CLOEXEC`` is always added: the Sentry never leaks host descriptors.
    """
    raw = os.fsencode(path)
    if b"\0" in raw:
        raise ValueError("openat2: path contains NUL")
    how = ffi.new("struct open_how *")
    how.flags = flags | os.O_CLOEXEC
    how.mode = mode
    how.resolve = resolve
    return check(
        int(lib.pysb_openat2(dirfd, raw, how, ffi.sizeof("struct open_how"))),
        f"openat2({raw!r})",
    )
