"""Creating a child process (kernel/fork.c copy_process, kernel_clone;
gVisor ``kernel/task_clone.go``).

The child gets a copy-on-write copy of the parent's memory (``mm.fork``)
mirrored by a fresh platform AddressSpace, copies of the descriptor table,
fs context, dispositions and limits, and its own host thread with its own
platform Context. The ptrace platform starts the child's stub lazily, on
the child's thread, at its first switch.

CLONE_THREAD (pthread_create) adds a task to the caller's thread group: it
shares the mm (and the platform AddressSpace; each thread has its own
Context), the signal handlers (CLONE_SIGHAND), the descriptor table
(CLONE_FILES), the fs context (CLONE_FS) and the limits, and keeps its own
registers, TLS (CLONE_SETTLS), signal mask, pending signals and alternate
stack. CLONE_FILES and CLONE_FS are honoured only with CLONE_THREAD.

CLONE_VM|CLONE_VFORK (vfork(2), posix_spawn) shares the memory for real:
the parent sleeps until the child execs or exits, so the child runs on the
parent's host thread, in the parent's mm and platform Context (on ptrace
the same stub), and moves to a thread of its own when its execve succeeds
(``VforkHandoff``). CLONE_VM without CLONE_VFORK and without CLONE_THREAD
gets a copy-on-write copy (the child cannot write into its parent's memory).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from sentry.abi.errors import EAGAIN, EINTR, EINVAL, LinuxError
from sentry.kernel.cputime import enter_blocked, leave_blocked
from sentry.kernel.signals import SS_DISABLE, AltStack, SignalHandlers
from sentry.kernel.thread_group import ThreadGroup

if TYPE_CHECKING:
    from sentry.kernel.task import Task

log = logging.getLogger("sentry.kernel")

CSIGNAL = 0x000000FF
CLONE_VM = 0x00000100
CLONE_FS = 0x00000200
CLONE_FILES = 0x00000400
CLONE_SIGHAND = 0x00000800
CLONE_PIDFD = 0x00001000
CLONE_PTRACE = 0x00002000
CLONE_VFORK = 0x00004000
CLONE_PARENT = 0x00008000
CLONE_THREAD = 0x00010000
CLONE_NEWNS = 0x00020000
CLONE_SYSVSEM = 0x00040000
CLONE_SETTLS = 0x00080000
CLONE_PARENT_SETTID = 0x00100000
CLONE_CHILD_CLEARTID = 0x00200000
CLONE_DETACHED = 0x00400000
CLONE_UNTRACED = 0x00800000
CLONE_CHILD_SETTID = 0x01000000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_IO = 0x80000000

#: Flags this kernel honours; the rest (namespaces, CLONE_PIDFD) are
#: refused with EINVAL.
SUPPORTED = (
    CSIGNAL | CLONE_VM | CLONE_VFORK | CLONE_PARENT | CLONE_SYSVSEM | CLONE_SETTLS
    | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID | CLONE_DETACHED | CLONE_UNTRACED
    | CLONE_CHILD_SETTID | CLONE_IO | CLONE_PTRACE | CLONE_THREAD | CLONE_SIGHAND
    | CLONE_FILES | CLONE_FS
)  # fmt: skip
#: Sharing flags only a thread may use here (shared tables between
#: processes are not offered).
THREAD_ONLY = CLONE_FILES | CLONE_FS


class CloneArgs:
    """clone(2)/clone3(2) arguments."""

    __slots__ = ("child_tid", "flags", "parent_tid", "stack", "tls")

    flags: int
    stack: int
    parent_tid: int
    child_tid: int
    tls: int

    def __init__(
        self,
        flags: int,
        stack: int = 0,
        parent_tid: int = 0,
        child_tid: int = 0,
        tls: int = 0,
    ) -> None:
        self.flags = flags
        self.stack = stack
        self.parent_tid = parent_tid
        self.child_tid = child_tid
        self.tls = tls

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{n}={getattr(self, n)!r}"
            for n in ("flags", "stack", "parent_tid", "child_tid", "tls")
        )
        return f"CloneArgs({fields})"


def check_flags(flags: int) -> None:
    """EINVAL for combinations Linux refuses and for what is unsupported."""
    # kernel/fork.c copy_process
    if flags & CLONE_THREAD and not flags & CLONE_SIGHAND:
        raise EINVAL
    if flags & CLONE_SIGHAND and not flags & CLONE_VM:
        raise EINVAL
    unsupported = flags & ~SUPPORTED
    if flags & THREAD_ONLY and not flags & CLONE_THREAD:
        unsupported |= flags & THREAD_ONLY
    if unsupported:
        log.warning(
            "clone flags %#x are not supported (threads, shared tables, namespaces)", unsupported
        )
        raise EINVAL("unsupported clone flags")


def clone(parent: Task, args: CloneArgs) -> int:
    """Create and start the child; returns its pid (in the parent)."""
    check_flags(args.flags)
    if args.flags & CLONE_THREAD:
        return _clone_thread(parent, args)
    flags = args.flags
    kernel = parent.kernel
    from sentry.kernel.task import Task

    tid = kernel.alloc_tid()
    child = Task(
        kernel,
        tid,
        creds=parent.creds.copy(),
        fd_table=parent.fd_table.fork() if parent.fd_table is not None else None,
        fs=parent.fs.fork() if parent.fs is not None else None,
        rlimits=parent.rlimits.copy(),
    )
    fp = parent.context.fp_state(parent.mm.address_space)
    shared_vm = flags & (CLONE_VM | CLONE_VFORK) == CLONE_VM | CLONE_VFORK
    if shared_vm:
        child.mm = parent.mm
        child.vfork_lender = parent
    else:
        try:
            regs = parent.regs
            child.mm = parent.mm.fork(
                kernel.platform.new_address_space(), hot=(regs.rsp, regs.fs_base, regs.rip)
            )
        except LinuxError:
            if child.fd_table is not None:
                child.fd_table.close_all()
            raise
        except MemoryError as exc:
            raise EAGAIN from exc
    _copy_thread_state(parent, child, args)
    if flags & CLONE_SIGHAND:
        child.sighand = parent.sighand
    else:
        handlers = SignalHandlers()
        handlers.actions = list(parent.sighand.actions)
        child.sighand = handlers
    alt = parent.altstack
    if flags & (CLONE_VM | CLONE_VFORK) != CLONE_VM and alt.flags != SS_DISABLE:
        child.altstack = AltStack(alt.sp, alt.flags, alt.size)
    ptg = parent.thread_group
    tg = ThreadGroup(child, pgid=ptg.pgid, sid=ptg.sid)
    tg.exit_signal = flags & CSIGNAL
    child.thread_group = tg
    if flags & CLONE_PARENT_SETTID:
        parent.mm.copy_out(args.parent_tid, tid.to_bytes(4, "little"))
    if flags & CLONE_VFORK:
        child.vfork_done = threading.Event()
    with kernel.tree_lock:
        tg.parent = ptg.parent if flags & CLONE_PARENT else ptg
        if tg.parent is not None:
            tg.parent.children.append(tg)
        kernel.thread_groups[tid] = tg
    set_child_tid = args.child_tid if flags & CLONE_CHILD_SETTID else 0
    if shared_vm:
        _run_on_lender(parent, child, fp, set_child_tid)
        return tid
    kernel.start_task(child, fp=fp, set_child_tid=set_child_tid)
    if child.vfork_done is not None:
        # kernel/fork.c wait_for_vfork_done: killable only.
        while not parent.sleep_uninterruptibly(child.vfork_done, 0.05):
            if parent.killed is not None:
                break
    return tid


def _copy_thread_state(parent: Task, child: Task, args: CloneArgs) -> None:
    """Registers, TLS and the per-task state every kind of child inherits."""
    regs = parent.regs.copy()
    regs.rax = 0
    if args.stack:
        regs.rsp = args.stack
    if args.flags & CLONE_SETTLS:
        regs.fs_base = args.tls
    child.regs = regs
    child.comm = parent.comm
    child.exe = parent.exe
    child.signal_mask = parent.signal_mask
    # A CLONE_VM child starts without an alternate stack (kernel/fork.c
    # copy_process: sas_ss_reset when sharing the mm); callers copy it otherwise.
    child.altstack = AltStack()
    child.prctl_state = {k: v for k, v in parent.prctl_state.items() if k != "pdeathsig"}
    child.nice = parent.nice
    child.personality = parent.personality
    if args.flags & CLONE_CHILD_CLEARTID:
        child.clear_child_tid = args.child_tid


def _clone_thread(parent: Task, args: CloneArgs) -> int:
    """CLONE_THREAD: a new task in the caller's thread group (pthread_create)."""
    flags = args.flags
    kernel = parent.kernel
    if not kernel.platform.supports_threads:
        log.warning(
            "the %s platform cannot run threads: clone(CLONE_THREAD) fails with EAGAIN",
            type(kernel.platform).__name__,
        )
        raise EAGAIN("platform without threads")
    from sentry.kernel.task import Task

    tid = kernel.alloc_tid()
    child = Task(
        kernel,
        tid,
        creds=parent.creds.copy(),
        fd_table=parent.fd_table if flags & CLONE_FILES else _fork_table(parent.fd_table),
        fs=parent.fs if flags & CLONE_FS or parent.fs is None else parent.fs.fork(),
        rlimits=parent.rlimits,
    )
    fp = parent.context.fp_state(parent.mm.address_space)
    child.mm = parent.mm
    child.sighand = parent.sighand
    _copy_thread_state(parent, child, args)
    ptg = parent.thread_group
    child.tgid = ptg.tgid
    child.thread_group = ptg
    if flags & CLONE_PARENT_SETTID:
        parent.mm.copy_out(args.parent_tid, tid.to_bytes(4, "little"))
    with kernel.tree_lock:
        if ptg.group_exit_status is not None or ptg.exec_task is not None:
            # The group is dying or exec'ing (kernel/fork.c copy_process:
            # fatal_signal_pending / SIGNAL_GROUP_EXIT -> EINTR).
            if child.fd_table is not None and not flags & CLONE_FILES:
                child.fd_table.close_all()
            raise EINTR
        ptg.tasks.append(child)
    set_child_tid = args.child_tid if flags & CLONE_CHILD_SETTID else 0
    try:
        kernel.start_task(child, fp=fp, set_child_tid=set_child_tid, confirm=True)
    except LinuxError:
        with kernel.tree_lock:
            ptg.tasks.remove(child)
        if child.fd_table is not None and not flags & CLONE_FILES:
            child.fd_table.close_all()
        raise
    return tid


def _fork_table(fd_table: Any) -> Any:
    return fd_table.fork() if fd_table is not None else None


class VforkHandoff(BaseException):
    """Raised by a successful execve of a child that runs on its vfork
    parent's thread: the child continues on a thread of its own. A
    BaseException so that no syscall error handling catches it."""


def _run_on_lender(parent: Task, child: Task, fp: bytes, set_child_tid: int) -> None:
    """Run a CLONE_VM|CLONE_VFORK child on the parent's thread until it
    execs (then hand it its own thread) or exits."""
    from sentry.vfs.context import set_current_task

    kernel = parent.kernel
    child.context = parent.context
    with kernel._lock:
        kernel.tasks[child.tid] = child
    if set_child_tid:
        try:
            child.mm.copy_out(set_child_tid, child.tid.to_bytes(4, "little"))
        except LinuxError:
            pass
    # The parent sleeps while its thread runs the child: none of that
    # time is the parent's.
    enter_blocked(parent)
    try:
        status = child.run()
    except VforkHandoff:
        child.context = None  # type: ignore[assignment]
        child.vfork_lender = None
        kernel.start_task(child)
    else:
        # The child exited without exec: its memory and context are the
        # parent's, so only its process state ends here.
        with kernel._lock:
            kernel.tasks.pop(child.tid, None)
        kernel.exit_process(child, status)
    finally:
        leave_blocked(parent)
        set_current_task(parent)
        # The stub thread carried the child's FP state: give the parent back its own.
        parent.context.set_fp_state(parent.mm.address_space, fp)
