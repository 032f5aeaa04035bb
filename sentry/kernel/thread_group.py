"""Thread groups (processes) and the process tree (Linux ``signal_struct``
plus the parent/child links of ``task_struct``; gVisor ``kernel.ThreadGroup``).

A ThreadGroup is what wait(2) reaps and what a process-directed signal
targets. Tasks are single-threaded processes in this part (clone without
CLONE_THREAD only), so a group has exactly one task, its leader; the state
that Linux keeps per process lives here so threads can join later.

All tree fields (``parent``, ``children``, ``zombie``, ``stop_*``) are
protected by the Kernel's ``tree_lock``; waiters sleep on the parent's
tasks (``Task.block``) and are woken by ``Kernel.notify_parent``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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

    @property
    def is_clone_child(self) -> bool:
        """A child that does not signal SIGCHLD (wait needs __WCLONE)."""
        return self.exit_signal != SIGCHLD

    def __repr__(self) -> str:
        state = "zombie" if self.zombie else ("stopped" if self.stopped_by else "live")
        return f"<ThreadGroup {self.tgid} {state}>"
