"""Unit tests of the futex queues (sentry.kernel.futex): value checks,
wake order and counts, bitsets, requeue and wake_op, racing wakes."""

from __future__ import annotations

import threading

import pytest

from sentry.kernel.futex import FUTEX_BITSET_MATCH_ANY, FutexTable, Waiter


class Sleeper:
    """Counts wake-ups; stands in for a Task."""

    def __init__(self) -> None:
        self.wakes = 0

    def wake(self) -> None:
        self.wakes += 1


def queued(table: FutexTable, key: object, n: int, bitset: int = FUTEX_BITSET_MATCH_ANY):
    out = []
    for _ in range(n):
        w = Waiter(Sleeper(), key, bitset)
        assert table.queue_if(w, lambda: 0, 0)
        out.append(w)
    return out


def test_queue_refused_when_the_value_changed():
    table = FutexTable()
    w = Waiter(Sleeper(), "k")
    assert not table.queue_if(w, lambda: 1, 0)
    assert table.waiters("k") == 0


def test_value_read_fault_queues_nothing():
    table = FutexTable()

    def fault() -> int:
        raise OSError("EFAULT")

    with pytest.raises(OSError):
        table.queue_if(Waiter(Sleeper(), "k"), fault, 0)
    assert table.waiters("k") == 0


def test_wake_is_fifo_and_counts():
    table = FutexTable()
    ws = queued(table, "k", 3)
    assert table.wake("k", 2) == 2
    assert [w.woken for w in ws] == [True, True, False]
    assert [w.sleeper.wakes for w in ws] == [1, 1, 0]
    assert table.waiters("k") == 1
    assert table.wake("other", 5) == 0


def test_wake_zero_still_wakes_one_like_linux():
    table = FutexTable()
    queued(table, "k", 2)
    assert table.wake("k", 0) == 1


def test_bitsets_select_waiters():
    table = FutexTable()
    a, b = queued(table, "k", 1, 0b01)[0], queued(table, "k", 1, 0b10)[0]
    assert table.wake("k", 10, 0b100) == 0
    assert table.wake("k", 10, 0b10) == 1
    assert b.woken and not a.woken


def test_dequeue_reports_a_racing_wake():
    table = FutexTable()
    (w,) = queued(table, "k", 1)
    table.wake("k", 1)
    assert table.dequeue(w) is True
    (w2,) = queued(table, "k", 1)
    assert table.dequeue(w2) is False
    assert table.waiters("k") == 0


def test_requeue_wakes_then_moves():
    table = FutexTable()
    ws = queued(table, "a", 4)
    assert table.requeue("a", "b", 1, 2) == 3
    assert ws[0].woken
    assert [w.key for w in ws[1:]] == ["b", "b", "a"]
    assert table.waiters("a") == 1 and table.waiters("b") == 2
    # a moved waiter dequeues from its new queue
    assert table.dequeue(ws[1]) is False
    assert table.waiters("b") == 1


def test_cmp_requeue_check_fails_without_effect():
    table = FutexTable()
    queued(table, "a", 2)
    assert table.requeue("a", "b", 1, 1, check=lambda: False) == -1
    assert table.waiters("a") == 2


def test_wake_op_second_futex_only_when_the_comparison_passes():
    table = FutexTable()
    queued(table, "a", 1)
    queued(table, "b", 1)
    assert table.wake_op("a", "b", 1, 1, lambda: False) == 1
    assert table.waiters("b") == 1
    assert table.wake_op("a", "b", 1, 1, lambda: True) == 1
    assert table.waiters("b") == 0


class _EventSleeper:
    def __init__(self) -> None:
        self.woken = threading.Event()

    def wake(self) -> None:
        self.woken.set()


def _race_once(table: FutexTable) -> bool:
    word = [0]
    done = threading.Event()
    sleeper = _EventSleeper()
    w = Waiter(sleeper, "k")

    def waiter() -> None:
        if table.queue_if(w, lambda: word[0], 0):
            sleeper.woken.wait()
            table.dequeue(w)
        done.set()

    t = threading.Thread(target=waiter)
    t.start()
    word[0] = 1  # the "user space" store, then the wake
    table.wake("k", 1)
    finished = done.wait(10)
    t.join(10)
    return finished


def test_no_lost_wakeup_between_check_and_sleep():
    """A waker that changes the value and wakes after the waiter queued
    always finds it: the check and the enqueue are one step."""
    table = FutexTable()
    for _ in range(200):
        assert _race_once(table), "a waiter that saw the old value was not woken"
