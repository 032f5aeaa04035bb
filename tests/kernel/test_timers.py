"""Unit tests of the timer thread and the per-process timers."""

from __future__ import annotations

import struct
import threading
import time

import pytest

from sentry.abi.errors import EINVAL
from sentry.kernel.signals import SI_TIMER, SigInfo
from sentry.kernel.timers import (
    SIGEV_SIGNAL,
    Timer,
    TimerService,
    on_exec,
    on_exit,
    process_timers,
)


def test_timers_fire_in_deadline_order_and_rearm_cancels():
    service = TimerService()
    fired: list[str] = []
    done = threading.Event()

    def make(name: str) -> Timer:
        def fire(_t: Timer) -> None:
            fired.append(name)
            if len(fired) == 2:
                done.set()

        return Timer(service, fire)

    a, b, c = make("a"), make("b"), make("c")
    now = time.monotonic_ns()
    b.arm(now + 60_000_000, 0)
    a.arm(now + 20_000_000, 0)
    c.arm(now + 40_000_000, 0)
    c.arm(0, 0)  # disarmed: must never fire
    assert done.wait(5)
    time.sleep(0.05)
    assert fired == ["a", "b"]
    assert a.remaining_ns() == 0
    service.stop()


def test_periodic_timer_keeps_firing_until_disarmed():
    service = TimerService()
    count = 0
    three = threading.Event()

    def fire(_t: Timer) -> None:
        nonlocal count
        count += 1
        if count == 3:
            three.set()

    timer = Timer(service, fire)
    timer.arm(time.monotonic_ns() + 10_000_000, 10_000_000)
    assert three.wait(5)
    timer.arm(0, 0)
    seen = count
    time.sleep(0.05)
    assert count == seen
    service.stop()


class FakeKernel:
    pass


class FakeTask:
    def __init__(self) -> None:
        self.kernel = FakeKernel()
        self.tgid = 1
        self.exit_status = None
        self.signals: list[tuple[int, object]] = []


def test_process_timers_ids_and_errors():
    task = FakeTask()
    timers = process_timers(task)
    assert process_timers(task) is timers
    first = timers.reserve_id()
    timers.create(first, 1, 14, SIGEV_SIGNAL, None, task)
    assert timers.get(first).value == first  # NULL sigevent: sigval is the id
    second = timers.reserve_id()  # a refused create still uses an id
    assert timers.reserve_id() == second + 1
    timers.delete(first)
    with pytest.raises(EINVAL):
        timers.delete(first)
    with pytest.raises(EINVAL):
        timers.get(99)


def test_posix_timer_signals_through_kernel_send_signal():
    task = FakeTask()
    got = threading.Event()
    sent: list[tuple[object, int, SigInfo | None]] = []

    def send_signal(target: object, signo: int, info: SigInfo | None = None) -> None:
        sent.append((target, signo, info))
        got.set()

    task.kernel.send_signal = send_signal  # type: ignore[attr-defined]
    timers = process_timers(task)
    tid = timers.reserve_id()
    timers.create(tid, 1, 10, SIGEV_SIGNAL, 1234, task)
    timers.get(tid).timer.arm(time.monotonic_ns() + 10_000_000, 0)
    assert got.wait(5)
    target, signo, info = sent[0]
    assert target is task and signo == 10
    assert info is not None and info.code == SI_TIMER
    assert struct.unpack_from("<iiQ", info.fields) == (tid, 0, 1234)
    timers.release()


def test_exec_drops_posix_timers_and_keeps_itimer_real():
    task = FakeTask()
    timers = process_timers(task)
    tid = timers.reserve_id()
    timers.create(tid, 1, 14, SIGEV_SIGNAL, None, task)
    timers.get(tid).timer.arm(time.monotonic_ns() + 10**12, 0)
    timers.real.arm(time.monotonic_ns() + 10**12, 0)
    on_exec(task)
    assert timers.posix == {}
    assert timers.real.remaining_ns() > 0
    on_exit(task)
    assert timers.real.remaining_ns() == 0
