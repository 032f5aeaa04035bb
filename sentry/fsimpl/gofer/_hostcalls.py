"""Host system calls Python's ``os`` module lacks, for directfs.

openat2 comes from ``sentry.hostsys.fs`` (cffi). renameat2 and the
AT_EMPTY_PATH forms of fchownat/utimensat/fchmodat2 (which act on O_PATH FDs)
are not in hostsys yet and are bound here with ctypes (the call releases the
GIL); they should move into ``sentry/hostsys`` (the platform helper's cffi
module). Errors come back as ``OSError`` for the caller to translate at its
host boundary.
"""

from __future__ import annotations

import ctypes
import os
import struct

from sentry.hostsys import fs as hostfs

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long

SYS_renameat2 = 316
SYS_fchmodat2 = 452

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08

AT_SYMLINK_NOFOLLOW = 0x100
AT_EMPTY_PATH = 0x1000


def _check(ret: int) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def openat2(dirfd: int, name: bytes, flags: int, mode: int, resolve: int) -> int:
    """openat2(2), through the platform's cffi binding (``sentry.hostsys.fs``)."""
    return hostfs.openat2(dirfd, name, flags, mode, resolve)


def renameat2(olddirfd: int, old: bytes, newdirfd: int, new: bytes, flags: int) -> None:
    """renameat2(2)."""
    _check(
        _syscall(
            ctypes.c_long(SYS_renameat2), ctypes.c_long(olddirfd), ctypes.c_char_p(old),
            ctypes.c_long(newdirfd), ctypes.c_char_p(new), ctypes.c_uint(flags),
        )
    )  # fmt: skip


def fchmod_path_fd(fd: int, mode: int) -> None:
    """fchmodat2(fd, "", mode, AT_EMPTY_PATH): chmod through an O_PATH FD (Linux 6.6+)."""
    _check(
        _syscall(
            ctypes.c_long(SYS_fchmodat2), ctypes.c_long(fd), ctypes.c_char_p(b""),
            ctypes.c_uint(mode), ctypes.c_int(AT_EMPTY_PATH),
        )
    )  # fmt: skip


def fchown_path_fd(fd: int, uid: int, gid: int) -> None:
    """fchownat(fd, "", uid, gid, AT_EMPTY_PATH|AT_SYMLINK_NOFOLLOW) on an O_PATH FD."""
    _check(
        _libc.fchownat(
            ctypes.c_int(fd), ctypes.c_char_p(b""), ctypes.c_uint(uid & 0xFFFFFFFF),
            ctypes.c_uint(gid & 0xFFFFFFFF), ctypes.c_int(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW),
        )
    )  # fmt: skip


UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2


def utimens_path_fd(fd: int, atime_ns: int | None, mtime_ns: int | None) -> None:
    """utimensat(fd, "", times, AT_EMPTY_PATH) on an O_PATH FD (None leaves a time)."""

    def ts(ns: int | None) -> tuple[int, int]:
        return (0, UTIME_OMIT) if ns is None else divmod(ns, 1_000_000_000)

    times = ctypes.create_string_buffer(struct.pack("<qqqq", *ts(atime_ns), *ts(mtime_ns)), 32)
    _check(
        _libc.utimensat(ctypes.c_int(fd), ctypes.c_char_p(b""), times, ctypes.c_int(AT_EMPTY_PATH))
    )
