"""Thread groups (processes) and the process tree (Linux ``signal_struct``
plus the parent/child links of ``task_struct``; gVisor ``kernel.ThreadGroup``).

A ThreadGroup is what wait(2) reaps and what a process-directed signal
targets. ``tasks`` holds its live threads (the leader first while it
lives); the group becomes a zombie only when the last one has exited, so
a leader that ends with pthread_exit stays visible (its pid, /proc/PID)
until then, as Linux's zombie leader does.

All tree fields (``parent``, ``children``, ``zombie``, ``stop_*``) are
protected by the Kernel's ``tree_lock``; waiters sleep on the parent's
tasks (``Task.block``) and are woken by ``Kernel.notify_parent``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from sentry.kernel.cputime import Usage
from sentry.kernel.exit import ExitStatus
from sentry.kernel.signals import SIGCHLD, PendingSignals

if TYPE_CHECKING:
    from sentry.kernel.task import Task


class ThreadGroup:
    """One process."""

    def __init__(self, leader: Task, *, pgid: int, sid: int) -> None:
        self.tgid = leader.tid
        self.leader = leader
        self.tasks: list[Task] = [leader]
        self.parent: ThreadGroup | None = None
        self.children: list[ThreadGroup] = []
        #: Signal sent to the parent when this process ends (clone's
        #: exit_signal; 0 makes it a "clone" child for __WCLONE).
        self.exit_signal = SIGCHLD
        #: Process-directed pending signals (``signal_struct.shared_pending``).
        self.shared_pending = PendingSignals()
        self.pgid = pgid
        self.sid = sid
        self.exit_status: ExitStatus | None = None
        #: Exited and not yet reaped.
        self.zombie = False
        #: Reaped (or auto-reaped): its pid is free.
        self.reaped = False
        #: Group stop (SIGSTOP & co.): the signal, and whether a wait(2)
        #: with WUNTRACED has not yet reported it.
        self.stopped_by = 0
        self.stop_unreported = False
        self.continued_unreported = False
        #: PR_SET_CHILD_SUBREAPER
        self.child_subreaper = False
        #: The thread that is blocked in a vfork until this child execs or exits.
        self.vfork_parent: Task | None = None
        #: Set by exit_group(2) or a fatal signal (SIGNAL_GROUP_EXIT): the
        #: status every thread dies with and wait(2) reports.
        self.group_exit_status: ExitStatus | None = None
        #: A thread in execve that is killing the others (de_thread): their
        #: deaths do not end the group.
        self.exec_task: Task | None = None
        #: CPU time (user_ns, sys_ns) and minor faults of the threads that
        #: exited, and the largest resident set seen at a thread's exit
        #: (``signal_struct`` utime/stime/min_flt/maxrss; kernel/exit.c
        #: __exit_signal). Written under the tree lock.
        self.dead_cpu = (0, 0)
        self.dead_minflt = 0
        self.maxrss_kb = 0
        #: Usage of the children this process reaped with wait(2)
        #: (cutime/cstime/cmin_flt/cmaxrss).
        self.children_usage = Usage()
        #: CPU timers (``sentry.kernel.cpu_timers.CPUTimer``) on this
        #: process's clocks that stopped checking because every thread
        #: was blocked; a thread that wakes restarts them.
        self.parked_cpu_timers: list[Any] = []
        self._parked_lock = threading.Lock()

    def park_cpu_timer(self, timer: Any) -> None:
        """Stop checking ``timer`` until a thread of this process runs."""
        with self._parked_lock:
            if timer not in self.parked_cpu_timers:
                self.parked_cpu_timers.append(timer)

    def take_parked_cpu_timers(self) -> list[Any]:
        """The parked timers, now unparked (each is returned to one caller)."""
        with self._parked_lock:
            timers, self.parked_cpu_timers = self.parked_cpu_timers, []
        return timers

    def final_status(self, last: ExitStatus) -> ExitStatus:
        """The status wait(2) reports once the last thread (which ended
        with ``last``) is gone: the group exit's, else the last thread's
        own (Linux 6.x do_exit records the last thread's code; older
        kernels reported the leader's)."""
        if self.group_exit_status is not None:
            return self.group_exit_status
        return last

    @property
    def is_clone_child(self) -> bool:
        """A child that does not signal SIGCHLD (wait needs __WCLONE)."""
        return self.exit_signal != SIGCHLD

    def __repr__(self) -> str:
        state = "zombie" if self.zombie else ("stopped" if self.stopped_by else "live")
        return f"<ThreadGroup {self.tgid} {state}>"
