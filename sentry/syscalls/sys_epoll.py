"""Implements Linux syscalls epoll_create(2), epoll_create1(2), epoll_ctl(2),
epoll_wait(2), epoll_pwait(2) and epoll_pwait2(2) (fs/eventpoll.c).

The instances themselves are ``sentry.kernel.epoll``; this module decodes
arguments and applies Linux's checks in Linux's order."""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

from sentry.abi import sysno
from sentry.abi.errors import EBADF, EINTR, EINVAL
from sentry.kernel import SyscallArgs, Task
from sentry.kernel.epoll import (
    EP_MAX_EVENTS,
    EPOLL_CTL_ADD,
    EPOLL_CTL_DEL,
    EPOLL_CTL_MOD,
    EventPoll,
    check_ctl,
    new_epoll,
)
from sentry.syscalls._fileargs import nofile_limit
from sentry.syscalls._util import NSEC_PER_SEC, TIMESPEC, s32, timespec_ns, with_temporary_sigmask
from sentry.syscalls.table import Support, syscall
from sentry.vfs.file import FileDescription
from sentry.vfs.flags import O_CLOEXEC

#: struct epoll_event is packed on x86_64: u32 events, u64 data.
EPOLL_EVENT = struct.Struct("<IQ")

_CTL_NOTE = (
    "EPOLLEXCLUSIVE accepted but every waiter is woken; EPOLLWAKEUP dropped; host FDs may "
    "report extra edges under EPOLLET"
)
_WAIT_NOTE = "a bad events buffer gives EFAULT after the events were taken (Linux checks first)"


def _create(t: Task, flags: int) -> int:
    desc = new_epoll()
    return int(t.fd_table.install(desc, cloexec=bool(flags & O_CLOEXEC), limit=nofile_limit(t)))


@syscall(sysno.EPOLL_CREATE, "epoll_create")
def sys_epoll_create(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall epoll_create(2): ``size`` must be positive
    and is otherwise ignored."""
    if s32(args[0]) <= 0:
        raise EINVAL
    return _create(t, 0)


@syscall(sysno.EPOLL_CREATE1, "epoll_create1")
def sys_epoll_create1(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall epoll_create1(2)."""
    flags = args[0] & 0xFFFFFFFF
    if flags & ~O_CLOEXEC:
        raise EINVAL
    return _create(t, flags)


def _file(t: Task, fd: int) -> FileDescription:
    """fdget: O_PATH descriptions do not count (EBADF)."""
    desc = t.fd_table.get(fd)
    if desc.is_path:
        raise EBADF
    return desc


@syscall(sysno.EPOLL_CTL, "epoll_ctl", Support.PARTIAL, _CTL_NOTE)
def sys_epoll_ctl(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall epoll_ctl(2)."""
    epfd, op, fd, event_addr = s32(args[0]), s32(args[1]), s32(args[2]), args[3]
    events = data = 0
    if op != EPOLL_CTL_DEL:
        events, data = EPOLL_EVENT.unpack(t.mm.copy_in(event_addr, EPOLL_EVENT.size))
    epdesc = _file(t, epfd)
    target = _file(t, fd)
    events = check_ctl(op, epdesc, target, events)
    ep = epdesc.impl
    assert isinstance(ep, EventPoll)
    if op == EPOLL_CTL_ADD:
        ep.add(target, fd, events, data)
    elif op == EPOLL_CTL_MOD:
        ep.modify(target, fd, events, data)
    else:
        ep.delete(target, fd)
    return 0


def _wait(t: Task, epfd: int, addr: int, maxevents: int, deadline: float | None) -> int:
    if maxevents <= 0 or maxevents > EP_MAX_EVENTS:
        raise EINVAL
    desc = _file(t, epfd)
    ep = desc.impl
    if not isinstance(ep, EventPoll):
        raise EINVAL
    ready = ep.wait(t, maxevents, deadline)
    if ready:
        t.mm.copy_out(addr, b"".join(EPOLL_EVENT.pack(ev, data) for ev, data in ready))
    return len(ready)


def _ms_deadline(timeout_ms: int) -> float | None:
    return None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000


def _with_sigmask(t: Task, addr: int, size: int, body: Callable[[], int]) -> int:
    """``body`` under the caller's temporary mask; see ``with_temporary_sigmask``."""
    return with_temporary_sigmask(t, addr, size, body, EINTR)


@syscall(sysno.EPOLL_WAIT, "epoll_wait", Support.PARTIAL, _WAIT_NOTE)
def sys_epoll_wait(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall epoll_wait(2); EINTR after a signal, never restarted."""
    return _wait(t, s32(args[0]), args[1], s32(args[2]), _ms_deadline(s32(args[3])))


@syscall(sysno.EPOLL_PWAIT, "epoll_pwait", Support.PARTIAL, _WAIT_NOTE)
def sys_epoll_pwait(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall epoll_pwait(2)."""
    deadline = _ms_deadline(s32(args[3]))
    return _with_sigmask(
        t, args[4], args[5], lambda: _wait(t, s32(args[0]), args[1], s32(args[2]), deadline)
    )


@syscall(sysno.EPOLL_PWAIT2, "epoll_pwait2", Support.PARTIAL, _WAIT_NOTE)
def sys_epoll_pwait2(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall epoll_pwait2(2): a timespec timeout (NULL: forever)."""
    deadline = None
    if args[3]:
        ns = timespec_ns(t.mm.copy_in(args[3], TIMESPEC.size))
        deadline = time.monotonic() + ns / NSEC_PER_SEC
    return _with_sigmask(
        t, args[4], args[5], lambda: _wait(t, s32(args[0]), args[1], s32(args[2]), deadline)
    )
