"""open/read/write/close/fstat/newfstatat through the handlers with a fake task."""

from __future__ import annotations

import errno
import os
import struct

import sentry.syscalls.sys_file
import sentry.syscalls.sys_read_write
import sentry.syscalls.sys_stat  # noqa: F401 - registers handlers
from sentry.vfs.flags import AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW
from tests.vfs.sysutil import make_task, sc


def test_open_write_read_roundtrip():
    t = make_task()
    path = t.mm.cstr("/f")
    fd = sc(t, "openat", AT_FDCWD, path, os.O_CREAT | os.O_RDWR, 0o640)
    assert fd == 0
    buf = t.mm.alloc(b"hello world")
    assert sc(t, "write", fd, buf, 11) == 11
    out = t.mm.alloc(64)
    assert sc(t, "pread64", fd, out, 64, 6) == 5
    assert t.mm.copy_in(out, 5) == b"world"
    st = t.mm.alloc(144)
    assert sc(t, "fstat", fd, st) == 0
    (mode,) = struct.unpack_from("<I", t.mm.copy_in(st + 24, 4))
    (size,) = struct.unpack_from("<q", t.mm.copy_in(st + 48, 8))
    assert mode == 0o100640 - 0o000  # umask 022 leaves 0640
    assert size == 11
    assert sc(t, "close", fd) == 0
    assert sc(t, "close", fd) == -errno.EBADF


def test_error_paths():
    t = make_task()
    assert sc(t, "read", 5, t.mm.alloc(8), 8) == -errno.EBADF
    assert sc(t, "openat", AT_FDCWD, 0x1, 0, 0) == -errno.EFAULT
    assert sc(t, "openat", AT_FDCWD, t.mm.cstr("/nope"), 0, 0) == -errno.ENOENT
    assert sc(t, "openat", AT_FDCWD, t.mm.cstr(""), 0, 0) == -errno.ENOENT
    fd = sc(t, "openat", AT_FDCWD, t.mm.cstr("/f"), os.O_CREAT | os.O_WRONLY, 0o644)
    assert (
        sc(t, "openat", AT_FDCWD, t.mm.cstr("/f"), os.O_CREAT | os.O_EXCL, 0o644) == -errno.EEXIST
    )
    assert sc(t, "openat", AT_FDCWD, t.mm.cstr("/f/x"), 0, 0) == -errno.ENOTDIR
    assert sc(t, "openat", AT_FDCWD, t.mm.cstr("/"), os.O_WRONLY, 0) == -errno.EISDIR
    assert sc(t, "read", fd, t.mm.alloc(8), 8) == -errno.EBADF  # write-only
    assert sc(t, "write", fd, 0x1, 4) == -errno.EFAULT
    assert (
        sc(t, "openat", AT_FDCWD, t.mm.cstr("/f"), os.O_RDONLY | os.O_DIRECTORY, 0)
        == -errno.ENOTDIR
    )
    long = t.mm.alloc(b"a" * 5000)  # no NUL within PATH_MAX
    assert sc(t, "openat", AT_FDCWD, long, 0, 0) == -errno.ENAMETOOLONG
    dirfd = sc(t, "openat", AT_FDCWD, t.mm.cstr("/f"), os.O_RDONLY, 0)
    assert sc(t, "openat", dirfd, t.mm.cstr("x"), 0, 0) == -errno.ENOTDIR


def test_newfstatat_flags():
    t = make_task()
    fd = sc(t, "openat", AT_FDCWD, t.mm.cstr("/f"), os.O_CREAT | os.O_WRONLY, 0o600)
    st = t.mm.alloc(144)
    assert sc(t, "newfstatat", fd, t.mm.cstr(""), st, AT_EMPTY_PATH) == 0
    assert sc(t, "newfstatat", fd, t.mm.cstr(""), st, 0) == -errno.ENOENT
    assert sc(t, "newfstatat", AT_FDCWD, t.mm.cstr("/f"), st, 0x8000) == -errno.EINVAL
    assert sc(t, "newfstatat", AT_FDCWD, t.mm.cstr("/f"), 0x1, 0) == -errno.EFAULT
    os_sym = t.kernel.vfs
    os_sym.symlink(t.fs, b"/f", None, b"/l", t.creds)
    assert sc(t, "newfstatat", AT_FDCWD, t.mm.cstr("/l"), st, AT_SYMLINK_NOFOLLOW) == 0
    (mode,) = struct.unpack_from("<I", t.mm.copy_in(st + 24, 4))
    assert mode & 0o170000 == 0o120000
