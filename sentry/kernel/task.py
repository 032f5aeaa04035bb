"""Tasks and the run loop (gVisor ``kernel/task_run.go``, ``task_syscall.go``,
``task_signals.go``).

One host thread per task. The loop is: switch into the application until it
traps, serve the trap (a syscall through the table, a fault through ``mm``),
repeat. This is the hot path: the table is a list indexed by number, the
arguments one tuple, and tracing is done by wrapping the table (nothing here
checks whether strace is on). CPU time is accounted around the switch (one
clock read on each side, see ``cputime``).
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sentry.abi import sysno
from sentry.abi.errors import ENOSYS, LinuxError
from sentry.kernel.cputime import CpuAccount, enter_blocked, leave_blocked
from sentry.kernel.creds import Credentials
from sentry.kernel.exit import ExitStatus, SentryBug, TaskExit
from sentry.kernel.rlimits import RLimits
from sentry.kernel.signals import (
    SIGKILL,
    SIGPIPE,
    SIGSEGV,
    AltStack,
    PendingSignals,
    SigInfo,
    SignalHandlers,
)
from sentry.kernel.thread_group import ThreadGroup
from sentry.mm import MemoryManager
from sentry.platform import (
    Context,
    ContextLost,
    FaultTrap,
    Interrupted,
    SignalTrap,
    SyscallTrap,
)
from sentry.vfs.context import set_current_task

if TYPE_CHECKING:
    from sentry.kernel.kernel import Kernel

log = logging.getLogger("sentry.kernel")

MASK64 = (1 << 64) - 1

#: Kernel-internal restart codes (include/linux/errno.h).
ERESTARTSYS = 512
ERESTARTNOINTR = 513
ERESTARTNOHAND = 514
ERESTART_RESTARTBLOCK = 516
EINTR = 4
EPIPE = 32
#: si_code of SIGSEGV (include/uapi/asm-generic/siginfo.h).
SEGV_MAPERR = 1
SEGV_ACCERR = 2

#: Writes that raise SIGPIPE along with EPIPE (fs/pipe.c pipe_write,
#: fs/splice.c); sockets decide per call (MSG_NOSIGNAL) in their own code.
SIGPIPE_SYSCALLS = frozenset(
    {
        sysno.WRITE,
        sysno.WRITEV,
        sysno.PWRITEV,
        sysno.PWRITEV2,
        sysno.SENDFILE,
        sysno.SPLICE,
        sysno.VMSPLICE,
        sysno.TEE,
    }
)


def restart_outcome(errno: int, *, has_handler: bool, sa_restart: bool) -> str:
    """What a restart code becomes once a signal was (or was not) handled
    (arch/x86/kernel/signal.c handle_signal and arch_do_signal_or_restart).

    Returns "restart" (re-execute the syscall), "restart_block" (re-execute
    as restart_syscall(2)) or "eintr" (fail with EINTR)."""
    if not has_handler:
        return "restart_block" if errno == ERESTART_RESTARTBLOCK else "restart"
    if errno == ERESTARTNOINTR or (errno == ERESTARTSYS and sa_restart):
        return "restart"
    return "eintr"


class Task:
    """A schedulable thread of a sandboxed process (Linux ``task_struct``)."""

    def __init__(
        self,
        kernel: Kernel,
        tid: int,
        *,
        creds: Credentials,
        fd_table: Any,
        fs: Any,
        rlimits: RLimits,
    ) -> None:
        self.kernel = kernel
        self.tid = tid
        self.tgid = tid
        #: The process this task belongs to: a new one led by this task,
        #: its own process group and session (the sandbox's init; fork
        #: replaces it with one in the parent's group and session).
        self.thread_group: ThreadGroup = ThreadGroup(self, pgid=tid, sid=tid)
        self.creds = creds
        #: a ``sentry.vfs.FDTable``
        self.fd_table = fd_table
        #: a ``sentry.vfs.FSContext``
        self.fs = fs
        self.rlimits = rlimits
        self.mm: MemoryManager = None  # type: ignore[assignment]  # set by exec before running
        self.context: Context = None  # type: ignore[assignment]  # created on the task thread
        self.regs: Any = None  # sentry.arch.Registers
        self.comm = ""
        self.exe = ""
        self.sighand = SignalHandlers()
        self.signal_mask = 0
        #: Thread-directed pending signals (tkill, faults).
        self.pending = PendingSignals()
        #: The mask rt_sigsuspend/pselect replaced, restored after delivery
        #: (Linux ``saved_sigmask``, TIF_RESTORE_SIGMASK).
        self.saved_mask: int | None = None
        #: Signals rt_sigtimedwait(2) waits for (blocked, yet they wake it).
        self.sigwait_mask = 0
        self.altstack = AltStack()
        self.clear_child_tid = 0
        #: What restart_syscall(2) runs after a syscall failed with
        #: ERESTART_RESTARTBLOCK (Linux ``restart_block``): poll and the
        #: sleeps resume with the time they had left.
        self.restart_block: Callable[[Task], int] | None = None
        self.robust_list = (0, 0)
        #: prctl(2) flags (PR_SET_DUMPABLE, PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS...)
        self.prctl_state: dict[str, int] = {}
        self.exit_status: ExitStatus | None = None
        self.nice = 0
        self.personality = 0
        self.start_time_ns = 0
        #: CPU-time account, moved by this task's thread (``cputime``).
        self.cpu = CpuAccount()
        #: Page faults the Sentry served (rusage ru_minflt).
        self.minflt = 0
        self.thread: threading.Thread | None = None
        self._killed: ExitStatus | None = None
        # A one-shot wake-up token: set by wake() (a signal, a kill, a
        # waited-for event), consumed by block().
        self._wakeup = threading.Event()
        #: The restart code of the syscall that just returned one, until
        #: signal delivery decides (arch_do_signal_or_restart).
        self._restart_errno = 0
        #: Set when a vfork child execs or exits (the parent waits on it).
        self.vfork_done: threading.Event | None = None
        #: A CLONE_VM|CLONE_VFORK child runs on its parent's thread, mm and
        #: Context until it execs: the parent it borrows them from.
        self.vfork_lender: Task | None = None

    # -- process identity (thread group hooks) --------------------------------

    @property
    def parent(self) -> Task | None:
        """The parent process's leader (None for init or a reaped orphan)."""
        tg = self.thread_group
        if tg is None or tg.parent is None:
            return None
        return tg.parent.leader

    def ppid(self) -> int:
        """The parent's thread group id in the sandbox's PID namespace (0 for init)."""
        tg = self.thread_group
        if tg is None or tg.parent is None:
            return 0
        return tg.parent.tgid

    @property
    def pgid(self) -> int:
        """The process group id (kept on the thread group)."""
        return self.thread_group.pgid

    @pgid.setter
    def pgid(self, value: int) -> None:
        self.thread_group.pgid = value

    @property
    def sid(self) -> int:
        """The session id (kept on the thread group)."""
        return self.thread_group.sid

    @sid.setter
    def sid(self, value: int) -> None:
        self.thread_group.sid = value

    def process_group_id(self) -> int:
        """getpgrp(2) of this task's process."""
        return self.thread_group.pgid

    def session_id(self) -> int:
        """getsid(0) of this task's process."""
        return self.thread_group.sid

    # -- the run loop -------------------------------------------------------

    def run(self) -> ExitStatus:
        """Run until the task exits; returns its exit status."""
        # File operations find their caller here (blocking pipe reads sleep
        # interruptibly on it, procfs answers /proc/self).
        set_current_task(self)
        try:
            status = self._loop()
        except TaskExit as exc:
            status = exc.status
            if exc.group:
                # exit_group(2) or a fatal signal: every thread ends.
                self.kernel.group_exit(self, status)
        except ContextLost as exc:
            # The host killed the stub (OOM killer) or the platform lost it.
            log.warning("task %d: %s; killed", self.tid, exc)
            status = self.fatal_signal(SIGKILL)
            self.kernel.group_exit(self, status)
        self.exit_status = status
        return status

    def _loop(self) -> ExitStatus:
        table = self.kernel.syscall_table
        handlers = table.handlers
        n_handlers = len(handlers)
        regs = self.regs
        switch = self.context.switch
        syscall_args = regs.syscall_args  # rdi rsi rdx r10 r8 r9 in one C call
        pending = self.pending
        deliver = self._deliver_signals
        # Time inside the switch is user time, outside it system time
        # (gVisor task_run.go runApp); Task.block takes sleeps out.
        enter_app = self.cpu.enter_app
        leave_app = self.cpu.leave_app
        while True:
            enter_app()
            trap = switch(self.mm.address_space, regs)
            leave_app()
            if trap.__class__ is SyscallTrap:
                nr = regs.orig_rax
                handler = handlers[nr] if 0 <= nr < n_handlers else None
                if handler is None:
                    regs.rax = -ENOSYS.errno & MASK64
                    self.kernel.log_unimplemented(nr)
                    continue
                try:
                    regs.rax = handler(self, syscall_args())
                except LinuxError as err:
                    if err.errno < ERESTARTSYS:
                        regs.rax = -err.errno & MASK64
                        if err.errno == EPIPE and nr in SIGPIPE_SYSCALLS:
                            self.kernel.send_signal(self, SIGPIPE)
                    else:
                        self._restart_errno = err.errno
                        regs.rax = -err.errno & MASK64
                except (TaskExit, ContextLost):
                    raise
                except Exception as exc:
                    self.kernel.panic(self._bug_report(nr, regs, exc))
                    raise SentryBug(f"unexpected exception in {table.name(nr)}") from exc
                # Another task (or the kernel shutting down) may have killed
                # us; a signal may be pending (kernel/entry/common.c
                # exit_to_user_mode_loop).
                if (
                    self._killed is not None
                    or (pending.mask | self.thread_group.shared_pending.mask) & ~self.signal_mask
                    or self._restart_errno
                    or self.saved_mask is not None
                ):
                    deliver()
            elif trap.__class__ is FaultTrap:
                assert isinstance(trap, FaultTrap)
                self.minflt += 1
                try:
                    handled = self.mm.handle_fault(trap.addr, trap.access)
                except LinuxError as err:
                    # No memory left to populate the page: Linux's OOM killer
                    # would SIGKILL the task (mm/oom_kill.c).
                    log.warning("task %d: cannot populate %#x: %s", self.tid, trap.addr, err)
                    return self.fatal_signal(SIGKILL)
                if not handled:
                    log.info(
                        "task %d: fault at %#x (%s) rip %#x not allowed by its mapping",
                        self.tid, trap.addr, trap.access, regs.rip,
                    )  # fmt: skip
                    code = SEGV_ACCERR if self.mm.vma_at(trap.addr) is not None else SEGV_MAPERR
                    self.force_signal(SigInfo.fault(SIGSEGV, code, trap.addr))
                    deliver()
            elif trap.__class__ is SignalTrap:
                assert isinstance(trap, SignalTrap)
                log.info("task %d: signal %d at rip %#x", self.tid, trap.signo, regs.rip)
                self.force_signal(SigInfo.fault(trap.signo, trap.code, trap.addr))
                deliver()
            elif trap.__class__ is Interrupted:
                deliver()
            else:
                raise SentryBug(f"platform returned an unknown trap {trap!r}")

    def _deliver_signals(self) -> None:
        from sentry.kernel.signal_delivery import deliver_signals

        deliver_signals(self)

    def _bug_report(self, nr: int, regs: Any, exc: BaseException) -> str:
        args = (regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9)
        name = self.kernel.syscall_table.name(nr)
        detail = "".join(traceback.format_exception(exc))
        return (
            f"Sentry bug: task {self.tid} ({self.comm}) syscall {name}"
            f"({', '.join(hex(a) for a in args)}) raised:\n{detail}"
        )

    def fatal_signal(self, signo: int) -> ExitStatus:
        """End the thread group with ``signo``'s default action now."""
        log.info("task %d (%s) killed by signal %d", self.tid, self.comm, signo)
        return ExitStatus(signo=signo)

    # -- signals ----------------------------------------------------------------

    def send_signal(self, signo: int, info: SigInfo | None = None) -> None:
        """Send ``signo`` to this thread (tkill semantics); see
        ``Kernel.send_signal``. Delivery happens on the task's own thread
        before it next returns to the application."""
        self.kernel.send_signal(self, signo, info)

    def force_signal(self, info: SigInfo) -> None:
        """A synchronous signal the task caused (a fault): if blocked or
        ignored it is unblocked and reset to the default, so it cannot be
        lost (kernel/signal.c force_sig_info_to_task)."""
        from sentry.kernel.signals import SIG_IGN, SigAction, sigbit

        bit = sigbit(info.signo)
        with self.kernel.tree_lock:
            if self.sighand.get(info.signo).handler == SIG_IGN or self.signal_mask & bit:
                self.sighand.set(info.signo, SigAction())
                self.signal_mask &= ~bit
            self.pending.enqueue(info)

    def signal_pending(self) -> bool:
        """Whether an unblocked signal waits (Linux signal_pending())."""
        return bool((self.pending.mask | self.thread_group.shared_pending.mask) & ~self.signal_mask)

    def kill(self, status: ExitStatus) -> None:
        """Ask the task to stop with ``status`` (from another thread)."""
        if self._killed is None:
            self._killed = status
        self.notify_signal()

    @property
    def killed(self) -> ExitStatus | None:
        """The status a SIGKILL or the kernel's shutdown imposed, if any."""
        return self._killed

    def notify_signal(self) -> None:
        """A signal or kill is pending: wake the task if it sleeps in
        ``block`` (or make its next ``block`` return at once) and kick it
        out of application code, so it looks at its signals. Thread safe
        (Linux signal_wake_up)."""
        self._wakeup.set()
        ctx = self.context
        if ctx is not None:
            ctx.interrupt()

    def interrupted(self) -> bool:
        """Whether a blocking syscall of this task must give up now: it was
        killed or an unblocked signal is pending. The syscall then raises
        ERESTARTSYS (or ERESTARTNOHAND...) and the run loop applies Linux's
        restart rules once the signal is handled."""
        return (
            self._killed is not None or self.signal_pending() or bool(self.thread_group.stopped_by)
        )

    def block(self, timeout: float | None) -> bool:
        """Sleep up to ``timeout`` seconds (forever if None) unless woken
        (``wake``) or interrupted; returns True if interrupted.

        A caller waiting for a condition re-checks it after every return: a
        wake-up only says "look again" (Linux's wait-queue loop in
        include/linux/wait.h ___wait_event)."""
        if self.interrupted():
            return True
        enter_blocked(self)
        try:
            self._wakeup.wait(timeout)
        finally:
            leave_blocked(self)
        # Cleared after the wait: a wake-up that lands between the wait and
        # the clear is not lost, because the caller re-checks its condition.
        self._wakeup.clear()
        return self.interrupted()

    def sleep_uninterruptibly(self, event: threading.Event, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds on ``event`` without counting the
        time as CPU time (a group stop, a vfork parent); returns whether it
        was set."""
        enter_blocked(self)
        try:
            return event.wait(timeout)
        finally:
            leave_blocked(self)

    def wake(self) -> None:
        """Make ``block`` return so the task re-checks what it waits for (a
        wait queue it sleeps on became ready); this does not interrupt it."""
        self._wakeup.set()

    def release(self) -> None:
        """Free the task's address space and context (on its own thread)."""
        if self.vfork_lender is not None:
            return  # borrowed from the vfork parent
        if self.mm is not None:
            self.mm.release()
        if self.context is not None:
            self.context.release()
