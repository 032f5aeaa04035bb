"""The Kernel: tasks, namespaces, clocks and the shared state of one sandbox
(gVisor ``kernel.Kernel``).

It is given its platform, MemoryFile, VFS and syscall table by the
composition root; it never imports a concrete platform or the syscalls.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from sentry.abi.errors import EAGAIN, LinuxError
from sentry.kernel.cgroup import CgroupRegistry
from sentry.kernel.creds import Credentials
from sentry.kernel.exec import exec_into
from sentry.kernel.exit import ExitStatus, SentryBug
from sentry.kernel.futex import FutexTable
from sentry.kernel.mq import Registry as MQRegistry
from sentry.kernel.rlimits import RLimits
from sentry.kernel.syscall_table import SyscallTable
from sentry.kernel.task import Task
from sentry.kernel.thread_exit import ThreadExit
from sentry.kernel.thread_group import ThreadGroup
from sentry.kernel.uts import UTSNamespace
from sentry.memory import MemoryFile
from sentry.mm import SharedFileCache
from sentry.platform import Platform

log = logging.getLogger("sentry.kernel")

#: Exit status of the sandbox when the Sentry itself failed (like runsc's
#: internal errors, distinct from any status a program can produce by exit).
SENTRY_BUG_STATUS = ExitStatus(code=125)


class ProcessSpec:
    """What the initial process of a sandbox is."""

    __slots__ = ("argv", "creds", "ctty", "envp", "fd_table", "filename", "fs", "rlimits")

    filename: bytes
    argv: list[bytes]
    envp: list[bytes]
    creds: Credentials
    fd_table: Any
    fs: Any
    rlimits: RLimits
    #: A terminal's JobControl to make the controlling terminal of the new
    #: process's session, with its group in the foreground, before it runs
    #: (a container's console: gVisor's ``CreateProcessArgs.TTY``).
    ctty: Any

    def __init__(  # noqa: PLR0917 - positional, as the NamedTuple's were
        self,
        filename: bytes,
        argv: list[bytes],
        envp: list[bytes],
        creds: Credentials,
        fd_table: Any,
        fs: Any,
        rlimits: RLimits,
        ctty: Any = None,
    ) -> None:
        self.filename = filename
        self.argv = argv
        self.envp = envp
        self.creds = creds
        self.fd_table = fd_table
        self.fs = fs
        self.rlimits = rlimits
        self.ctty = ctty

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{n}={getattr(self, n)!r}"
            for n in ("filename", "argv", "envp", "creds", "fd_table", "fs", "rlimits", "ctty")
        )
        return f"ProcessSpec({fields})"


class Kernel(ThreadExit):
    """One sandbox's kernel (process tree and signals: ``ProcessTree``;
    thread exits: ``ThreadExit``)."""

    def __init__(
        self,
        platform: Platform,
        memory_file: MemoryFile,
        vfs: Any,
        syscall_table: SyscallTable,
        *,
        uts: UTSNamespace | None = None,
    ) -> None:
        self.platform = platform
        self.memory_file = memory_file
        #: the ``sentry.vfs.VirtualFilesystem``
        self.vfs = vfs
        self.syscall_table = syscall_table
        self.uts = uts if uts is not None else UTSNamespace()
        #: The IPC namespace's POSIX message queues (sentry.kernel.mq).
        self.mq_registry = MQRegistry()
        #: Cgroup hierarchies cgroupfs mounts show (/proc/PID/cgroup).
        self.cgroups = CgroupRegistry()
        self.file_cache = SharedFileCache(memory_file)
        self.futexes = FutexTable()
        self.tasks: dict[int, Task] = {}
        self.boot_time = time.clock_gettime_ns(time.CLOCK_REALTIME)
        self.boot_monotonic = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        self._lock = threading.Lock()
        #: Protects the process tree, thread groups' and tasks' pending
        #: signals and stop state (Linux's tasklist_lock + siglock in one).
        self.tree_lock = threading.RLock()
        #: Every process not yet reaped (zombies included), by tgid.
        self.thread_groups: dict[int, ThreadGroup] = {}
        self._next_tid = 1
        self._unimplemented_seen: set[int] = set()
        self.bug: str | None = None
        self._done = threading.Event()
        self._init_status: ExitStatus | None = None
        self.init_exit_counts: dict[str, int] = {}

    # -- tasks ----------------------------------------------------------------

    def alloc_tid(self) -> int:
        """A fresh pid (never reused within a sandbox's life)."""
        return self._alloc_tid()

    def start_task(
        self,
        task: Task,
        *,
        fp: bytes | None = None,
        set_child_tid: int = 0,
        confirm: bool = False,
    ) -> None:
        """Start a forked task on its own host thread: its platform Context
        is created there (and, on ptrace, its stub at the first use), its
        FP state set from the parent's (``fp``).

        With ``confirm`` the caller waits until the Context exists and gets
        EAGAIN (nothing started, the task unregistered) if the platform has
        none left (the kvm platform's vCPU limit): a new thread then fails
        like Linux's clone at a resource limit instead of stopping the
        sandbox."""
        with self._lock:
            self.tasks[task.tid] = task
        ready = threading.Event()
        refused: list[BaseException] = []
        placement = self.platform.placement()

        def body() -> None:
            try:
                try:
                    task.context = self.platform.new_context(placement)
                except (RuntimeError, OSError) as exc:
                    if not confirm:
                        raise
                    refused.append(exc)
                    return
                finally:
                    ready.set()
                if fp is not None:
                    task.context.set_fp_state(task.mm.address_space, fp)
                if set_child_tid:
                    try:
                        task.mm.copy_out(set_child_tid, task.tid.to_bytes(4, "little"))
                    except LinuxError:
                        pass  # kernel/fork.c schedule_tail ignores the fault
            except BaseException as exc:
                import traceback

                detail = "".join(traceback.format_exception(exc))
                self.panic(f"Sentry bug starting task {task.tid}: {detail}")
            self._run_task(task)

        task.thread = threading.Thread(target=body, name=f"task-{task.tid}", daemon=True)
        task.thread.start()
        if confirm:
            ready.wait()
            if refused:
                task.thread.join()
                with self._lock:
                    self.tasks.pop(task.tid, None)
                log.warning("cannot start task %d: %s", task.tid, refused[0])
                raise EAGAIN("no platform context left") from refused[0]

    def _alloc_tid(self) -> int:
        with self._lock:
            tid = self._next_tid
            self._next_tid += 1
            return tid

    def start_init(self, spec: ProcessSpec) -> Task:
        """Create the initial task, load its program on its own thread (the
        platform binds address spaces to the creating thread) and start it.

        Load errors (ENOENT, ENOEXEC, EACCES...) are raised here."""
        task = Task(
            self,
            self._alloc_tid(),
            creds=spec.creds,
            fd_table=spec.fd_table,
            fs=spec.fs,
            rlimits=spec.rlimits,
        )
        tg = task.thread_group
        if spec.ctty is not None:
            spec.ctty.attach(self, task.tid, task.tid)
        loaded = threading.Event()
        failure: list[BaseException] = []

        def body() -> None:
            try:
                task.context = self.platform.new_context()
                exec_into(task, spec.filename, spec.argv, spec.envp)
            except BaseException as exc:
                failure.append(exc)
                loaded.set()
                task.release()
                return
            with self._lock:
                self.tasks[task.tid] = task
            with self.tree_lock:
                self.thread_groups[tg.tgid] = tg
            loaded.set()
            self._run_task(task)

        task.thread = threading.Thread(target=body, name=f"task-{task.tid}", daemon=True)
        task.thread.start()
        loaded.wait()
        if failure:
            task.thread.join()
            raise failure[0]
        return task

    def _run_task(self, task: Task) -> None:
        status = SENTRY_BUG_STATUS
        try:
            task.start_time_ns = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
            status = task.killed if task.killed is not None else task.run()
        except SentryBug:
            status = SENTRY_BUG_STATUS
        except BaseException as exc:  # the run loop itself failed: a Sentry bug
            import traceback

            self.panic(f"Sentry bug in task {task.tid}: {''.join(traceback.format_exception(exc))}")
        finally:
            tg = task.thread_group
            try:
                self.exit_task(task, status)
            except Exception as exc:  # keep the exit status; report the failure
                log.exception("exit of task %d failed: %s", task.tid, exc)
                self.panic(f"Sentry bug: exit of task {task.tid} failed: {exc!r}")
            if self.bug is not None:
                status = SENTRY_BUG_STATUS
            if tg.tgid == 1 and tg.zombie:
                status = tg.exit_status or status
                # What was left when init ended, before the shutdown kills
                # the rest (``sentry run --stats``, leak tests).
                self.platform.quiesce()  # spare stubs are no leak
                self.file_cache.private.drop_all()  # nor cached program text
                self.init_exit_counts = self.live_counts()
                self.init_exit_counts["memory_pages"] = self.memory_file.allocated_pages
                # Always reached, so ``wait`` can never hang on a dead init.
                if self._init_status is None or self.bug is None:
                    self._init_status = status
                self.shutdown(status)

    def wait(self, timeout: float | None = None) -> ExitStatus | None:
        """Wait for the init task's thread group to end; its exit status."""
        if not self._done.wait(timeout):
            return None
        return self._init_status

    def shutdown(self, status: ExitStatus) -> None:
        """Stop every task (the init process ended or the Sentry failed)."""
        with self._lock:
            tasks = list(self.tasks.values())
        for task in tasks:
            task.kill(status)
        self._done.set()

    def panic(self, message: str) -> None:
        """A Sentry bug: log it loudly and stop the sandbox."""
        self.bug = message
        self._init_status = SENTRY_BUG_STATUS
        try:
            log.critical("%s", message)
            with self._lock:
                tasks = list(self.tasks.values())
            for task in tasks:
                task.kill(SENTRY_BUG_STATUS)
        finally:
            self._done.set()

    def log_unimplemented(self, nr: int) -> None:
        """ENOSYS for an unsupported syscall, logged the first time only."""
        if nr in self._unimplemented_seen:
            return
        self._unimplemented_seen.add(nr)
        log.warning("unsupported syscall %s: ENOSYS", self.syscall_table.name(nr))

    # -- clocks -----------------------------------------------------------------

    def uptime_ns(self) -> int:
        """Nanoseconds since the kernel started."""
        return time.clock_gettime_ns(time.CLOCK_MONOTONIC) - self.boot_monotonic


def load_error_message(filename: bytes, err: LinuxError) -> str:
    """How ``python -m sentry run`` reports a program that cannot start."""
    return f"cannot execute {os.fsdecode(filename)!r}: {os.strerror(err.errno)} ({err})"
