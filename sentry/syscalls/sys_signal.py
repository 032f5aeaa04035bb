"""Implements Linux syscalls rt_sigaction(2), rt_sigprocmask(2),
sigaltstack(2), rt_sigpending(2), kill(2), tkill(2), tgkill(2),
rt_sigqueueinfo(2), rt_tgsigqueueinfo(2), rt_sigreturn(2), rt_sigsuspend(2),
pause(2) and rt_sigtimedwait(2) (kernel/signal.c).

Sending goes through ``Kernel.send_signal``; delivery (handlers, frames,
default actions) happens in ``sentry.kernel.signal_delivery`` when the target
next returns to its application."""

from __future__ import annotations

import struct
import time

from sentry.abi import sysno
from sentry.abi.errors import EAGAIN, EINTR, EINVAL, ENOMEM, EPERM, ERESTARTNOHAND, ESRCH
from sentry.kernel import SyscallArgs, Task
from sentry.kernel.creds import Credentials
from sentry.kernel.signal_delivery import sigreturn
from sentry.kernel.signals import (
    MINSIGSTKSZ,
    NSIG,
    SI_TKILL,
    SIG_BLOCK,
    SIG_DFL,
    SIG_IGN,
    SIG_SETMASK,
    SIG_UNBLOCK,
    SIGKILL,
    SIGSTOP,
    SS_AUTODISARM,
    SS_DISABLE,
    SS_ONSTACK,
    UNBLOCKABLE,
    AltStack,
    SigAction,
    SigInfo,
    default_action,
    sigbit,
)
from sentry.kernel.thread_group import ThreadGroup
from sentry.syscalls._util import s32
from sentry.syscalls.table import syscall

SIGACTION = struct.Struct("<QQQQ")  # handler, flags, restorer, mask
STACK_T = struct.Struct("<QiiQ")  # ss_sp, ss_flags, pad, ss_size
SIGSET = struct.Struct("<Q")


@syscall(sysno.RT_SIGACTION, "rt_sigaction")
def sys_rt_sigaction(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall rt_sigaction(2)."""
    signo, act_addr, old_addr, setsize = s32(args[0]), args[1], args[2], args[3]
    if setsize != 8:
        raise EINVAL
    if not 1 <= signo <= NSIG:
        raise EINVAL
    new = None
    if act_addr:
        if signo in (SIGKILL, SIGSTOP):
            raise EINVAL
        handler, flags, restorer, mask = SIGACTION.unpack(t.mm.copy_in(act_addr, SIGACTION.size))
        new = SigAction(handler, flags, restorer, mask & ~UNBLOCKABLE)
    old = t.sighand.get(signo)
    if old_addr:
        t.mm.copy_out(old_addr, SIGACTION.pack(old.handler, old.flags, old.restorer, old.mask))
    if new is not None:
        t.sighand.set(signo, new)
        if new.handler == SIG_IGN or (new.handler == SIG_DFL and default_action(signo) == "ignore"):
            # kernel/signal.c do_sigaction: pending instances are flushed.
            with t.kernel.tree_lock:
                t.thread_group.shared_pending.discard(sigbit(signo))
                for other in t.thread_group.tasks:
                    other.pending.discard(sigbit(signo))
    return 0


@syscall(sysno.RT_SIGPROCMASK, "rt_sigprocmask")
def sys_rt_sigprocmask(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall rt_sigprocmask(2); SIGKILL and SIGSTOP can never be blocked."""
    how, set_addr, old_addr, setsize = s32(args[0]), args[1], args[2], args[3]
    if setsize != 8:
        raise EINVAL
    old = t.signal_mask
    if set_addr:
        (mask,) = SIGSET.unpack(t.mm.copy_in(set_addr, 8))
        if how == SIG_BLOCK:
            new = old | mask
        elif how == SIG_UNBLOCK:
            new = old & ~mask
        elif how == SIG_SETMASK:
            new = mask
        else:
            raise EINVAL
        t.signal_mask = new & ~UNBLOCKABLE
    if old_addr:
        t.mm.copy_out(old_addr, SIGSET.pack(old))
    return 0


@syscall(sysno.RT_SIGPENDING, "rt_sigpending")
def sys_rt_sigpending(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall rt_sigpending(2): pending signals that are blocked."""
    if args[1] > 8:
        raise EINVAL
    pending = (t.pending.mask | t.thread_group.shared_pending.mask) & t.signal_mask
    t.mm.copy_out(args[0], SIGSET.pack(pending)[: args[1]])
    return 0


@syscall(sysno.SIGALTSTACK, "sigaltstack")
def sys_sigaltstack(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall sigaltstack(2) (kernel/signal.c do_sigaltstack)."""
    new_addr, old_addr = args[0], args[1]
    cur = t.altstack
    on_stack = cur.flags != SS_DISABLE and cur.sp < t.regs.rsp <= cur.sp + cur.size
    if old_addr:
        flags = SS_ONSTACK if on_stack else (cur.flags & SS_DISABLE) | (cur.flags & SS_AUTODISARM)
        t.mm.copy_out(old_addr, STACK_T.pack(cur.sp, flags, 0, cur.size))
    if new_addr:
        sp, flags, _pad, size = STACK_T.unpack(t.mm.copy_in(new_addr, STACK_T.size))
        if on_stack:
            raise EPERM
        mode = flags & ~SS_AUTODISARM
        if mode not in (0, SS_ONSTACK, SS_DISABLE):
            raise EINVAL
        if mode == SS_DISABLE:
            t.altstack = AltStack()
        else:
            if size < MINSIGSTKSZ:
                raise ENOMEM
            t.altstack = AltStack(sp, flags & SS_AUTODISARM, size)
    return 0


CAP_KILL = 5


def _may_signal(sender: Credentials, target: Task) -> bool:
    # kernel/signal.c kill_ok_by_cred: CAP_KILL, or the sender's real or
    # effective uid is the target's real or saved uid.
    if sender.has_capability(CAP_KILL):
        return True
    tc = target.creds
    return bool({sender.uid, sender.euid} & {tc.uid, tc.suid})


def _check_signo(signo: int) -> None:
    if not 0 <= signo <= NSIG:
        raise EINVAL


def _send_process(t: Task, tg: ThreadGroup, signo: int, info: SigInfo) -> None:
    if not _may_signal(t.creds, tg.leader):
        raise EPERM
    if signo:
        t.kernel.send_signal(tg, signo, info)


@syscall(sysno.KILL, "kill")
def sys_kill(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall kill(2) (kernel/signal.c kill_something_info):
    a process, a process group (0, -pgid) or every process but init and
    the caller (-1)."""
    pid, signo = s32(args[0]), s32(args[1])
    _check_signo(signo)
    info = SigInfo.user(signo, t.tgid, t.creds.uid)
    kernel = t.kernel
    if pid > 0:
        tg = kernel.thread_groups.get(pid)
        if tg is None and pid in kernel.tasks:
            # A thread's tid names its process (kill_pid_info).
            tg = kernel.tasks[pid].thread_group
        if tg is None or tg.reaped:
            raise ESRCH
        _send_process(t, tg, signo, info)
        return 0
    if pid == -(1 << 31):
        raise ESRCH
    if pid == -1:
        with kernel.tree_lock:
            targets = [
                tg for tg in kernel.thread_groups.values()
                if tg.tgid != 1 and tg is not t.thread_group and not tg.zombie
            ]  # fmt: skip
        sent = 0
        for tg in targets:
            if _may_signal(t.creds, tg.leader):
                if signo:
                    kernel.send_signal(tg, signo, info)
                sent += 1
        if not sent:
            raise ESRCH
        return 0
    pgid = t.thread_group.pgid if pid == 0 else -pid
    members = kernel.process_group(pgid)
    if not members:
        raise ESRCH
    allowed = [tg for tg in members if _may_signal(t.creds, tg.leader)]
    if not allowed:
        raise EPERM
    if signo:
        for tg in allowed:
            kernel.send_signal(tg, signo, info)
    return 0


def _thread(t: Task, tgid: int, tid: int) -> Task:
    target = t.kernel.tasks.get(tid)
    if target is None or (tgid > 0 and target.tgid != tgid):
        raise ESRCH
    return target


def _send_thread(t: Task, target: Task, signo: int, info: SigInfo) -> int:
    _check_signo(signo)
    if not _may_signal(t.creds, target):
        raise EPERM
    if signo:
        t.kernel.send_signal(target, signo, info)
    return 0


@syscall(sysno.TKILL, "tkill")
def sys_tkill(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall tkill(2)."""
    tid, signo = s32(args[0]), s32(args[1])
    if tid <= 0:
        raise EINVAL
    return _send_thread(
        t, _thread(t, 0, tid), signo, SigInfo.user(signo, t.tgid, t.creds.uid, SI_TKILL)
    )


@syscall(sysno.TGKILL, "tgkill")
def sys_tgkill(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall tgkill(2)."""
    tgid, tid, signo = s32(args[0]), s32(args[1]), s32(args[2])
    if tgid <= 0 or tid <= 0:
        raise EINVAL
    info = SigInfo.user(signo, t.tgid, t.creds.uid, SI_TKILL)
    return _send_thread(t, _thread(t, tgid, tid), signo, info)


def _queued_info(t: Task, signo: int, addr: int) -> SigInfo:
    raw = SigInfo.unpack(t.mm.copy_in(addr, 128))
    # kernel/signal.c do_rt_sigqueueinfo: only negative codes may be forged
    # by another process (SI_TKILL is reserved for tkill).
    if raw.code >= 0 or raw.code == SI_TKILL:
        raise EPERM
    return SigInfo(signo, raw.code, raw.errno, raw.fields)


@syscall(sysno.RT_SIGQUEUEINFO, "rt_sigqueueinfo")
def sys_rt_sigqueueinfo(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall rt_sigqueueinfo(2)."""
    pid, signo = s32(args[0]), s32(args[1])
    _check_signo(signo)
    info = _queued_info(t, signo, args[2])
    tg = t.kernel.thread_groups.get(pid) if pid > 0 else None
    if tg is None or tg.reaped:
        raise ESRCH
    _send_process(t, tg, signo, info)
    return 0


@syscall(sysno.RT_TGSIGQUEUEINFO, "rt_tgsigqueueinfo")
def sys_rt_tgsigqueueinfo(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall rt_tgsigqueueinfo(2)."""
    tgid, tid, signo = s32(args[0]), s32(args[1]), s32(args[2])
    if tgid <= 0 or tid <= 0:
        raise EINVAL
    _check_signo(signo)
    info = _queued_info(t, signo, args[3])
    return _send_thread(t, _thread(t, tgid, tid), signo, info)


@syscall(sysno.RT_SIGRETURN, "rt_sigreturn")
def sys_rt_sigreturn(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall rt_sigreturn(2): back from a signal handler
    to the state its frame saved (a corrupt frame is SIGSEGV)."""
    return sigreturn(t)


def _sleep_until_signal(t: Task) -> None:
    while not t.block(None):
        pass


@syscall(sysno.RT_SIGSUSPEND, "rt_sigsuspend")
def sys_rt_sigsuspend(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall rt_sigsuspend(2): wait with a temporary mask
    for a signal that runs a handler or ends the process; the old mask is
    restored after delivery (saved_sigmask)."""
    if args[1] != 8:
        raise EINVAL
    (mask,) = SIGSET.unpack(t.mm.copy_in(args[0], 8))
    t.saved_mask = t.signal_mask
    t.signal_mask = mask & ~UNBLOCKABLE
    _sleep_until_signal(t)
    raise ERESTARTNOHAND


@syscall(sysno.PAUSE, "pause")
def sys_pause(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall pause(2)."""
    _sleep_until_signal(t)
    raise ERESTARTNOHAND


TIMESPEC = struct.Struct("<qq")


@syscall(sysno.RT_SIGTIMEDWAIT, "rt_sigtimedwait")
def sys_rt_sigtimedwait(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall rt_sigtimedwait(2): take a pending signal of
    the set without running its handler; EAGAIN at the timeout, EINTR if
    another signal arrives."""
    set_addr, info_addr, ts_addr, setsize = args[0], args[1], args[2], args[3]
    if setsize != 8:
        raise EINVAL
    (wanted,) = SIGSET.unpack(t.mm.copy_in(set_addr, 8))
    wanted &= ~UNBLOCKABLE
    deadline = None
    if ts_addr:
        sec, nsec = TIMESPEC.unpack(t.mm.copy_in(ts_addr, TIMESPEC.size))
        if sec < 0 or not 0 <= nsec < 1_000_000_000:
            raise EINVAL
        deadline = time.monotonic() + sec + nsec / 1e9
    kernel = t.kernel
    # The wanted signals stay blocked (so an ignored-by-default one such as
    # SIGCHLD is still queued: kernel/signal.c sig_ignored looks at
    # real_blocked); ``sigwait_mask`` makes a sender wake us for them.
    t.sigwait_mask = wanted
    interrupted = False
    try:
        while True:
            with kernel.tree_lock:
                info = t.pending.dequeue(~wanted) or t.thread_group.shared_pending.dequeue(~wanted)
            if info is not None:
                if info_addr:
                    t.mm.copy_out(info_addr, info.pack())
                return info.signo
            if interrupted:
                raise EINTR  # another signal: its handler runs first
            timeout = None if deadline is None else deadline - time.monotonic()
            if timeout is not None and timeout <= 0:
                raise EAGAIN
            interrupted = t.block(timeout)
    finally:
        t.sigwait_mask = 0
