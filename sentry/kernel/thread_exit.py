"""How the threads of a process end (kernel/exit.c do_exit, do_group_exit,
exit_notify; fs/exec.c de_thread; gVisor ``kernel/task_exit.go``).

A mixin of ``Kernel``. Every task ends through ``exit_task`` on its own host
thread: its robust futexes and clear_child_tid word are handled while the mm
still lives, it leaves its thread group, and only the last thread releases
the mm and makes the process a zombie (``exit_process``). A leader that
ends first stays in ``Kernel.tasks`` (its pid and /proc entry live on, as
Linux's zombie leader) until the last thread goes.

``group_exit`` is exit_group(2) and the fatal-signal path: it records the
group's status and kills the other threads. ``de_thread`` is execve from a
thread: the others are killed without ending the group, and a non-leader
caller takes over the leader's pid.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from sentry.kernel.cputime import task_exited
from sentry.kernel.exit import ExitStatus, TaskExit
from sentry.kernel.process_tree import ProcessTree
from sentry.kernel.robust_futex import mm_release
from sentry.kernel.signals import SIGKILL

if TYPE_CHECKING:
    from sentry.kernel.task import Task

log = logging.getLogger("sentry.kernel")


class ThreadExit(ProcessTree):
    """Thread exit operations of the Kernel (on top of the process tree)."""

    _lock: threading.Lock

    def group_exit(self, t: Task, status: ExitStatus) -> None:
        """exit_group(2) or a fatal signal in ``t``: the whole process ends
        with ``status`` (do_group_exit / zap_other_threads)."""
        tg = t.thread_group
        with self.tree_lock:
            if tg.exec_task is not None and tg.exec_task is not t:
                return  # killed by an exec in another thread: not a group exit
            if tg.group_exit_status is None:
                tg.group_exit_status = status
            status = tg.group_exit_status
            others = [o for o in tg.tasks if o is not t]
        for o in others:
            o.kill(status)

    def exit_task(self, t: Task, status: ExitStatus) -> None:
        """``t`` stopped running with ``status``: leave the group, and end
        the process if it was the last thread."""
        tg = t.thread_group
        if t.vfork_lender is None:
            with self.tree_lock:
                shared = len(tg.tasks) > 1
            try:
                mm_release(t, shared=shared)
            except Exception as exc:  # keep exiting; the report names the bug
                log.exception("task %d: mm_release failed: %s", t.tid, exc)
        # The thread's own Context goes first, on its own host thread, while
        # it still counts as live: when the last thread releases the mm (and
        # the platform AddressSpace with it), no other thread of the process
        # is still tearing down its Context (on ptrace: retiring its stub
        # thread while the address space's stub process is killed).
        if t.vfork_lender is None:
            ctx, t.context = t.context, None  # type: ignore[assignment]
            if ctx is not None:
                try:
                    ctx.release()
                except Exception as exc:  # keep exiting; report the cleanup failure
                    log.exception("releasing the context of task %d failed: %s", t.tid, exc)
        with self.tree_lock:
            if t in tg.tasks:
                task_exited(t)
                tg.tasks.remove(t)
            last = not tg.tasks
            was_leader = t is tg.leader
            final = tg.final_status(status)
            exec_task = tg.exec_task
        try:
            if last:
                t.release()
            elif t.fd_table is not None and all(o.fd_table is not t.fd_table for o in tg.tasks):
                t.fd_table.close_all()  # a thread without CLONE_FILES
        except Exception as exc:  # keep the exit status; report the cleanup failure
            log.exception("releasing task %d failed: %s", t.tid, exc)
        with self._lock:
            # By identity: an exec'ing thread may already own this tid.
            if (last or not was_leader) and self.tasks.get(t.tid) is t:
                del self.tasks[t.tid]
            if last and self.tasks.get(tg.tgid) is tg.leader:
                del self.tasks[tg.tgid]
        if exec_task is not None:
            exec_task.wake()
        if last:
            self.exit_process(t, final)

    def de_thread(self, t: Task) -> None:
        """execve from a multi-threaded process (fs/exec.c de_thread): kill
        every other thread, wait until they are gone, and if ``t`` is not
        the leader give it the leader's pid. Raises TaskExit if ``t`` is
        killed meanwhile (another exec or a group exit won)."""
        tg = t.thread_group
        with self.tree_lock:
            if tg.tasks == [t] and tg.leader is t:
                return
            if tg.group_exit_status is not None or (
                tg.exec_task is not None and tg.exec_task is not t
            ):
                raise TaskExit(tg.group_exit_status or ExitStatus(signo=SIGKILL), group=False)
            tg.exec_task = t
            others = [o for o in tg.tasks if o is not t]
        for o in others:
            o.kill(ExitStatus(signo=SIGKILL))
        while True:
            with self.tree_lock:
                if tg.tasks == [t]:
                    break
            if t.killed is not None:
                with self.tree_lock:
                    tg.exec_task = None
                raise TaskExit(t.killed, group=True)
            _wait_for_exits(t)
        with self.tree_lock:
            tg.exec_task = None
            old_leader = tg.leader
            if old_leader is not t:
                with self._lock:
                    if self.tasks.get(tg.tgid) is old_leader:
                        del self.tasks[tg.tgid]
                    self.tasks.pop(t.tid, None)
                    t.tid = tg.tgid
                    self.tasks[t.tid] = t
                tg.leader = t
                # The old leader's clear_child_tid/robust list went with it.


def _wait_for_exits(t: Any) -> None:
    """Sleep until an exiting thread wakes ``t`` (exit_task does), a kill
    arrives, or a short while passes (a wake-up lost to a pending signal
    that ``block`` reports as an interruption must not spin)."""
    t._wakeup.wait(0.05)
    t._wakeup.clear()
