"""Host system calls the runtime needs that Python 3.11's ``os`` lacks.

mount(2), umount2(2), unshare(2), pivot_root(2), capset(2)/capget(2),
prctl(2) and statfs(2), through ctypes on libc. This is the runtime's only
foreign-function module (the Sentry has its own in ``sentry/hostsys``, which
the host side must not import); nothing else here touches raw memory.
Errors become ``OSError`` with the errno, like ``os`` functions.
"""

from __future__ import annotations

import ctypes
import os

# glibc's soname on every Linux we run on; ctypes.util.find_library would
# run ldconfig in a subprocess (tens of ms of every process start-up).
_libc = ctypes.CDLL("libc.so.6", use_errno=True)

# arch/x86/entry/syscalls/syscall_64.tbl and include/uapi/asm-generic/unistd.h
_SYSCALLS = {
    "x86_64": {"pivot_root": 155, "capget": 125, "capset": 126},
    "aarch64": {"pivot_root": 41, "capget": 90, "capset": 91},
}

# include/uapi/linux/sched.h
CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# include/uapi/linux/mount.h (umount2 flags)
MNT_DETACH = 0x2

# include/uapi/linux/prctl.h
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

# include/uapi/linux/magic.h
OVERLAYFS_SUPER_MAGIC = 0x794C7630
NFS_SUPER_MAGIC = 0x6969
TMPFS_MAGIC = 0x01021994

_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def _check(result: int, what: str, path: str | None = None) -> int:
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", path)
    return result


def _b(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    """mount(2)."""
    _check(
        _libc.mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data or None)),
        "mount",
        target,
    )


def umount2(target: str, flags: int = 0) -> None:
    """umount2(2)."""
    _check(_libc.umount2(_b(target), ctypes.c_int(flags)), "umount2", target)


def unshare(flags: int) -> None:
    """unshare(2). CLONE_NEWNS fails with EINVAL in a process that shares its
    fs_struct with other threads, so call it before starting any."""
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def _syscall(name: str, *args: object) -> int:
    number = _SYSCALLS[os.uname().machine][name]
    return int(_libc.syscall(ctypes.c_long(number), *args))


def pivot_root(new_root: str, put_old: str) -> None:
    """pivot_root(2)."""
    _check(_syscall("pivot_root", _b(new_root), _b(put_old)), "pivot_root", new_root)


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """prctl(2)."""
    return _check(
        _libc.prctl(
            ctypes.c_int(option),
            ctypes.c_ulong(arg2),
            ctypes.c_ulong(arg3),
            ctypes.c_ulong(arg4),
            ctypes.c_ulong(arg5),
        ),
        "prctl",
    )


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


def capget() -> tuple[int, int, int]:
    """(effective, permitted, inheritable) masks of this thread (capget(2))."""
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_syscall("capget", ctypes.byref(hdr), data), "capget")
    return tuple(
        getattr(data[0], f) | (getattr(data[1], f) << 32)
        for f in ("effective", "permitted", "inheritable")
    )


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set this thread's capability sets (capset(2), version 3: 64 bits)."""
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in (0, 1):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    _check(_syscall("capset", ctypes.byref(hdr), data), "capset")


def statfs_type(path: str) -> int:
    """``f_type`` of statfs(2): which file system holds ``path``."""
    buf = ctypes.create_string_buffer(256)  # struct statfs is 120 bytes on x86_64
    _check(_libc.statfs(_b(path), buf), "statfs", path)
    return ctypes.c_long.from_buffer(buf).value


def setns(fd: int, nstype: int) -> None:
    """setns(2): move the calling thread into the namespace ``fd`` names.

    Only this thread moves; threads it starts later inherit the namespace,
    so call it before any exist.
    """
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")
