"""The process tree and signal sending (kernel/signal.c send_signal,
do_notify_parent, do_signal_stop; kernel/exit.c exit_notify,
forget_original_parent; gVisor ``kernel/task_exit.go``, ``task_signals.go``).

A mixin of ``Kernel``: every method runs under ``tree_lock`` where it reads
or changes the tree, pending signals or stop state.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING

from sentry.kernel import timers
from sentry.kernel.cputime import NS_PER_CLOCK_TICK, reaped_usage, task_exited
from sentry.kernel.exit import ExitStatus
from sentry.kernel.sessions import session_leader_exited
from sentry.kernel.signals import (
    CLD_CONTINUED,
    CLD_EXITED,
    CLD_KILLED,
    CLD_STOPPED,
    SA_NOCLDSTOP,
    SA_NOCLDWAIT,
    SI_KERNEL,
    SIG_DFL,
    SIG_IGN,
    SIGCHLD,
    SIGCONT,
    SIGKILL,
    STOP_SIGNALS,
    SigInfo,
    default_action,
    sigbit,
)
from sentry.kernel.thread_group import ThreadGroup
from sentry.vfs.inode import POLLIN

if TYPE_CHECKING:
    from sentry.kernel.task import Task

log = logging.getLogger("sentry.kernel")

_STOP_MASK = sum(sigbit(s) for s in STOP_SIGNALS)


class ProcessTree:
    """Process tree operations of the Kernel."""

    tree_lock: threading.RLock
    thread_groups: dict[int, ThreadGroup]
    tasks: dict[int, Task]

    # -- sending ------------------------------------------------------------------

    def send_signal(
        self, target: Task | ThreadGroup, signo: int, info: SigInfo | None = None
    ) -> None:
        """Send ``signo`` to a thread (a Task: tkill) or a process (a
        ThreadGroup: kill). ``info`` defaults to a kernel-sent siginfo.

        Permission checks are the caller's (kill(2) and friends). Signals
        to a zombie are accepted and dropped. SIGKILL and SIGCONT act at
        once; an ignored, unblocked signal is dropped; anything else is
        queued and the chosen thread is woken (a blocked syscall is then
        interrupted, application code is kicked back into the kernel)."""
        if info is None:
            info = SigInfo(signo, SI_KERNEL)
        with self.tree_lock:
            if isinstance(target, ThreadGroup):
                tg, thread = target, None
            else:
                tg, thread = target.thread_group, target
            if tg.zombie or not tg.tasks:
                return
            leader = tg.leader
            if signo == SIGKILL:
                for t in tg.tasks:
                    t.kill(ExitStatus(signo=SIGKILL))
                return
            if signo == SIGCONT:
                self._discard(tg, _STOP_MASK)
                if tg.stopped_by:
                    tg.stopped_by = 0
                    tg.stop_unreported = False
                    tg.continued_unreported = True
                    self._notify_stop_change(tg, CLD_CONTINUED, SIGCONT)
                    for t in tg.tasks:
                        t.notify_signal()
            elif signo in STOP_SIGNALS:
                self._discard(tg, sigbit(SIGCONT))
            act = leader.sighand.get(signo)
            bit = sigbit(signo)
            if thread is not None:
                blocked = bool(thread.signal_mask & bit)
            else:
                blocked = all(t.signal_mask & bit for t in tg.tasks)
            ignored = act.handler == SIG_IGN or (
                act.handler == SIG_DFL and default_action(signo) == "ignore"
            )
            if ignored and not blocked:
                return
            queue = thread.pending if thread is not None else tg.shared_pending
            if not queue.enqueue(info):
                return
            # fs/signalfd.c signalfd_notify: readers of the signal, blocked or not.
            (thread or leader).sighand.signalfd_queue.notify(POLLIN)
            wake = thread if thread is not None else self._pick_thread(tg, bit)
            if wake is not None and (not wake.signal_mask & bit or wake.sigwait_mask & bit):
                wake.notify_signal()

    @staticmethod
    def _pick_thread(tg: ThreadGroup, bit: int) -> Task | None:
        # kernel/signal.c complete_signal: the first thread that wants it
        # (does not block it, or waits for it in sigtimedwait), leader first.
        for t in tg.tasks:
            if not t.signal_mask & bit or t.sigwait_mask & bit:
                return t
        return tg.leader

    @staticmethod
    def _discard(tg: ThreadGroup, mask: int) -> None:
        tg.shared_pending.discard(mask)
        for t in tg.tasks:
            t.pending.discard(mask)

    def process_group(self, pgid: int) -> list[ThreadGroup]:
        """The live processes of process group ``pgid``."""
        with self.tree_lock:
            return [tg for tg in self.thread_groups.values() if tg.pgid == pgid and not tg.zombie]

    def send_group_signal(self, pgid: int, signo: int, info: SigInfo | None = None) -> int:
        """Send to every process of a process group (kill(-pgid), the tty's
        ISIG); returns how many processes got it."""
        members = self.process_group(pgid)
        for tg in members:
            self.send_signal(tg, signo, info)
        return len(members)

    # -- stops -----------------------------------------------------------------------

    def stop_group(self, t: Task, signo: int) -> None:
        """Default action of a stop signal (do_signal_stop): the process
        stops, the parent hears of it, and the task sleeps until SIGCONT or
        SIGKILL."""
        tg = t.thread_group
        with self.tree_lock:
            if t.killed is not None:
                return
            tg.stopped_by = signo
            tg.stop_unreported = True
            tg.continued_unreported = False
            self._notify_stop_change(tg, CLD_STOPPED, signo)
            # Every other thread stops too when it next looks at its
            # signals (group stop: kernel/signal.c do_signal_stop).
            for other in tg.tasks:
                if other is not t:
                    other.notify_signal()
        self.park_stopped(t)

    def park_stopped(self, t: Task) -> None:
        """Sleep while ``t``'s process is stopped (until SIGCONT or SIGKILL)."""
        tg = t.thread_group
        while True:
            with self.tree_lock:
                if not tg.stopped_by or t.killed is not None:
                    return
            t.sleep_uninterruptibly(t._wakeup, 0.5)
            t._wakeup.clear()

    def _notify_stop_change(self, tg: ThreadGroup, code: int, signo: int) -> None:
        # do_notify_parent_cldstop: SIGCHLD unless SA_NOCLDSTOP; waiters wake.
        parent = tg.parent
        if parent is None or parent.zombie:
            return
        act = parent.leader.sighand.get(SIGCHLD)
        if not act.flags & SA_NOCLDSTOP:
            uid = tg.leader.creds.uid
            self.send_signal(parent, SIGCHLD, SigInfo.child(code, tg.tgid, uid, signo))
        for p in parent.tasks:
            p.wake()

    # -- exit --------------------------------------------------------------------------

    def exit_process(self, t: Task, status: ExitStatus) -> None:
        """The last thread of ``t``'s process ended (on its own thread, after
        its mm was released): close its files, hand its children to a
        reaper, become a zombie and tell the parent (kernel/exit.c
        do_exit, exit_notify)."""
        tg = t.thread_group
        if tg is None:
            return
        if t.vfork_done is not None:
            t.vfork_done.set()
        if t.fd_table is not None:
            t.fd_table.close_all()
        timers.on_exit(t)
        if tg.sid == tg.tgid:
            # A session leader's death hangs up its controlling terminal
            # (kernel/exit.c do_exit -> disassociate_ctty(1)).
            session_leader_exited(t)
        with self.tree_lock:
            if t in tg.tasks:
                task_exited(t)
                tg.tasks.remove(t)
            tg.exit_status = status
            tg.stopped_by = 0
            self._reparent_children(tg)
            tg.zombie = True
            parent = tg.parent
            if parent is None:
                # init (or an orphan that nobody reaps): nothing waits.
                if tg.tgid != 1:
                    self._reap(tg)
                return
            if tg.exit_signal == SIGCHLD:
                act = parent.leader.sighand.get(SIGCHLD)
                if act.handler == SIG_IGN or act.flags & SA_NOCLDWAIT:
                    # The parent asked not to see zombies (kernel/exit.c
                    # do_notify_parent: autoreap); wait(2) gets ECHILD.
                    self._reap(tg)
                    for p in parent.tasks:
                        p.wake()
                    return
            if tg.exit_signal:
                self.send_signal(parent, tg.exit_signal, self._child_info(tg, status))
            for p in parent.tasks:
                p.wake()

    @staticmethod
    def _child_info(tg: ThreadGroup, status: ExitStatus) -> SigInfo:
        uid = tg.leader.creds.uid
        # The dead process's CPU time in clock ticks (kernel/signal.c
        # do_notify_parent: si_utime/si_stime); every thread's is in dead_cpu.
        utime, stime = (ns // NS_PER_CLOCK_TICK for ns in tg.dead_cpu)
        if status.signo:
            # No core files are written in the sandbox: never CLD_DUMPED.
            return SigInfo.child(CLD_KILLED, tg.tgid, uid, status.signo, utime=utime, stime=stime)
        return SigInfo.child(CLD_EXITED, tg.tgid, uid, status.code & 0xFF, utime=utime, stime=stime)

    def _reaper_for(self, tg: ThreadGroup) -> ThreadGroup | None:
        # kernel/exit.c find_new_reaper: the nearest live subreaper ancestor,
        # else init.
        p = tg.parent
        while p is not None:
            if p.child_subreaper and not p.zombie:
                return p
            p = p.parent
        init = self.thread_groups.get(1)
        if init is None or init.zombie or init is tg:
            return None
        return init

    def _reparent_children(self, tg: ThreadGroup) -> None:
        reaper = self._reaper_for(tg)
        children, tg.children = tg.children, []
        for child in children:
            child.parent = reaper
            for ct in child.tasks:
                sig = ct.prctl_state.get("pdeathsig", 0)
                if sig:
                    self.send_signal(ct, sig, SigInfo(sig, SI_KERNEL))
            if reaper is None:
                if child.zombie:
                    self._reap(child)
                continue
            reaper.children.append(child)
            if child.zombie:
                # A zombie the reaper must hear about (reparent_leader).
                status = child.exit_status or ExitStatus()
                if child.exit_signal:
                    self.send_signal(reaper, child.exit_signal, self._child_info(child, status))
                for p in reaper.tasks:
                    p.wake()

    def _reap(self, tg: ThreadGroup) -> None:
        """Free a zombie's pid (release_task)."""
        tg.reaped = True
        if tg.parent is not None and tg in tg.parent.children:
            tg.parent.children.remove(tg)
        self.thread_groups.pop(tg.tgid, None)

    def reap(self, tg: ThreadGroup) -> None:
        """wait(2) collected ``tg``: its CPU time and that of the children
        it reaped go to the parent (kernel/exit.c wait_task_zombie)."""
        with self.tree_lock:
            if tg.parent is not None:
                tg.parent.children_usage.add(reaped_usage(tg, self.tree_lock))
            self._reap(tg)

    def live_counts(self) -> dict[str, int]:
        """Tasks, unreaped processes, zombies and the Sentry's host child
        processes (the ptrace platform's stubs): what leak checks assert."""
        with self.tree_lock:
            zombies = sum(1 for tg in self.thread_groups.values() if tg.zombie)
            return {
                "tasks": len(self.tasks),
                "thread_groups": len(self.thread_groups),
                "zombies": zombies,
                "host_children": host_children(),
            }


def host_children() -> int:
    """How many host processes the Sentry process has as children
    (/proc/self/task/*/children; stubs are children of task threads)."""
    total = 0
    try:
        threads = os.listdir("/proc/self/task")
    except OSError:
        return -1
    for tid in threads:
        try:
            with open(f"/proc/self/task/{tid}/children") as f:
                total += len(f.read().split())
        except OSError:
            continue
    return total
