"""Implements Linux syscalls poll(2), ppoll(2), select(2) and pselect6(2)
(fs/select.c)."""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

from sentry.abi import sysno
from sentry.abi.errors import EBADF, EINVAL, ERESTART_RESTARTBLOCK, ERESTARTNOHAND, LinuxError
from sentry.kernel import SyscallArgs, Task
from sentry.kernel.polling import poll_files
from sentry.syscalls._fileargs import nofile_limit
from sentry.syscalls._util import (
    NSEC_PER_SEC,
    TIMESPEC,
    TIMEVAL,
    ns_timespec,
    s32,
    timespec_ns,
    with_temporary_sigmask,
)
from sentry.syscalls.table import syscall
from sentry.vfs.file import FileDescription
from sentry.vfs.inode import POLLERR, POLLHUP, POLLIN, POLLOUT, POLLPRI, POLLRDNORM, POLLWRNORM

_POLLFD = struct.Struct("<ihh")
POLLRDBAND = 0x080
POLLWRBAND = 0x200
# fs/select.c: which poll events count for each select set.
POLLIN_SET = POLLRDNORM | POLLRDBAND | POLLIN | POLLHUP | POLLERR
POLLOUT_SET = POLLWRBAND | POLLWRNORM | POLLOUT | POLLERR
POLLEX_SET = POLLPRI
#: include/uapi/linux/posix_types.h __FD_SETSIZE (select on glibc), and
#: the kernel's own bound on nfds (fs/select.c: the open-files limit).


def _deadline(ns: int | None) -> float | None:
    return None if ns is None else time.monotonic() + ns / NSEC_PER_SEC


def _left_ns(deadline: float | None) -> int:
    if deadline is None:
        return 0
    return max(0, int((deadline - time.monotonic()) * NSEC_PER_SEC))


def _with_sigmask(t: Task, addr: int, size: int, body: Callable[[], int]) -> int:
    """``body`` under the caller's temporary mask; see ``with_temporary_sigmask``."""
    return with_temporary_sigmask(t, addr, size, body, ERESTARTNOHAND)


# -- poll ----------------------------------------------------------------------------
def _do_poll(
    t: Task, addr: int, nfds: int, deadline: float | None, interrupted: type[LinuxError]
) -> int:
    if nfds > nofile_limit(t):
        raise EINVAL  # fs/select.c do_sys_poll: RLIMIT_NOFILE
    raw = t.mm.copy_in(addr, nfds * _POLLFD.size) if nfds else b""
    entries = [_POLLFD.unpack_from(raw, i * _POLLFD.size) for i in range(nfds)]
    files: list[tuple[FileDescription | None, int]] = []
    index: list[int] = []  # which pollfd each watched file answers
    revents = [0] * nfds
    for i, (fd, events, _) in enumerate(entries):
        if fd < 0:
            continue
        try:
            desc: FileDescription | None = t.fd_table.get(fd)
        except EBADF:
            desc = None
        files.append((desc, events & 0xFFFF))
        index.append(i)
    if files:
        ready = poll_files(t, files, deadline, interrupted)
    else:
        _sleep_unless_interrupted(t, deadline, interrupted)
        ready = []
    count = 0
    for i, ev in zip(index, ready, strict=True):
        revents[i] = ev
        count += ev != 0
    out = b"".join(_POLLFD.pack(fd, ev, revents[i]) for i, (fd, ev, _) in enumerate(entries))
    if out:
        t.mm.copy_out(addr, out)
    return count


def _sleep_unless_interrupted(
    t: Task, deadline: float | None, interrupted: type[LinuxError]
) -> None:
    """poll/select with nothing to watch: a plain interruptible sleep."""
    while True:
        timeout = None if deadline is None else deadline - time.monotonic()
        if timeout is not None and timeout <= 0:
            return
        if t.block(timeout):
            raise interrupted


def _poll_restartable(t: Task, addr: int, nfds: int, deadline: float | None) -> int:
    try:
        return _do_poll(t, addr, nfds, deadline, ERESTART_RESTARTBLOCK)
    except ERESTART_RESTARTBLOCK:
        # fs/select.c do_restart_poll: restart_syscall(2) resumes with the
        # same deadline, so only the time left is waited for.
        t.restart_block = lambda rt: _poll_restartable(rt, addr, nfds, deadline)
        raise


@syscall(sysno.POLL, "poll")
def sys_poll(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall poll(2)."""
    addr, nfds, timeout_ms = args[0], args[1] & 0xFFFFFFFF, s32(args[2])
    deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000
    return _poll_restartable(t, addr, nfds, deadline)


@syscall(sysno.PPOLL, "ppoll")
def sys_ppoll(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall ppoll(2)."""
    addr, nfds, tsp = args[0], args[1] & 0xFFFFFFFF, args[2]
    ns = timespec_ns(t.mm.copy_in(tsp, TIMESPEC.size)) if tsp else None
    deadline = _deadline(ns)

    def body() -> int:
        return _do_poll(t, addr, nfds, deadline, ERESTARTNOHAND)

    try:
        n = _with_sigmask(t, args[3], args[4], body)
    finally:
        if tsp:
            t.mm.copy_out(tsp, ns_timespec(_left_ns(deadline)))
    return n


# -- select --------------------------------------------------------------------------
def _read_set(t: Task, addr: int, nbytes: int) -> int:
    return int.from_bytes(t.mm.copy_in(addr, nbytes), "little") if addr else 0


def _do_select(
    t: Task,
    n: int,
    addrs: tuple[int, int, int],
    deadline: float | None,
    interrupted: type[LinuxError],
) -> int:
    n = s32(n)
    if n < 0:
        raise EINVAL
    n = min(n, nofile_limit(t))  # fs/select.c core_sys_select: clamp to max_fds
    nbytes = (n + 63) // 64 * 8
    sets = [_read_set(t, a, nbytes) for a in addrs]
    files: list[tuple[FileDescription | None, int]] = []
    fds: list[int] = []
    for fd in range(n):
        bit = 1 << fd
        mask = 0
        if sets[0] & bit:
            mask |= POLLIN_SET
        if sets[1] & bit:
            mask |= POLLOUT_SET
        if sets[2] & bit:
            mask |= POLLEX_SET
        if not mask:
            continue
        files.append((t.fd_table.get(fd), mask))  # EBADF for a closed fd
        fds.append(fd)
    if files:
        ready = poll_files(t, files, deadline, interrupted)
    else:
        _sleep_unless_interrupted(t, deadline, interrupted)
        ready = []
    out = [0, 0, 0]
    count = 0
    for fd, ev in zip(fds, ready, strict=True):
        bit = 1 << fd
        for k, wanted in enumerate((POLLIN_SET, POLLOUT_SET, POLLEX_SET)):
            if sets[k] & bit and ev & wanted:
                out[k] |= bit
                count += 1
    for k, addr in enumerate(addrs):
        if addr:
            t.mm.copy_out(addr, out[k].to_bytes(nbytes, "little"))
    return count


@syscall(sysno.SELECT, "select")
def sys_select(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall select(2); the timeval is updated to the time left."""
    tvp = args[4]
    deadline = None
    if tvp:
        sec, usec = TIMEVAL.unpack(t.mm.copy_in(tvp, TIMEVAL.size))
        if sec < 0 or usec < 0:
            raise EINVAL
        # fs/select.c poll_select_set_timeout: usec may exceed a second.
        deadline = _deadline(sec * NSEC_PER_SEC + usec * 1000)
    try:
        return _do_select(t, args[0], (args[1], args[2], args[3]), deadline, ERESTARTNOHAND)
    finally:
        if tvp:
            left = _left_ns(deadline)
            t.mm.copy_out(tvp, TIMEVAL.pack(left // NSEC_PER_SEC, left % NSEC_PER_SEC // 1000))


@syscall(sysno.PSELECT6, "pselect6")
def sys_pselect6(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall pselect6(2): a timespec and a {sigset, size} pair."""
    tsp = args[4]
    ns = timespec_ns(t.mm.copy_in(tsp, TIMESPEC.size)) if tsp else None
    deadline = _deadline(ns)
    mask_addr, mask_size = 0, 0
    if args[5]:
        mask_addr, mask_size = struct.unpack("<QQ", t.mm.copy_in(args[5], 16))

    def body() -> int:
        return _do_select(t, args[0], (args[1], args[2], args[3]), deadline, ERESTARTNOHAND)

    try:
        return _with_sigmask(t, mask_addr, mask_size, body)
    finally:
        if tsp:
            t.mm.copy_out(tsp, ns_timespec(_left_ns(deadline)))
