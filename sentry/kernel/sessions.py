"""Sessions, process groups and controlling terminals (kernel/sys.c,
drivers/tty/tty_jobctrl.c).

A task records its ``pgid`` and ``sid``; a process group or a session is the
set of thread group leaders carrying that id, so they need no objects of
their own beyond what is here: the map from a session to its controlling
terminal, and :class:`JobControl`, the session/foreground-group state every
terminal (a devpts pty or the host terminal the sandbox was given) keeps,
with Linux's job-control checks: a background read sends SIGTTIN, a
background write under TOSTOP or a terminal setting from the background
sends SIGTTOU, both to the caller's process group.

Signals go through ``kernel.send_signal(task, signo)`` (the ``proc``
contract). A kernel without it (Sentry part 1) gets :func:`_fallback_signal`:
a fatal default action ends the process, other signals are not delivered and
job control gives EIO, as for an orphaned process group.
"""

from __future__ import annotations

import threading
from typing import Any

from sentry.abi.errors import EINVAL, EIO, ENOTTY, EPERM, ERESTARTSYS, ESRCH
from sentry.kernel.exit import ExitStatus
from sentry.kernel.signals import DEFAULT_IGNORED, SIG_IGN

SIGHUP = 1
SIGCONT = 18
SIGTSTP = 20
SIGTTIN = 21
SIGTTOU = 22
SIGWINCH = 28
#: Signals whose default action stops the process (kernel/signal.c SIG_KERNEL_STOP_MASK).
STOP_SIGNALS = frozenset({19, SIGTSTP, SIGTTIN, SIGTTOU})
#: include/uapi/linux/capability.h
CAP_SYS_ADMIN = 21


def _leaders(kernel: Any) -> list[Any]:
    """Every process's leader, zombies included (they keep their group alive)."""
    groups = getattr(kernel, "thread_groups", None)
    if groups is not None:
        return [tg.leader for tg in list(groups.values()) if not tg.reaped]
    return [t for tid, t in list(kernel.tasks.items()) if t.tgid == tid]


def _zombie(t: Any) -> bool:
    return bool(getattr(getattr(t, "thread_group", None), "zombie", False))


def pgrp_members(kernel: Any, pgid: int) -> list[Any]:
    """The processes (thread group leaders) of process group ``pgid``."""
    return [t for t in _leaders(kernel) if t.pgid == pgid]


def pgrp_session(kernel: Any, pgid: int) -> int | None:
    """The session process group ``pgid`` belongs to (None: no such group)."""
    for t in _leaders(kernel):
        if t.pgid == pgid:
            return int(t.sid)
    return None


def is_orphaned_pgrp(kernel: Any, pgid: int) -> bool:
    """kernel/exit.c will_become_orphaned_pgrp: no member has a parent in
    another process group of the same session."""
    for t in pgrp_members(kernel, pgid):
        if _zombie(t):
            continue
        p = t.parent
        if p is not None and p.pgid != pgid and p.sid == t.sid:
            return False
    return True


def ignores_or_blocks(task: Any, signo: int) -> bool:
    """Whether ``task`` ignores (explicitly) or blocks ``signo``."""
    if task.signal_mask >> (signo - 1) & 1:
        return True
    return bool(task.sighand.get(signo).handler == SIG_IGN)


def _fallback_signal(task: Any, signo: int) -> bool:
    """Part-1 delivery: only a default fatal action can be carried out."""
    if ignores_or_blocks(task, signo) or task.sighand.get(signo).handler != 0:
        return False
    if signo in DEFAULT_IGNORED or signo in STOP_SIGNALS or signo == SIGWINCH:
        return False
    for t in list(task.kernel.tasks.values()):
        if t.tgid == task.tgid:
            t.kill(ExitStatus(signo=signo))
    return True


def can_signal(kernel: Any) -> bool:
    """Whether the kernel delivers signals (stops included)."""
    return callable(getattr(kernel, "send_signal", None))


def signal_pgrp(kernel: Any, pgid: int, signo: int) -> int:
    """kill_pgrp: send ``signo`` to every process of group ``pgid``; how many got it."""
    group = getattr(kernel, "send_group_signal", None)
    if group is not None:
        return int(group(pgid, signo))
    send = getattr(kernel, "send_signal", None)
    n = 0
    for t in pgrp_members(kernel, pgid):
        if send is not None:
            send(getattr(t, "thread_group", None) or t, signo)
            n += 1
        elif _fallback_signal(t, signo):
            n += 1
    return n


class SessionTable:
    """Controlling terminals by session id (``signal_struct.tty``)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ctty: dict[int, JobControl] = {}
        #: JobControl of host terminals, by the host device number
        self.host_ttys: dict[int, JobControl] = {}

    def host_tty(self, rdev: int) -> JobControl:
        """The sandbox-side state of host terminal ``rdev`` (made on first use)."""
        with self.lock:
            jc = self.host_ttys.get(rdev)
            if jc is None:
                jc = self.host_ttys[rdev] = JobControl(f"host tty {rdev:#x}", rdev)
            return jc


_table_lock = threading.Lock()


def sessions(kernel: Any) -> SessionTable:
    """The kernel's session table (attached on first use)."""
    table = getattr(kernel, "sessions", None)
    if table is None:
        with _table_lock:
            table = getattr(kernel, "sessions", None)
            if table is None:
                table = SessionTable()
                kernel.sessions = table
    return table


def controlling_tty(task: Any) -> JobControl | None:
    """The controlling terminal of ``task``'s session (None for a caller
    that is not a full task, such as the Sentry's own file operations)."""
    kernel, sid = getattr(task, "kernel", None), getattr(task, "sid", None)
    if kernel is None or sid is None:
        return None
    return sessions(kernel).ctty.get(sid)


class JobControl:
    """A terminal's session and foreground process group, and the checks of
    drivers/tty/tty_jobctrl.c. ``on_hangup`` runs when the session lets go."""

    def __init__(self, name: str, rdev: int = 0) -> None:
        self.name = name
        #: the terminal's device number (tty_nr in /proc/PID/stat)
        self.rdev = rdev
        self.session: int | None = None
        self.pgrp: int | None = None
        self.kernel: Any = None
        #: the terminal object this state belongs to (a devpts Terminal), if any
        self.terminal: Any = None

    def is_ctty_of(self, task: Any) -> bool:
        return self.session is not None and self.session == task.sid and self.kernel is task.kernel

    def attach(self, kernel: Any, sid: int, pgrp: int) -> None:
        """Make this the controlling terminal of session ``sid`` with ``pgrp``
        in the foreground before any task asks: what a container's console
        is for its first process (gVisor sets the init's TTY the same way)."""
        table = sessions(kernel)
        with table.lock:
            self.session, self.pgrp, self.kernel = sid, pgrp, kernel
            table.ctty[sid] = self

    # -- job control (tty_jobctrl.c) -------------------------------------------------
    def in_background(self, task: Any) -> bool:
        """Whether ``task`` is in a background group of this terminal's session."""
        return self._background(task)

    def _background(self, task: Any) -> bool:
        return self.is_ctty_of(task) and self.pgrp is not None and task.pgid != self.pgrp

    def check_change(self, task: Any, signo: int = SIGTTOU) -> None:
        """__tty_check_change: a background process setting the terminal (or
        writing under TOSTOP) gets SIGTTOU unless it ignores or blocks it."""
        if not self._background(task):
            return
        if ignores_or_blocks(task, signo):
            return
        self._stop_caller(task, signo)

    def check_read(self, task: Any) -> None:
        """n_tty_read job_control: a background read gets SIGTTIN, or EIO if
        the process ignores or blocks it."""
        if not self._background(task):
            return
        if ignores_or_blocks(task, SIGTTIN):
            raise EIO
        self._stop_caller(task, SIGTTIN)

    def _stop_caller(self, task: Any, signo: int) -> None:
        kernel = task.kernel
        if is_orphaned_pgrp(kernel, task.pgid) or not can_signal(kernel):
            raise EIO
        signal_pgrp(kernel, task.pgid, signo)
        raise ERESTARTSYS

    def signal_foreground(self, signo: int) -> int:
        """ISIG characters and SIGWINCH go to the foreground process group."""
        if self.pgrp is None or self.kernel is None:
            return 0
        return signal_pgrp(self.kernel, self.pgrp, signo)

    # -- the session ioctls -------------------------------------------------------------
    def tiocsctty(self, task: Any, steal: int) -> None:
        """TIOCSCTTY (tiocsctty): the caller must lead a session without a
        terminal; a terminal of another session is taken only with arg 1
        and CAP_SYS_ADMIN."""
        table = sessions(task.kernel)
        with table.lock:
            leader = task.sid == task.tgid
            if leader and self.is_ctty_of(task):
                return
            if not leader or task.sid in table.ctty:
                raise EPERM
            if self.session is not None:
                if steal != 1 or not task.creds.has_capability(CAP_SYS_ADMIN):
                    raise EPERM
                table.ctty.pop(self.session, None)
            self.session, self.pgrp, self.kernel = task.sid, task.pgid, task.kernel
            table.ctty[task.sid] = self

    def tiocnotty(self, task: Any) -> None:
        """TIOCNOTTY: a session leader gives the terminal up, and its
        foreground group gets SIGHUP and SIGCONT (disassociate_ctty). For
        another member Linux only clears that process's pointer; here the
        terminal stays the session's (sessions, not processes, hold it)."""
        if not self.is_ctty_of(task):
            raise ENOTTY
        if task.sid == task.tgid:
            self.hangup_session()

    def hangup_session(self, *, on_exit: bool = False) -> None:
        """The session leader left its terminal (TIOCNOTTY or exit): the
        foreground group gets SIGHUP, and SIGCONT unless the leader exited
        (tty_jobctrl.c disassociate_ctty)."""
        if self.kernel is None or self.session is None:
            return
        table = sessions(self.kernel)
        with table.lock:
            table.ctty.pop(self.session, None)
        pgrp, kernel = self.pgrp, self.kernel
        self.session = self.pgrp = None
        if pgrp is not None:
            signal_pgrp(kernel, pgrp, SIGHUP)
            if not on_exit:
                signal_pgrp(kernel, pgrp, SIGCONT)

    def tiocgpgrp(self, task: Any, *, master: bool) -> int:
        """TIOCGPGRP: the caller's own terminal only (the pty master may ask)."""
        if not master and not self.is_ctty_of(task):
            raise ENOTTY
        return self.pgrp if self.pgrp is not None else 0

    def tiocspgrp(self, task: Any, pgid: int, *, master: bool) -> None:
        """TIOCSPGRP (tiocspgrp): caller's terminal, a group of its session;
        from the background it is a terminal change (SIGTTOU)."""
        if not self.is_ctty_of(task):
            raise ENOTTY
        if not master:
            try:
                self.check_change(task)
            except EIO:
                raise ENOTTY from None  # tiocspgrp: an orphaned caller sees ENOTTY
        if pgid < 0:
            raise EINVAL
        sid = pgrp_session(task.kernel, pgid)
        if sid is None:
            raise ESRCH
        if sid != self.session:
            raise EPERM
        self.pgrp = pgid

    def tiocgsid(self, task: Any, *, master: bool) -> int:
        """TIOCGSID: ENOTTY unless it is the caller's terminal with a session."""
        if (not master and not self.is_ctty_of(task)) or self.session is None:
            raise ENOTTY
        return self.session


def session_leader_exited(task: Any) -> None:
    """For the exit path: a session leader's death hangs up its controlling
    devpts terminal (kernel/exit.c -> disassociate_ctty(1)). The host
    console is left alone: the sandbox ends with its init anyway."""
    if task.sid != task.tgid:
        return
    jc = controlling_tty(task)
    if jc is not None and jc.terminal is not None:
        jc.hangup_session(on_exit=True)


__all__ = [
    "JobControl",
    "SessionTable",
    "controlling_tty",
    "is_orphaned_pgrp",
    "pgrp_members",
    "pgrp_session",
    "session_leader_exited",
    "sessions",
    "signal_pgrp",
]
