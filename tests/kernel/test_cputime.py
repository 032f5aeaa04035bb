"""Unit tests of CPU-time accounting (``sentry.kernel.cputime``) and of
timers on CPU clocks (``sentry.kernel.cpu_timers``), with fake tasks and a
fake check timer (no assertion depends on how fast the host runs)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from sentry.abi.errors import EINVAL
from sentry.kernel import cpu_timers, cputime
from sentry.kernel.cpu_timers import CPUTimer, expiry
from sentry.kernel.cputime import (
    BLOCKED,
    CPUCLOCK_PROF,
    CPUCLOCK_SCHED,
    CPUCLOCK_VIRT,
    RUNNING_APP,
    RUNNING_SYS,
    CpuAccount,
    CPUClock,
    Usage,
    decode_clock,
    make_clock,
)
from sentry.kernel.thread_group import ThreadGroup


def test_sample_adds_the_current_state_so_far():
    assert CpuAccount(10, 20, RUNNING_APP, 100).sample_at(150) == (60, 20)
    assert CpuAccount(10, 20, RUNNING_SYS, 100).sample_at(150) == (10, 70)
    assert CpuAccount(10, 20, BLOCKED, 100).sample_at(150) == (10, 20)
    # A reader whose clock read precedes the account's adds nothing.
    assert CpuAccount(10, 20, RUNNING_APP, 100).sample_at(90) == (10, 20)


def test_transitions_split_time_into_user_system_and_neither():
    cpu = CpuAccount(0, 0, RUNNING_SYS, 0)
    cpu.move_at(RUNNING_APP, 5)  # 5 ns serving the start-up
    cpu.move_at(RUNNING_SYS, 105)  # 100 ns in the application
    cpu.move_at(BLOCKED, 110)  # 5 ns in a syscall before sleeping
    cpu.move_at(RUNNING_SYS, 1110)  # asleep: not counted
    cpu.move_at(RUNNING_APP, 1112)
    assert (cpu.user_ns, cpu.sys_ns, cpu.state, cpu.since_ns) == (100, 12, RUNNING_APP, 1112)
    assert cpu.sample_at(1200) == (188, 12)
    # A transition stamped before the last one moves nothing back.
    cpu.move_at(RUNNING_SYS, 1000)
    assert cpu.sample_at(1200) == (100, 100)


def test_the_run_loop_transitions_read_the_monotonic_clock():
    # Started 1 ms ago on CLOCK_MONOTONIC (the clock the account reads).
    cpu = CpuAccount(0, 0, RUNNING_SYS, time.monotonic_ns() - 1_000_000)
    cpu.enter_app()
    assert cpu.state == RUNNING_APP
    assert cpu.sys_ns >= 1_000_000
    cpu.leave_app()
    assert cpu.state == RUNNING_SYS
    assert cpu.since_ns <= time.monotonic_ns()


def test_usage_add_sums_times_and_faults_and_keeps_the_largest_rss():
    total = Usage(1, 2, 300, 4)
    total.add(Usage(10, 20, 100, 40))
    total.add(Usage(0, 0, 500, 0))
    assert total == Usage(11, 22, 500, 44)


@pytest.mark.parametrize(
    ("pid", "per_thread", "which"),
    [(0, False, CPUCLOCK_SCHED), (1, False, CPUCLOCK_PROF), (42, True, CPUCLOCK_VIRT)],
)
def test_clock_ids_round_trip(pid, per_thread, which):
    clock = make_clock(pid, per_thread=per_thread, which=which)
    assert clock < 0 or pid == 0
    assert decode_clock(clock) == (pid, per_thread, which)


def test_clock_id_encoding_matches_glibc():
    # glibc clock_getcpuclockid(pid): (~pid << 3) | CPUCLOCK_SCHED.
    assert make_clock(7, per_thread=False, which=CPUCLOCK_SCHED) == -62
    # pthread_getcpuclockid(tid 9): (~9 << 3) | CPUCLOCK_SCHED | CPUCLOCK_PERTHREAD.
    assert make_clock(9, per_thread=True, which=CPUCLOCK_SCHED) == -74
    assert decode_clock(2) == (0, False, CPUCLOCK_SCHED)  # CLOCK_PROCESS_CPUTIME_ID
    assert decode_clock(3) == (0, True, CPUCLOCK_SCHED)  # CLOCK_THREAD_CPUTIME_ID


def test_expiry_counts_missed_periods_as_overruns():
    assert expiry(100, 0, 150) == (0, 0)
    assert expiry(100, 10, 100) == (0, 110)
    assert expiry(100, 10, 135) == (3, 140)


# -- fakes ----------------------------------------------------------------------------


class FakeTask:
    def __init__(self, kernel: FakeKernel, tid: int, cpu: tuple[int, int, int, int]) -> None:
        self.kernel = kernel
        self.tid = tid
        self.tgid = tid
        self.cpu = CpuAccount(*cpu)
        self.minflt = 0
        self.mm = None
        self.exit_status = None
        self.thread_group = ThreadGroup(self, pgid=tid, sid=tid)  # type: ignore[arg-type]


class FakeKernel:
    def __init__(self) -> None:
        self.tree_lock = threading.RLock()
        self.tasks: dict[int, FakeTask] = {}
        self.thread_groups: dict[int, ThreadGroup] = {}


@pytest.fixture
def frozen_clock(monkeypatch):
    """cputime's clock, set by the test."""
    now = [1000]
    monkeypatch.setattr(cputime, "clock_ns", lambda: now[0])
    monkeypatch.setattr(cpu_timers, "clock_ns", lambda: now[0])
    return now


def _process(kernel: FakeKernel, *cpus: tuple[int, int, int, int], pid: int = 10) -> ThreadGroup:
    """A process ``pid`` with one thread per snapshot (tids pid, pid + 1...)."""
    leader = FakeTask(kernel, pid, cpus[0])
    tg = leader.thread_group
    kernel.tasks[pid] = leader
    kernel.thread_groups[pid] = tg
    for tid, cpu in enumerate(cpus[1:], start=pid + 1):
        t = FakeTask(kernel, tid, cpu)
        t.thread_group = tg
        t.tgid = pid
        tg.tasks.append(t)  # type: ignore[arg-type]
        kernel.tasks[tid] = t
    return tg


def test_group_time_counts_live_and_dead_threads_once(frozen_clock):
    kernel = FakeKernel()
    tg = _process(kernel, (100, 10, RUNNING_APP, 900), (50, 5, BLOCKED, 500))
    assert cputime.group_cputime(tg, kernel.tree_lock) == (250, 15)
    assert cputime.running_threads(tg) == 1
    other = tg.tasks[1]
    with kernel.tree_lock:
        cputime.task_exited(other)
        tg.tasks.remove(other)
    assert tg.dead_cpu == (50, 5)
    frozen_clock[0] = 1100
    assert cputime.group_cputime(tg, kernel.tree_lock) == (350, 15)
    # The dead thread's snapshot is frozen.
    assert cputime.task_cputime(other) == (50, 5)


def test_reaped_usage_includes_the_childs_own_reaped_children(frozen_clock):
    kernel = FakeKernel()
    tg = _process(kernel, (100, 10, BLOCKED, 0))
    tg.children_usage.add(Usage(1000, 100, 0, 7))
    usage = cputime.reaped_usage(tg, kernel.tree_lock)
    assert (usage.user_ns, usage.sys_ns, usage.minflt) == (1100, 110, 7)


def test_lookup_clock_follows_pid_for_clock(frozen_clock):
    kernel = FakeKernel()
    tg = _process(kernel, (0, 0, RUNNING_SYS, 1000), (0, 0, BLOCKED, 0))
    other = _process(kernel, (0, 0, BLOCKED, 0), pid=20)
    sibling, me = tg.tasks  # the caller is thread 11

    def lookup(clock: int, gettime: bool = True) -> CPUClock:
        return cputime.lookup_clock(me, clock, gettime=gettime)

    assert lookup(2).target is tg
    assert lookup(3).target is me
    assert lookup(make_clock(10, per_thread=True, which=CPUCLOCK_SCHED)).target is sibling
    assert lookup(make_clock(20, per_thread=False, which=CPUCLOCK_PROF)).target is other
    # A process clock named by the caller's thread id is accepted only by
    # clock_gettime.
    assert lookup(make_clock(11, per_thread=False, which=CPUCLOCK_SCHED)).target is tg
    with pytest.raises(EINVAL):
        lookup(make_clock(11, per_thread=False, which=CPUCLOCK_SCHED), gettime=False)
    with pytest.raises(EINVAL):  # another process's thread
        lookup(make_clock(20, per_thread=True, which=CPUCLOCK_SCHED))
    with pytest.raises(EINVAL):  # no such process
        lookup(make_clock(99, per_thread=False, which=CPUCLOCK_SCHED))
    with pytest.raises(EINVAL):  # which == 3
        lookup(make_clock(0, per_thread=False, which=3))


class FakeCheckTimer:
    """Stands for the wall-clock check timer: records what was armed."""

    def __init__(self, callback: Any) -> None:
        self.callback = callback
        self.armed: list[int] = []

    def arm(self, deadline_ns: int, interval_ns: int) -> None:
        self.armed.append(deadline_ns)

    def run(self) -> None:
        self.callback(self)


def _cpu_timer(kernel: FakeKernel, tg: ThreadGroup, which: int = CPUCLOCK_PROF):
    fired: list[int] = []
    checks: list[FakeCheckTimer] = []

    def new_timer(callback: Any) -> FakeCheckTimer:
        checks.append(FakeCheckTimer(callback))
        return checks[-1]

    clock = CPUClock(tg, False, which, kernel.tree_lock)
    timer = CPUTimer(new_timer, lambda t: fired.append(t.overrun), clock)
    return timer, checks[0], fired


def test_cpu_timer_checks_at_the_earliest_possible_expiry(frozen_clock):
    kernel = FakeKernel()
    # Two threads running: the process clock advances up to 2 ns per ns.
    tg = _process(kernel, (0, 0, RUNNING_APP, 1000), (0, 0, RUNNING_SYS, 1000))
    timer, check, fired = _cpu_timer(kernel, tg)
    timer.arm(1_000_000, 0)
    assert check.armed == [1000 + 500_000]
    # Checked early (only one thread really ran): not due, re-armed.
    frozen_clock[0] = 1000 + 500_000
    tg.tasks[1].cpu = CpuAccount(0, 0, BLOCKED, 1000)
    check.run()
    assert fired == []
    assert check.armed[-1] == frozen_clock[0] + 500_000
    frozen_clock[0] += 500_000
    check.run()
    assert fired == [0]
    assert timer.deadline_ns == 0
    assert timer.remaining_ns() == 0


def test_cpu_timer_interval_and_overrun(frozen_clock):
    kernel = FakeKernel()
    tg = _process(kernel, (0, 0, RUNNING_APP, 1000))
    timer, check, fired = _cpu_timer(kernel, tg, CPUCLOCK_VIRT)
    timer.arm(cpu_timers.MIN_CHECK_NS, cpu_timers.MIN_CHECK_NS)
    frozen_clock[0] = 1000 + 3 * cpu_timers.MIN_CHECK_NS + 5
    check.run()
    assert fired == [2]  # two whole periods passed after the first expiry
    assert timer.deadline_ns == 4 * cpu_timers.MIN_CHECK_NS
    timer.arm(0, 0)
    assert check.armed[-1] == 0
    check.run()  # a stale check after the disarm fires nothing
    assert fired == [2]


def test_cpu_timer_parks_while_every_thread_sleeps(frozen_clock):
    kernel = FakeKernel()
    tg = _process(kernel, (0, 0, BLOCKED, 1000))
    timer, check, fired = _cpu_timer(kernel, tg)
    timer.arm(1_000_000, 0)
    assert check.armed == []  # nothing runs: no polling
    assert tg.parked_cpu_timers == [timer]
    frozen_clock[0] = 5000
    cputime.leave_blocked(tg.leader)
    assert tg.parked_cpu_timers == []
    assert check.armed == [5000 + 1_000_000]
    assert fired == []
