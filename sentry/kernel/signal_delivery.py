"""Signal delivery on the task's own thread (kernel/signal.c get_signal,
arch/x86/kernel/signal.c handle_signal/setup_rt_frame, restore_sigcontext;
gVisor ``kernel/task_signals.go``).

Runs when the task is about to return to the application and has work: a
pending unblocked signal, a kill, or a syscall that returned a restart code.
Default actions end the process (terminate/core), stop it until SIGCONT, or
do nothing; a handler gets an rt_sigframe on the stack (``sentry.arch
.signal_frame``) and the syscall restart rules are applied first, so the
frame saves the registers the interrupted code resumes with.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sentry.abi import sysno
from sentry.abi.errors import LinuxError
from sentry.arch.signal_frame import (
    FIX_EFLAGS,
    REDZONE,
    UCONTEXT_SIZE,
    build_frame,
    fp_image_from_frame,
    parse_ucontext,
)
from sentry.kernel.exit import ExitStatus, TaskExit
from sentry.kernel.signals import (
    SA_NODEFER,
    SA_ONSTACK,
    SA_RESETHAND,
    SA_RESTART,
    SA_RESTORER,
    SIG_DFL,
    SIG_IGN,
    SIGSEGV,
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

if TYPE_CHECKING:
    from sentry.kernel.task import Task

log = logging.getLogger("sentry.kernel")

MASK64 = (1 << 64) - 1
EINTR = 4
ERESTARTSYS = 512
ERESTARTNOINTR = 513
ERESTARTNOHAND = 514
ERESTART_RESTARTBLOCK = 516


def _restart_fixup(t: Task, *, handler: SigAction | None) -> None:
    """Apply the restart rules to a syscall that returned ERESTART*
    (arch/x86/kernel/signal.c handle_signal, arch_do_signal_or_restart)."""
    errno = t._restart_errno
    if not errno:
        return
    t._restart_errno = 0
    regs = t.regs
    interrupted = errno in (ERESTART_RESTARTBLOCK, ERESTARTNOHAND) or (
        errno == ERESTARTSYS and handler is not None and not handler.flags & SA_RESTART
    )
    if handler is not None and interrupted:
        regs.rax = -EINTR & MASK64
        return
    # Restart: back over the 2-byte ``syscall`` instruction.
    regs.rax = sysno.RESTART_SYSCALL if errno == ERESTART_RESTARTBLOCK else regs.orig_rax
    regs.rip -= 2


def _dequeue(t: Task) -> SigInfo | None:
    with t.kernel.tree_lock:
        info = t.pending.dequeue(t.signal_mask)
        if info is None:
            info = t.thread_group.shared_pending.dequeue(t.signal_mask)
        return info


def deliver_signals(t: Task) -> None:
    """Handle the task's kernel work before it returns to the application."""
    kernel = t.kernel
    delivered_handler = False
    while True:
        if t.killed is not None:
            raise TaskExit(t.killed, group=True)
        if t.thread_group.stopped_by:
            # Another thread stopped the process (group stop).
            kernel.park_stopped(t)
            continue
        info = _dequeue(t)
        if info is None:
            break
        signo = info.signo
        act = t.sighand.get(signo)
        if act.handler == SIG_IGN:
            continue
        if act.handler == SIG_DFL:
            action = default_action(signo)
            # The sandbox's init is not protected from its own signals as a
            # PID namespace's init is (SIGNAL_UNKILLABLE): programs behave
            # as they do natively, where they are not pid 1.
            if action == "ignore":
                continue
            if action == "stop":
                kernel.stop_group(t, signo)
                continue
            log.info("task %d (%s) killed by signal %d", t.tid, t.comm, signo)
            raise TaskExit(ExitStatus(signo=signo), group=True)
        _restart_fixup(t, handler=act)
        if not setup_frame(t, info, act):
            # The frame could not be written: the task dies of SIGSEGV
            # (kernel/signal.c signal_setup_done -> force_sigsegv).
            raise TaskExit(ExitStatus(signo=SIGSEGV), group=True)
        delivered_handler = True
    _restart_fixup(t, handler=None)
    if t.saved_mask is not None and not delivered_handler:
        # rt_sigsuspend and friends: no handler ran, restore the mask now.
        t.signal_mask = t.saved_mask
        t.saved_mask = None


def setup_frame(t: Task, info: SigInfo, act: SigAction) -> bool:
    """Push an rt_sigframe and point the registers at the handler; False if
    the stack cannot take it."""
    regs = t.regs
    if not act.flags & SA_RESTORER:
        # x86_64 has no vDSO trampoline for rt signals: Linux refuses.
        return False
    alt = t.altstack
    on_alt = alt.flags != SS_DISABLE and alt.sp < regs.rsp <= alt.sp + alt.size
    saved_alt = (alt.sp, SS_ONSTACK if on_alt else alt.flags, alt.size)
    if act.flags & SA_ONSTACK and alt.flags != SS_DISABLE and not on_alt:
        sp = alt.sp + alt.size
        if alt.flags & SS_AUTODISARM:
            t.altstack = AltStack()
    else:
        sp = regs.rsp - REDZONE
    old_mask = t.saved_mask if t.saved_mask is not None else t.signal_mask
    t.saved_mask = None
    try:
        fp = t.context.fp_state(t.mm.address_space)
        frame = build_frame(
            sp,
            regs,
            restorer=act.restorer,
            siginfo=info.pack(),
            old_mask=old_mask,
            altstack=saved_alt,
            fp=fp,
        )
        t.mm.copy_out(frame.frame_addr, frame.data)
    except LinuxError:
        return False
    regs.rsp = frame.frame_addr
    regs.rip = act.handler
    regs.rdi = info.signo
    regs.rsi = frame.frame_addr + 312
    regs.rdx = frame.frame_addr + 8
    regs.rax = 0
    regs.eflags &= ~(0x100 | 0x400)  # TF and DF clear in the handler (ABI)
    new_mask = old_mask | act.mask
    if not act.flags & SA_NODEFER:
        new_mask |= sigbit(info.signo)
    t.signal_mask = new_mask & ~UNBLOCKABLE
    if act.flags & SA_RESETHAND:
        t.sighand.set(info.signo, SigAction())
    return True


def sigreturn(t: Task) -> int:
    """rt_sigreturn(2): restore what ``setup_frame`` saved; the returned
    value is the restored rax. A bad frame kills with SIGSEGV."""
    regs = t.regs
    frame = regs.rsp - 8  # the handler's ``ret`` popped pretcode
    try:
        raw = t.mm.copy_in(frame + 8, UCONTEXT_SIZE)
        ctx = parse_ucontext(raw)
        fp_raw = None
        if ctx.fpstate_addr:
            head = t.mm.copy_in(ctx.fpstate_addr, 512)
            size = int.from_bytes(head[480:484], "little")
            if not 512 < size <= 1 << 16:
                raise ValueError("bad xstate size")
            fp_raw = t.mm.copy_in(ctx.fpstate_addr, size + 4)
    except (LinuxError, ValueError) as exc:
        log.info("task %d: bad rt_sigreturn frame at %#x: %s", t.tid, frame, exc)
        raise TaskExit(ExitStatus(signo=SIGSEGV), group=True) from None
    g = ctx.gprs
    for name in (
        "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
        "rdi", "rsi", "rbp", "rbx", "rdx", "rcx", "rsp", "rip",
    ):  # fmt: skip
        setattr(regs, name, g[name])
    regs.eflags = (regs.eflags & ~FIX_EFLAGS) | (g["eflags"] & FIX_EFLAGS)
    regs.orig_rax = MASK64  # no syscall restart after sigreturn
    t.signal_mask = ctx.mask & ~UNBLOCKABLE
    ss_sp, ss_flags, ss_size = ctx.altstack
    # restore_altstack: like sigaltstack(2) with the saved stack_t, errors ignored.
    cur = t.altstack
    if not (cur.flags != SS_DISABLE and cur.sp < regs.rsp <= cur.sp + cur.size):
        mode = ss_flags & ~SS_AUTODISARM
        if mode == SS_DISABLE:
            t.altstack = AltStack()
        elif mode in (0, SS_ONSTACK) and ss_size >= 2048:
            t.altstack = AltStack(ss_sp, ss_flags & SS_AUTODISARM, ss_size)
    if fp_raw is not None:
        try:
            t.context.set_fp_state(t.mm.address_space, fp_image_from_frame(fp_raw))
        except (ValueError, OSError) as exc:
            log.info("task %d: rt_sigreturn with a bad fpstate: %s", t.tid, exc)
            raise TaskExit(ExitStatus(signo=SIGSEGV), group=True) from None
    return int(g["rax"])
