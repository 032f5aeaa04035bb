"""Implements Linux syscalls wait4(2) and waitid(2) (kernel/exit.c do_wait,
wait_consider_task)."""

from __future__ import annotations

import struct

from sentry.abi import sysno
from sentry.abi.errors import ECHILD, EINVAL, ERESTARTSYS
from sentry.kernel import SyscallArgs, Task
from sentry.kernel.cputime import reaped_usage
from sentry.kernel.signals import (
    CLD_CONTINUED,
    CLD_EXITED,
    CLD_KILLED,
    CLD_STOPPED,
    SIGCHLD,
    SigInfo,
)
from sentry.kernel.thread_group import ThreadGroup
from sentry.syscalls._util import s32
from sentry.syscalls.sys_info import pack_rusage
from sentry.syscalls.table import Support, syscall

WNOHANG = 1
WUNTRACED = 2
WSTOPPED = 2
WEXITED = 4
WCONTINUED = 8
WNOWAIT = 0x01000000
__WNOTHREAD = 0x20000000
__WALL = 0x40000000
__WCLONE = 0x80000000
P_ALL = 0
P_PID = 1
P_PGID = 2
P_PIDFD = 3


class _Event:
    """A child state change wait can report."""

    __slots__ = ("code", "status", "tg", "wait_status")

    tg: ThreadGroup
    code: int  # CLD_*
    status: int  # exit code or signal
    wait_status: int  # the wait4 status word

    def __init__(
        self,
        tg: ThreadGroup,
        code: int,
        status: int,
        wait_status: int,
    ) -> None:
        self.tg = tg
        self.code = code
        self.status = status
        self.wait_status = wait_status

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{n}={getattr(self, n)!r}" for n in ("tg", "code", "status", "wait_status")
        )
        return f"_Event({fields})"


def _selects(t: Task, child: ThreadGroup, which: int, ident: int, options: int) -> bool:
    if which == P_PID and child.tgid != ident:
        return False
    if which == P_PGID and child.pgid != ident:
        return False
    if options & __WALL:
        return True
    # Children that signal something other than SIGCHLD are "clone"
    # children, waited for only with __WCLONE (kernel/exit.c eligible_child).
    return child.is_clone_child == bool(options & __WCLONE)


def _consider(child: ThreadGroup, options: int) -> _Event | None:
    if child.zombie:
        if not options & WEXITED:
            return None
        st = child.exit_status
        assert st is not None
        if st.signo:
            return _Event(child, CLD_KILLED, st.signo, st.wait_status)
        return _Event(child, CLD_EXITED, st.code & 0xFF, st.wait_status)
    if child.stopped_by and child.stop_unreported and options & WSTOPPED:
        if not options & WNOWAIT:
            child.stop_unreported = False
        return _Event(child, CLD_STOPPED, child.stopped_by, (child.stopped_by << 8) | 0x7F)
    if child.continued_unreported and options & WCONTINUED:
        if not options & WNOWAIT:
            child.continued_unreported = False
        return _Event(child, CLD_CONTINUED, SIGCHLD, 0xFFFF)
    return None


def do_wait(t: Task, which: int, ident: int, options: int) -> _Event | None:
    """Wait for a child state change; None with WNOHANG if nothing is ready."""
    kernel = t.kernel
    me = t.thread_group
    while True:
        with kernel.tree_lock:
            eligible = [c for c in me.children if _selects(t, c, which, ident, options)]
            if not eligible:
                raise ECHILD
            for child in eligible:
                event = _consider(child, options)
                if event is not None:
                    if child.zombie and not options & WNOWAIT:
                        kernel.reap(child)
                    return event
        if options & WNOHANG:
            return None
        if t.block(None):
            raise ERESTARTSYS


def _child_rusage(t: Task, event: _Event) -> bytes:
    """The waited-for child's usage with that of its own reaped children
    (kernel/exit.c wait_task_zombie -> getrusage(RUSAGE_BOTH)); a stop or
    continue event reports the child's usage so far."""
    return pack_rusage(reaped_usage(event.tg, t.kernel.tree_lock))


@syscall(sysno.WAIT4, "wait4", note="rusage as getrusage(2) reports it")
def sys_wait4(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall wait4(2)."""
    pid, status_addr, options, rusage_addr = s32(args[0]), args[1], args[2] & 0xFFFFFFFF, args[3]
    if options & ~(WNOHANG | WUNTRACED | WCONTINUED | __WNOTHREAD | __WALL | __WCLONE):
        raise EINVAL
    if pid == -(1 << 31):
        raise EINVAL  # INT_MIN cannot be negated into a process group
    if pid < -1:
        which, ident = P_PGID, -pid
    elif pid == -1:
        which, ident = P_ALL, 0
    elif pid == 0:
        which, ident = P_PGID, t.thread_group.pgid
    else:
        which, ident = P_PID, pid
    event = do_wait(t, which, ident, options | WEXITED)
    if event is None:
        return 0
    if status_addr:
        t.mm.copy_out(status_addr, struct.pack("<i", event.wait_status))
    if rusage_addr:
        t.mm.copy_out(rusage_addr, _child_rusage(t, event))
    return event.tg.tgid


@syscall(sysno.WAITID, "waitid", Support.PARTIAL, "no P_PIDFD (EINVAL)")
def sys_waitid(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall waitid(2)."""
    which, ident, info_addr, options = s32(args[0]), s32(args[1]), args[2], args[3] & 0xFFFFFFFF
    rusage_addr = args[4]
    if which not in (P_ALL, P_PID, P_PGID, P_PIDFD):
        raise EINVAL
    if options & ~(
        WNOHANG | WNOWAIT | WEXITED | WSTOPPED | WCONTINUED | __WNOTHREAD | __WALL | __WCLONE
    ):
        raise EINVAL
    if not options & (WEXITED | WSTOPPED | WCONTINUED):
        raise EINVAL
    if which == P_PIDFD:
        raise EINVAL
    if which == P_PID and ident <= 0:
        raise EINVAL
    if which == P_PGID:
        if ident < 0:
            raise EINVAL
        ident = ident or t.thread_group.pgid
    event = do_wait(t, which, ident, options)
    if info_addr:
        if event is None:
            # kernel/exit.c kernel_waitid: nothing ready with WNOHANG zeroes
            # si_signo, si_code, si_pid, si_uid and si_status.
            t.mm.copy_out(info_addr, bytes(32))
        else:
            uid = event.tg.leader.creds.uid
            info = SigInfo.child(event.code, event.tg.tgid, uid, event.status)
            t.mm.copy_out(info_addr, info.pack()[:32])
    if rusage_addr and event is not None:
        # Written only when a child was found (kernel/exit.c waitid: err > 0).
        t.mm.copy_out(rusage_addr, _child_rusage(t, event))
    return 0
