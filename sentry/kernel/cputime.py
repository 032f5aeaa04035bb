"""CPU-time accounting (gVisor ``kernel/task_sched.go``; Linux
kernel/sched/cputime.c, kernel/time/posix-cpu-timers.c).

Every task is in one of three states: running application code (inside
``Context.switch``: user time), running in the Sentry (serving a syscall
or a fault: system time) or blocked (sleeping in ``Task.block``: neither).
The task's own thread records each transition with one monotonic clock
read in its ``Task.cpu`` account (``_cpu_account.CpuAccount``, Cython: the
run loop moves it twice per system call, measured at tens of ns each where
Python arithmetic on tuples cost several hundred). Another thread
(getrusage of the process, /proc, the CPU-timer checks) samples it under
the GIL, so it sees a consistent account, and adds the time spent in the
current state so far.

A thread group keeps the time of its dead threads (``dead_cpu``) and, at
wait(2) time, the totals of the children it reaped (``children_usage``:
RUSAGE_CHILDREN, times(2) cutime/cstime).

CPU clock ids (include/linux/posix-timers.h): ``~pid << 3 | which``
with bit 2 set for a thread clock; which is PROF (user+system), VIRT
(user) or SCHED (user+system here: there is no separate run-queue time).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, NamedTuple

from sentry.abi.errors import EINVAL
from sentry.kernel._cpu_account import BLOCKED, RUNNING_APP, RUNNING_SYS, CpuAccount
from sentry.kernel.clocks import CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID

if TYPE_CHECKING:
    from sentry.kernel.task import Task
    from sentry.kernel.thread_group import ThreadGroup

__all__ = [  # the task states and the account are re-exported for the kernel
    "BLOCKED",
    "CPUCLOCK_MAX",
    "CPUCLOCK_PERTHREAD",
    "CPUCLOCK_PROF",
    "CPUCLOCK_SCHED",
    "CPUCLOCK_VIRT",
    "NS_PER_CLOCK_TICK",
    "RUNNING_APP",
    "RUNNING_SYS",
    "CPUClock",
    "CpuAccount",
    "Usage",
    "clock_ns",
    "decode_clock",
    "enter_blocked",
    "group_cputime",
    "group_usage",
    "is_cpu_clock",
    "leave_blocked",
    "lookup_clock",
    "make_clock",
    "reaped_usage",
    "running_threads",
    "task_cputime",
    "task_exited",
    "thread_usage",
]

#: CPUCLOCK_WHICH values and the per-thread bit (include/linux/posix-timers.h).
CPUCLOCK_PROF = 0
CPUCLOCK_VIRT = 1
CPUCLOCK_SCHED = 2
CPUCLOCK_MAX = 3
CPUCLOCK_PERTHREAD = 4

#: USER_HZ: times(2), /proc and SIGCHLD report CPU time in 1/100 s ticks.
NS_PER_CLOCK_TICK = 10_000_000

#: The clock of every transition and sample off the hot path
#: (CLOCK_MONOTONIC, as the run loop's and the timer service's).
clock_ns = time.monotonic_ns


def enter_blocked(t: Task) -> None:
    """``t`` (on its own thread) is about to sleep: its time stops counting."""
    t.cpu.move_at(BLOCKED, clock_ns())


def leave_blocked(t: Task) -> None:
    """``t`` woke up and runs in the Sentry again. CPU timers of its
    process that stopped checking while every thread slept start again."""
    t.cpu.move_at(RUNNING_SYS, clock_ns())
    tg = t.thread_group
    if tg.parked_cpu_timers:
        for timer in tg.take_parked_cpu_timers():
            timer.unpark()


def task_cputime(t: Task) -> tuple[int, int]:
    """(user_ns, sys_ns) of one thread."""
    return t.cpu.sample_at(clock_ns())


def group_cputime(tg: ThreadGroup, tree_lock: Any) -> tuple[int, int]:
    """(user_ns, sys_ns) of a process: its live threads plus the dead ones.

    Under ``tree_lock`` so that a thread moving from ``tasks`` to
    ``dead_cpu`` is counted exactly once."""
    now = clock_ns()
    with tree_lock:
        user, system = tg.dead_cpu
        for t in tg.tasks:
            u, s = t.cpu.sample_at(now)
            user += u
            system += s
    return user, system


def running_threads(tg: ThreadGroup) -> int:
    """How many threads of ``tg`` are not blocked: the rate bound (in CPU
    seconds per wall second) of the process's CPU clocks."""
    return sum(1 for t in list(tg.tasks) if t.cpu.state != BLOCKED)


class Usage:
    """What ``struct rusage`` reports (kernel/sys.c getrusage)."""

    __slots__ = ("maxrss_kb", "minflt", "sys_ns", "user_ns")

    user_ns: int
    sys_ns: int
    maxrss_kb: int
    minflt: int

    def __init__(
        self,
        user_ns: int = 0,
        sys_ns: int = 0,
        maxrss_kb: int = 0,
        minflt: int = 0,
    ) -> None:
        self.user_ns = user_ns
        self.sys_ns = sys_ns
        self.maxrss_kb = maxrss_kb
        self.minflt = minflt

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Usage) or other.__class__ is not self.__class__:
            return NotImplemented
        return (
            self.user_ns,
            self.sys_ns,
            self.maxrss_kb,
            self.minflt,
        ) == (
            other.user_ns,
            other.sys_ns,
            other.maxrss_kb,
            other.minflt,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable and compared by value

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{n}={getattr(self, n)!r}" for n in ("user_ns", "sys_ns", "maxrss_kb", "minflt")
        )
        return f"Usage({fields})"

    def add(self, other: Usage) -> None:
        """Accumulate a reaped child (kernel/exit.c wait_task_zombie: times
        and faults add up, maxrss is the largest)."""
        self.user_ns += other.user_ns
        self.sys_ns += other.sys_ns
        self.minflt += other.minflt
        self.maxrss_kb = max(self.maxrss_kb, other.maxrss_kb)


def group_usage(tg: ThreadGroup, tree_lock: Any) -> Usage:
    """RUSAGE_SELF of a process."""
    user, system = group_cputime(tg, tree_lock)
    with tree_lock:
        minflt = tg.dead_minflt + sum(t.minflt for t in tg.tasks)
        rss = max((_rss_kb(t) for t in tg.tasks), default=0)
    return Usage(user, system, max(rss, tg.maxrss_kb), minflt)


def reaped_usage(tg: ThreadGroup, tree_lock: Any) -> Usage:
    """What a parent collects when it reaps the zombie ``tg``: its own
    usage and that of the children it reaped itself (RUSAGE_BOTH)."""
    usage = group_usage(tg, tree_lock)
    usage.add(tg.children_usage)
    return usage


def thread_usage(t: Task) -> Usage:
    """RUSAGE_THREAD."""
    user, system = task_cputime(t)
    return Usage(user, system, _rss_kb(t), t.minflt)


def _rss_kb(t: Task) -> int:
    mm = t.mm
    if mm is None:
        return 0
    from sentry.abi.mm import PAGE_SIZE

    return int(mm.resident_pages()) * PAGE_SIZE // 1024


def task_exited(t: Task) -> None:
    """``t`` left its thread group (called under the tree lock, as it is
    removed from ``tasks``): freeze its times into the group's dead total."""
    now = clock_ns()
    user, system = t.cpu.sample_at(now)
    t.cpu.move_at(BLOCKED, now)
    tg = t.thread_group
    du, ds = tg.dead_cpu
    tg.dead_cpu = (du + user, ds + system)
    tg.dead_minflt += t.minflt
    tg.maxrss_kb = max(tg.maxrss_kb, _rss_kb(t))


# -- CPU clock ids --------------------------------------------------------------------


def is_cpu_clock(clock: int) -> bool:
    """CLOCK_PROCESS/THREAD_CPUTIME_ID or a dynamic (negative) CPU clock id."""
    return clock < 0 or clock in (CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID)


def decode_clock(clock: int) -> tuple[int, bool, int]:
    """(pid, per_thread, which) of a CPU clock id; pid 0 is the caller."""
    if clock == CLOCK_PROCESS_CPUTIME_ID:
        return 0, False, CPUCLOCK_SCHED
    if clock == CLOCK_THREAD_CPUTIME_ID:
        return 0, True, CPUCLOCK_SCHED
    return ~(clock >> 3), bool(clock & CPUCLOCK_PERTHREAD), clock & 3


def make_clock(pid: int, *, per_thread: bool, which: int) -> int:
    """The clock id of ``pid``'s CPU clock (clock_getcpuclockid(3))."""
    return (~pid << 3) | (CPUCLOCK_PERTHREAD if per_thread else 0) | which


class CPUClock(NamedTuple):
    """A resolved CPU clock: a thread's or a process's, and what it counts."""

    target: Any  # Task (per thread) or ThreadGroup
    per_thread: bool
    which: int
    tree_lock: Any

    @property
    def group(self) -> ThreadGroup:
        """The process the clock's time belongs to."""
        return self.target.thread_group if self.per_thread else self.target

    def now_ns(self) -> int:
        """The clock's current value."""
        if self.per_thread:
            user, system = task_cputime(self.target)
        else:
            user, system = group_cputime(self.target, self.tree_lock)
        return user if self.which == CPUCLOCK_VIRT else user + system

    def running(self) -> int:
        """Threads whose time advances this clock right now."""
        if self.per_thread:
            t = self.target
            return 0 if t.exit_status is not None or t.cpu.state == BLOCKED else 1
        return running_threads(self.target)


def lookup_clock(t: Task, clock: int, *, gettime: bool) -> CPUClock:
    """Resolve a CPU clock id for ``t`` (kernel/time/posix-cpu-timers.c
    pid_for_clock): a thread clock must name a thread of the caller's
    process, a process clock a process (or, for clock_gettime, the
    caller's own tid). EINVAL otherwise."""
    pid, per_thread, which = decode_clock(clock)
    if which >= CPUCLOCK_MAX:
        raise EINVAL
    kernel = t.kernel
    if pid == 0:
        target: Any = t if per_thread else t.thread_group
        return CPUClock(target, per_thread, which, kernel.tree_lock)
    if per_thread:
        other = kernel.tasks.get(pid)
        if other is None or other.thread_group is not t.thread_group or other.tid != pid:
            raise EINVAL
        return CPUClock(other, True, which, kernel.tree_lock)
    if gettime and pid == t.tid:
        return CPUClock(t.thread_group, False, which, kernel.tree_lock)
    tg = kernel.thread_groups.get(pid)
    if tg is None or tg.reaped:
        raise EINVAL
    return CPUClock(tg, False, which, kernel.tree_lock)
