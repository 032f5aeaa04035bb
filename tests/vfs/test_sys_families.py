"""The fd, path, attribute, cwd and directory handlers with a fake task."""

from __future__ import annotations

import errno
import os
import struct

import sentry.syscalls.sys_cwd
import sentry.syscalls.sys_fd
import sentry.syscalls.sys_file
import sentry.syscalls.sys_file_attr
import sentry.syscalls.sys_path
import sentry.syscalls.sys_read_write
import sentry.syscalls.sys_stat  # noqa: F401
from sentry.syscalls.table import TABLE
from sentry.vfs.flags import AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW
from tests.vfs.fakes import FakeCreds
from tests.vfs.sysutil import make_task, sc


def creat(t, path: str, data: bytes = b"", mode: int = 0o644) -> int:
    fd = sc(t, "openat", AT_FDCWD, t.mm.cstr(path), os.O_CREAT | os.O_RDWR | os.O_TRUNC, mode)
    assert fd >= 0, fd
    if data:
        assert sc(t, "write", fd, t.mm.alloc(data), len(data)) == len(data)
    return fd


def test_every_handler_documents_itself():
    for e in TABLE.values():
        if e.handler is not None and e.handler.__module__.startswith("sentry.syscalls.sys_"):
            assert (e.handler.__doc__ or "").startswith(f"Implements Linux syscall {e.name}("), (
                e.name
            )


def test_dup_family_and_fcntl():
    t = make_task()
    fd = creat(t, "/f", b"0123456789")
    assert sc(t, "dup", fd) == 1
    assert sc(t, "dup2", fd, 5) == 5
    assert sc(t, "dup2", fd, fd) == fd
    assert sc(t, "dup2", 9, 3) == -errno.EBADF
    assert sc(t, "dup3", fd, fd, 0) == -errno.EINVAL
    assert sc(t, "dup3", fd, 6, 0x1) == -errno.EINVAL
    assert sc(t, "dup3", fd, 6, os.O_CLOEXEC) == 6
    assert sc(t, "fcntl", 6, 1) == 1  # F_GETFD -> FD_CLOEXEC
    assert sc(t, "fcntl", 6, 2, 0) == 0
    assert sc(t, "fcntl", 6, 1) == 0
    assert sc(t, "fcntl", fd, 0, 10) == 10  # F_DUPFD
    assert sc(t, "fcntl", fd, 1030, 10) == 11  # F_DUPFD_CLOEXEC
    assert sc(t, "fcntl", 11, 1) == 1
    fl = sc(t, "fcntl", fd, 3)
    assert fl & os.O_ACCMODE == os.O_RDWR and fl & 0o100000
    assert sc(t, "fcntl", fd, 4, os.O_APPEND | os.O_RDONLY) == 0
    assert sc(t, "fcntl", fd, 3) & os.O_APPEND and sc(t, "fcntl", fd, 3) & 3 == os.O_RDWR
    assert sc(t, "fcntl", fd, 9999) == -errno.EINVAL
    # Offsets are shared between duplicates.
    assert sc(t, "lseek", fd, 2, 0) == 2
    assert sc(t, "lseek", 1, 0, 1) == 2
    assert sc(t, "lseek", fd, -5, 0) == -errno.EINVAL
    assert sc(t, "lseek", fd, 0, 9) == -errno.EINVAL
    assert sc(t, "lseek", fd, 0, 2) == 10
    lk = t.mm.alloc(struct.pack("<hhqqi4x", 1, 0, 0, 0, 0))
    assert sc(t, "fcntl", fd, 6, lk) == 0
    assert sc(t, "fcntl", fd, 5, lk) == 0
    assert struct.unpack_from("<h", t.mm.copy_in(lk, 2))[0] == 2  # F_UNLCK


def test_ioctl():
    t = make_task()
    fd = creat(t, "/f", b"abcdef")
    sc(t, "lseek", fd, 2, 0)
    out = t.mm.alloc(4)
    assert sc(t, "ioctl", fd, 0x541B, out) == 0
    assert struct.unpack("<i", t.mm.copy_in(out, 4))[0] == 4
    assert sc(t, "ioctl", fd, 0x5451) == 0 and sc(t, "fcntl", fd, 1) == 1
    assert sc(t, "ioctl", fd, 0x5450) == 0 and sc(t, "fcntl", fd, 1) == 0
    assert sc(t, "ioctl", fd, 0x5401, out) == -errno.ENOTTY
    assert sc(t, "ioctl", 77, 0x5401, out) == -errno.EBADF


def test_vectored_io_and_truncate():
    t = make_task()
    fd = creat(t, "/f")
    a, b = t.mm.alloc(b"hello "), t.mm.alloc(b"world")
    iov = t.mm.alloc(struct.pack("<QQQQ", a, 6, b, 5))
    assert sc(t, "writev", fd, iov, 2) == 11
    assert sc(t, "writev", fd, iov, 1025) == -errno.EINVAL
    r1, r2 = t.mm.alloc(3), t.mm.alloc(20)
    riov = t.mm.alloc(struct.pack("<QQQQ", r1, 3, r2, 20))
    assert sc(t, "preadv", fd, riov, 2, 0) == 11
    assert t.mm.copy_in(r1, 3) == b"hel" and t.mm.copy_in(r2, 8) == b"lo world"
    assert sc(t, "ftruncate", fd, 4) == 0
    assert sc(t, "fstat", fd, t.mm.alloc(144)) == 0
    assert sc(t, "ftruncate", fd, -1) == -errno.EINVAL
    assert sc(t, "truncate", t.mm.cstr("/f"), 2) == 0
    ro = sc(t, "openat", AT_FDCWD, t.mm.cstr("/f"), os.O_RDONLY, 0)
    assert sc(t, "ftruncate", ro, 0) == -errno.EINVAL
    assert sc(t, "pread64", ro, r2, 20, 0) == 2
    assert sc(t, "pwrite64", ro, r2, 1, 0) == -errno.EBADF
    assert sc(t, "fallocate", fd, 0, 0, 100) == 0
    st = t.mm.alloc(144)
    sc(t, "fstat", fd, st)
    assert struct.unpack_from("<q", t.mm.copy_in(st + 48, 8))[0] == 100


def test_append_and_sendfile():
    t = make_task()
    fd = creat(t, "/f", b"abc")
    afd = sc(t, "openat", AT_FDCWD, t.mm.cstr("/f"), os.O_WRONLY | os.O_APPEND, 0)
    assert sc(t, "write", afd, t.mm.alloc(b"def"), 3) == 3
    out = creat(t, "/g")
    sc(t, "lseek", fd, 0, 0)
    assert sc(t, "sendfile", out, fd, 0, 100) == 6
    buf = t.mm.alloc(10)
    assert sc(t, "pread64", out, buf, 10, 0) == 6
    assert t.mm.copy_in(buf, 6) == b"abcdef"


def test_path_operations_and_errors():
    t = make_task()
    assert sc(t, "mkdir", t.mm.cstr("/d"), 0o755) == 0
    assert sc(t, "mkdir", t.mm.cstr("/d"), 0o755) == -errno.EEXIST
    assert sc(t, "mkdir", t.mm.cstr("/x/y"), 0o755) == -errno.ENOENT
    dfd = sc(t, "openat", AT_FDCWD, t.mm.cstr("/d"), os.O_RDONLY | os.O_DIRECTORY, 0)
    assert sc(t, "mkdirat", dfd, t.mm.cstr("sub"), 0o700) == 0
    creat(t, "/d/f", b"x")
    assert sc(t, "rmdir", t.mm.cstr("/d")) == -errno.ENOTEMPTY
    assert sc(t, "rmdir", t.mm.cstr("/d/f")) == -errno.ENOTDIR
    assert sc(t, "unlink", t.mm.cstr("/d/sub")) == -errno.EISDIR
    assert sc(t, "unlink", t.mm.cstr("/d/f/")) == -errno.ENOTDIR
    assert sc(t, "rmdir", t.mm.cstr("/d/.")) == -errno.EINVAL
    assert sc(t, "symlinkat", t.mm.cstr("f"), dfd, t.mm.cstr("ln")) == 0
    assert sc(t, "symlink", t.mm.cstr("x"), t.mm.cstr("/d/ln")) == -errno.EEXIST
    buf = t.mm.alloc(64)
    assert sc(t, "readlink", t.mm.cstr("/d/ln"), buf, 64) == 1
    assert t.mm.copy_in(buf, 1) == b"f"
    assert sc(t, "readlink", t.mm.cstr("/d/f"), buf, 64) == -errno.EINVAL
    assert sc(t, "readlinkat", dfd, t.mm.cstr("ln"), buf, 0) == -errno.EINVAL
    assert sc(t, "link", t.mm.cstr("/d/f"), t.mm.cstr("/d/hard")) == 0
    assert sc(t, "link", t.mm.cstr("/d"), t.mm.cstr("/d2")) == -errno.EPERM
    assert sc(t, "rename", t.mm.cstr("/d/hard"), t.mm.cstr("/d/renamed")) == 0
    assert sc(t, "rename", t.mm.cstr("/d"), t.mm.cstr("/d/sub/inside")) == -errno.EINVAL
    assert (
        sc(t, "renameat2", AT_FDCWD, t.mm.cstr("/d/f"), AT_FDCWD, t.mm.cstr("/d/renamed"), 1)
        == -errno.EEXIST
    )
    assert sc(t, "rename", t.mm.cstr("/d/f"), t.mm.cstr("/d/sub")) == -errno.EISDIR
    assert sc(t, "unlinkat", dfd, t.mm.cstr("ln"), 0) == 0
    assert sc(t, "unlinkat", dfd, t.mm.cstr("sub"), AT_REMOVEDIR) == 0
    assert sc(t, "unlinkat", dfd, t.mm.cstr("sub"), 0x1) == -errno.EINVAL
    assert sc(t, "mknod", t.mm.cstr("/d/reg"), 0o100644, 0) == 0
    # FIFOs are created (Sentry pipes); device nodes are still refused.
    assert sc(t, "mknod", t.mm.cstr("/d/fifo"), 0o010644, 0) == 0
    assert sc(t, "mknod", t.mm.cstr("/d/chr"), 0o020644, 0x103) == -errno.EPERM
    for loop in range(2):
        sc(t, "symlink", t.mm.cstr(f"/loop{1 - loop}"), t.mm.cstr(f"/loop{loop}"))
    assert sc(t, "openat", AT_FDCWD, t.mm.cstr("/loop0"), 0, 0) == -errno.ELOOP
    assert sc(t, "openat", AT_FDCWD, t.mm.cstr("/d/ln2"), os.O_NOFOLLOW, 0) == -errno.ENOENT
    sc(t, "symlink", t.mm.cstr("f"), t.mm.cstr("/d/ln2"))
    assert sc(t, "openat", AT_FDCWD, t.mm.cstr("/d/ln2"), os.O_NOFOLLOW, 0) == -errno.ELOOP
    assert sc(t, "openat", AT_FDCWD, t.mm.cstr("/d/ln2"), os.O_NOFOLLOW | os.O_PATH, 0) >= 0


def test_attributes_and_access():
    t = make_task()
    creat(t, "/f", b"", 0o600)
    assert sc(t, "chmod", t.mm.cstr("/f"), 0o751) == 0
    st = t.mm.alloc(144)
    sc(t, "stat", t.mm.cstr("/f"), st)
    assert struct.unpack_from("<I", t.mm.copy_in(st + 24, 4))[0] == 0o100751
    assert sc(t, "chown", t.mm.cstr("/f"), 1000, 1000) == 0
    assert sc(t, "fchownat", AT_FDCWD, t.mm.cstr("/f"), -1, 50, AT_SYMLINK_NOFOLLOW) == 0
    sc(t, "stat", t.mm.cstr("/f"), st)
    assert struct.unpack_from("<II", t.mm.copy_in(st + 28, 8)) == (1000, 50)
    times = t.mm.alloc(struct.pack("<qqqq", 100, 5, 200, (1 << 30) - 2))
    assert sc(t, "utimensat", AT_FDCWD, t.mm.cstr("/f"), times, 0) == 0
    sc(t, "stat", t.mm.cstr("/f"), st)
    assert struct.unpack_from("<qq", t.mm.copy_in(st + 72, 16)) == (100, 5)
    bad = t.mm.alloc(struct.pack("<qqqq", 0, 2_000_000_000, 0, 0))
    assert sc(t, "utimensat", AT_FDCWD, t.mm.cstr("/f"), bad, 0) == -errno.EINVAL
    assert sc(t, "access", t.mm.cstr("/f"), os.X_OK) == 0
    assert sc(t, "access", t.mm.cstr("/nope"), os.F_OK) == -errno.ENOENT
    assert sc(t, "access", t.mm.cstr("/f"), 8) == -errno.EINVAL
    user = make_task(FakeCreds(uid=1000, gid=1000))
    user.kernel, user.fs = t.kernel, t.fs
    assert sc(user, "access", user.mm.cstr("/f"), os.R_OK) == 0  # owner now, r bit of 0751
    assert sc(user, "faccessat2", AT_FDCWD, user.mm.cstr("/f"), os.W_OK, 0) == 0
    assert sc(t, "chmod", t.mm.cstr("/f"), 0o551) == 0
    assert sc(user, "faccessat2", AT_FDCWD, user.mm.cstr("/f"), os.W_OK, 0) == -errno.EACCES
    assert sc(user, "chmod", user.mm.cstr("/"), 0o777) == -errno.EPERM


def test_cwd_umask_getdents():
    t = make_task()
    sc(t, "mkdir", t.mm.cstr("/a"), 0o755)
    sc(t, "mkdir", t.mm.cstr("/a/b"), 0o755)
    assert sc(t, "chdir", t.mm.cstr("/a/b")) == 0
    buf = t.mm.alloc(64)
    assert sc(t, "getcwd", buf, 64) == 5
    assert t.mm.copy_in(buf, 5) == b"/a/b\0"
    assert sc(t, "getcwd", buf, 3) == -errno.ERANGE
    creat(t, "rel", b"")
    assert sc(t, "chdir", t.mm.cstr("rel")) == -errno.ENOTDIR
    fd = sc(t, "openat", AT_FDCWD, t.mm.cstr(".."), os.O_RDONLY | os.O_DIRECTORY, 0)
    assert sc(t, "fchdir", fd) == 0
    assert sc(t, "getcwd", buf, 64) == 3
    assert sc(t, "umask", 0o077) == 0o022
    assert sc(t, "umask", 0o022) == 0o077
    dents = t.mm.alloc(4096)
    n = sc(t, "getdents64", fd, dents, 4096)
    raw = t.mm.copy_in(dents, n)
    names, off = [], 0
    while off < n:
        _ino, _doff, reclen, _typ = struct.unpack_from("<QqHB", raw, off)
        names.append(raw[off + 19 : off + reclen].split(b"\0")[0])
        off += reclen
    assert sorted(names) == [b".", b"..", b"b"]
    assert sc(t, "getdents64", fd, dents, 4096) == 0
    assert sc(t, "lseek", fd, 0, 0) == 0
    assert sc(t, "getdents64", fd, dents, 10) == -errno.EINVAL
    assert sc(t, "getdents", fd, dents, 4096) > 0
    assert (
        sc(t, "getdents64", sc(t, "openat", AT_FDCWD, t.mm.cstr("/a/b/rel"), 0, 0), dents, 4096)
        == -errno.ENOTDIR
    )


def test_statx_statfs_close_range():
    t = make_task()
    fd = creat(t, "/f", b"12345")
    sx = t.mm.alloc(256)
    assert sc(t, "statx", AT_FDCWD, t.mm.cstr("/f"), 0, 0x7FF, sx) == 0
    assert struct.unpack_from("<Q", t.mm.copy_in(sx + 40, 8))[0] == 5
    assert sc(t, "statx", AT_FDCWD, t.mm.cstr("/f"), 0x6000, 0x7FF, sx) == -errno.EINVAL
    sf = t.mm.alloc(120)
    assert sc(t, "statfs", t.mm.cstr("/"), sf) == 0
    assert struct.unpack_from("<q", t.mm.copy_in(sf, 8))[0] == 0x01021994
    assert sc(t, "fstatfs", fd, sf) == 0
    sc(t, "dup2", fd, 10)
    assert sc(t, "close_range", 1, 20, 4) == 0  # CLOEXEC
    assert sc(t, "fcntl", 10, 1) == 1
    assert sc(t, "close_range", 0, 20, 0) == 0
    assert sc(t, "close", fd) == -errno.EBADF
    assert sc(t, "close_range", 5, 1, 0) == -errno.EINVAL


def test_xattrs_are_unsupported_after_resolution():
    import sentry.syscalls.sys_xattr  # noqa: F401

    t = make_task()
    creat(t, "/f")
    name = t.mm.cstr("user.x")
    buf = t.mm.alloc(16)
    assert sc(t, "getxattr", t.mm.cstr("/f"), name, buf, 16) == -errno.EOPNOTSUPP
    assert sc(t, "getxattr", t.mm.cstr("/missing"), name, buf, 16) == -errno.ENOENT
    assert sc(t, "lgetxattr", t.mm.cstr("/f"), t.mm.cstr(""), buf, 16) == -errno.ERANGE
    assert sc(t, "setxattr", t.mm.cstr("/f"), name, buf, 1, 0x4) == -errno.EINVAL
    assert sc(t, "fsetxattr", 99, name, buf, 1, 0) == -errno.EBADF
    assert sc(t, "listxattr", t.mm.cstr("/f"), buf, 16) == 0
    assert (
        sc(t, "getxattr", t.mm.cstr("/f"), t.mm.alloc(b"a" * 300 + b"\0"), buf, 16) == -errno.ERANGE
    )


def test_memfd_flock_and_hints():
    import sentry.syscalls.sys_memfd
    import sentry.syscalls.sys_sync  # noqa: F401

    t = make_task()
    fd = sc(t, "memfd_create", t.mm.cstr("buf"), 1)
    assert fd >= 0 and sc(t, "fcntl", fd, 1) == 1
    assert sc(t, "write", fd, t.mm.alloc(b"abc"), 3) == 3
    assert t.fd_table.get(fd).path_name() == "/memfd:buf (deleted)"
    assert t.fd_table.get(fd).mappable().read_at(0, 3) == b"abc"
    assert sc(t, "memfd_create", t.mm.cstr("x"), 0x4) == -errno.EINVAL
    assert sc(t, "memfd_create", t.mm.alloc(b"n" * 260 + b"\0"), 0) == -errno.EINVAL
    assert sc(t, "flock", fd, 2) == 0
    assert sc(t, "flock", fd, 3) == -errno.EINVAL
    assert sc(t, "flock", 77, 2) == -errno.EBADF
    assert sc(t, "fadvise64", fd, 0, 0, 2) == 0
    assert sc(t, "fadvise64", fd, 0, 0, 9) == -errno.EINVAL
    assert sc(t, "fadvise64", fd, 0, -1, 0) == -errno.EINVAL
    assert sc(t, "sync") == 0
    assert sc(t, "syncfs", 77) == -errno.EBADF
