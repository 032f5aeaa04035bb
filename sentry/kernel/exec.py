"""execve: replace a task's address space with a freshly loaded program
(fs/exec.c, gVisor ``kernel/task_exec.go``).

The new MemoryManager is built completely before the old one is released, so
a failed exec leaves the caller running with an error, and the platform's
address space is created on the task's own thread. Only then are the
caller's other threads killed (``Kernel.de_thread``); a non-leader caller
takes over the leader's pid."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sentry.abi.mm import PAGE_SIZE
from sentry.arch import Registers
from sentry.kernel import timers
from sentry.kernel.mapfile import pinned_mappable
from sentry.kernel.rlimits import RLIM_INFINITY, RLIMIT_STACK
from sentry.kernel.robust_futex import mm_release
from sentry.kernel.signals import DEFAULT_ACTION, SIG_DFL, SIG_IGN, AltStack
from sentry.loader.loader import ExecFile, ExecIdentity, ExecOpener, load
from sentry.mm import Mappable, MemoryManager

if TYPE_CHECKING:
    from sentry.kernel.task import Task

O_RDONLY = 0


class _OpenedExec:
    __slots__ = ("mappable", "path")

    mappable: Mappable
    path: str

    def __init__(
        self,
        mappable: Mappable,
        path: str,
    ) -> None:
        self.mappable = mappable
        self.path = path

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in ("mappable", "path"))
        return f"_OpenedExec({fields})"


def _opener(t: Task, fs: Any) -> ExecOpener:
    vfs = t.kernel.vfs

    def open_exec(path: bytes) -> ExecFile:
        vd = vfs.resolve(fs, path, t.creds)
        vfs.check_exec(t.creds, vd)  # EACCES: not a regular file or no x bit
        desc = vfs.open_path(fs, path, O_RDONLY, 0, t.creds)
        return _OpenedExec(pinned_mappable(desc), desc.path_name())

    return open_exec


def exec_into(
    t: Task, filename: bytes, argv: list[bytes], envp: list[bytes], *, fs: Any = None
) -> None:
    """Load ``filename`` into ``t`` (which must run on its own thread).

    ``fs`` resolves the file (execveat's directory); the task's own
    FSContext by default. Interpreters named by ``#!`` resolve the same way."""
    kernel = t.kernel
    platform = kernel.platform
    stack_soft = t.rlimits.soft(RLIMIT_STACK)
    stack_limit = 8 << 20 if stack_soft == RLIM_INFINITY else max(stack_soft, 32 * PAGE_SIZE)
    mm = MemoryManager(
        kernel.memory_file,
        platform.new_address_space(),
        platform.min_user_address,
        platform.max_user_address,
        file_cache=kernel.file_cache,
        stack_limit=min(stack_limit, 1 << 30),
    )
    c = t.creds
    ident = ExecIdentity(c.uid, c.euid, c.gid, c.egid, secure=False)
    try:
        result = load(
            mm, _opener(t, fs if fs is not None else t.fs), filename, argv, envp, ident=ident
        )
        # Past the point of no return: a multi-threaded caller becomes the
        # only thread (fs/exec.c begin_new_exec -> de_thread), then its
        # robust futexes are released (exec_mm_release).
        kernel.de_thread(t)
        mm_release(t, shared=False)
        mm.populate_image(result.entry)
        mm.mirror_populated()
    except BaseException:
        mm.release()
        raise
    old = t.mm
    t.mm = mm
    if old is not None and t.vfork_lender is None:
        old.release()
    fresh = Registers()
    fresh.rip = result.entry
    fresh.rsp = result.stack_pointer
    if t.regs is None:
        t.regs = fresh
    else:
        t.regs.load(fresh)  # in place: the run loop holds this object
    t.comm = result.comm
    t.exe = result.exe
    # fs/exec.c: handled signals revert to the default, ignored stay ignored;
    # the alternate stack is cleared; close-on-exec descriptors close.
    for signo, action in enumerate(t.sighand.actions):
        if action.handler not in (SIG_DFL, SIG_IGN):
            t.sighand.actions[signo] = DEFAULT_ACTION
    t.altstack = AltStack()
    if t.fd_table is not None:
        t.fd_table.close_on_exec()
    timers.on_exec(t)
    # fs/exec.c exec_mm_release: a vfork parent resumes once the child has
    # its own image.
    if t.vfork_done is not None:
        t.vfork_done.set()
        t.vfork_done = None
    if t.vfork_lender is not None:
        # The child ran on its vfork parent's thread and mm: it now has its
        # own image and continues on a thread of its own.
        from sentry.kernel.fork import VforkHandoff

        raise VforkHandoff
