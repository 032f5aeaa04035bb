"""Implements Linux syscalls execve(2) and execveat(2) (fs/exec.c)."""

from __future__ import annotations

import struct

from sentry.abi import sysno
from sentry.abi.errors import E2BIG, EACCES, EFAULT, EINVAL, ELOOP, ENAMETOOLONG, ENOENT
from sentry.abi.mm import PAGE_SIZE
from sentry.kernel import SyscallArgs, Task
from sentry.kernel.exec import exec_into
from sentry.syscalls._fileargs import start_dir
from sentry.syscalls._util import s32
from sentry.syscalls.table import Support, syscall
from sentry.vfs import FSContext
from sentry.vfs.flags import AT_FDCWD

PATH_MAX = 4096
#: include/uapi/linux/binfmts.h MAX_ARG_STRLEN and MAX_ARG_STRINGS
MAX_ARG_STRLEN = 32 * 4096
MAX_ARG_STRINGS = 0x7FFFFFFF


def _strings(t: Task, addr: int) -> list[bytes]:
    """A NULL-terminated array of string pointers (NULL itself is empty).

    The pointers are read a page's worth at a time (up to the end of the
    page holding the next one, so nothing past the terminating NULL's page
    is touched): one copy-in for a usual environment, not one per entry;
    the strings then under one lock, each page looked up once."""
    ptrs: list[int] = []
    if not addr:
        return []
    pos = addr
    done = False
    while not done:
        in_page = PAGE_SIZE - (pos & (PAGE_SIZE - 1))
        count = max(1, in_page // 8)
        for (ptr,) in struct.iter_unpack("<Q", t.mm.copy_in(pos, 8 * count)):
            if not ptr:
                done = True
                break
            if len(ptrs) >= MAX_ARG_STRINGS:
                raise E2BIG
            ptrs.append(ptr)
        pos += 8 * count
    try:
        return t.mm.copy_in_strings(ptrs, MAX_ARG_STRLEN)
    except ENAMETOOLONG as exc:
        raise E2BIG from exc


@syscall(
    sysno.EXECVE,
    "execve",
    Support.PARTIAL,
    "no set-id binaries; from a thread the others are killed and the caller takes the pid",
)
def sys_execve(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall execve(2): on success the caller runs the new program."""
    if not args[0]:
        raise EFAULT
    filename = t.mm.copy_in_string(args[0], PATH_MAX)
    argv = _strings(t, args[1])
    envp = _strings(t, args[2])
    exec_into(t, filename, argv, envp)
    return 0


AT_SYMLINK_NOFOLLOW = 0x100
AT_EMPTY_PATH = 0x1000


@syscall(
    sysno.EXECVEAT,
    "execveat",
    Support.PARTIAL,
    "AT_EMPTY_PATH execs the descriptor's file by its path name (fexecve)",
)
def sys_execveat(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall execveat(2): like execve, with the path
    relative to ``dirfd``; AT_EMPTY_PATH runs the file ``dirfd`` refers to;
    AT_SYMLINK_NOFOLLOW refuses a final symbolic link with ELOOP."""
    dirfd, path_addr, flags = s32(args[0]), args[1], args[4] & 0xFFFFFFFF
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise EINVAL
    if not path_addr:
        raise EFAULT
    path = t.mm.copy_in_string(path_addr, PATH_MAX)
    argv = _strings(t, args[2])
    envp = _strings(t, args[3])
    fs = None
    if not path:
        if not flags & AT_EMPTY_PATH:
            raise ENOENT
        if dirfd == AT_FDCWD:
            raise EACCES  # the cwd is a directory: not executable
        path = t.fd_table.get(dirfd).path_name().encode()
    else:
        start = start_dir(t, dirfd, path)
        if start is not None:
            fs = FSContext(t.fs.root, start)
        if flags & AT_SYMLINK_NOFOLLOW:
            vd = t.kernel.vfs.resolve(fs or t.fs, path, t.creds, follow=False)
            if vd.inode.stat().is_symlink():
                raise ELOOP
    exec_into(t, path, argv, envp, fs=fs)
    return 0
