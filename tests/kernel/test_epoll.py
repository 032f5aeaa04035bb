"""Unit tests of the epoll core (sentry.kernel.epoll), the host FD notifier
and timerfd, driven by host threads standing in for tasks: level, edge and
one-shot reporting, ctl errors, registrations dying with their
description, nesting, two waiters on one instance, interruption."""

from __future__ import annotations

import os
import struct
import tempfile
import threading
import time
import types

import pytest

from sentry.abi.errors import EEXIST, EINTR, EINVAL, ELOOP, ENOENT, EPERM
from sentry.fsimpl.host import HostFile
from sentry.kernel.epoll import (
    EPOLL_CTL_ADD,
    EPOLL_CTL_DEL,
    EPOLL_CTL_MOD,
    EPOLLET,
    EPOLLEXCLUSIVE,
    EPOLLIN,
    EPOLLONESHOT,
    EPOLLOUT,
    EPOLLWAKEUP,
    EventPoll,
    check_ctl,
    new_epoll,
)
from sentry.kernel.eventfd import new_eventfd
from sentry.kernel.signalfd import SIGNALFD_SIGINFO_SIZE, pack_siginfo
from sentry.kernel.signals import SI_QUEUE, SigInfo
from sentry.kernel.timerfd import TFD_TIMER_ABSTIME, new_timerfd
from sentry.vfs.context import set_current_task
from sentry.vfs.file import FileDescription
from sentry.vfs.flags import O_NONBLOCK, O_RDWR
from sentry.vfs.inode import FileImpl
from tests.kernel.test_pipe import FakeTask

U64 = struct.Struct("<Q")


@pytest.fixture(autouse=True)
def no_current_task():
    set_current_task(None)
    yield
    set_current_task(None)


def opened(desc: FileDescription) -> FileDescription:
    """Take the reference an FD table would (so a dec_ref releases it)."""
    desc.inc_ref()
    return desc


def efd(initval: int = 0) -> FileDescription:
    return opened(new_eventfd(initval, O_NONBLOCK))


def ep_of(desc: FileDescription) -> EventPoll:
    assert isinstance(desc.impl, EventPoll)
    return desc.impl


def until(cond, what: str) -> None:
    """Wait for a condition another thread brings about (bounded)."""
    deadline = time.monotonic() + 10
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


def test_level_triggered_reports_until_drained():
    ep = ep_of(opened(new_epoll()))
    e = efd()
    ep.add(e, 3, EPOLLIN, 7)
    assert ep.scan(8) == []
    e.write(U64.pack(2))
    assert ep.scan(8) == [(EPOLLIN, 7)]
    assert ep.scan(8) == [(EPOLLIN, 7)]
    e.read(8)
    assert ep.scan(8) == []


def test_edge_triggered_reports_once_per_wakeup():
    ep = ep_of(opened(new_epoll()))
    e = efd()
    ep.add(e, 3, EPOLLIN | EPOLLET, 1)
    e.write(U64.pack(1))
    assert ep.scan(8) == [(EPOLLIN, 1)]
    assert ep.scan(8) == []
    e.write(U64.pack(1))
    assert ep.scan(8) == [(EPOLLIN, 1)]


def test_oneshot_is_disabled_until_modified():
    ep = ep_of(opened(new_epoll()))
    e = efd(1)
    ep.add(e, 3, EPOLLIN | EPOLLONESHOT, 1)
    assert ep.scan(8) == [(EPOLLIN, 1)]
    e.write(U64.pack(1))
    assert ep.scan(8) == []
    ep.modify(e, 3, EPOLLIN | EPOLLONESHOT, 2)
    assert ep.scan(8) == [(EPOLLIN, 2)]


def test_maxevents_rotates_level_items():
    ep = ep_of(opened(new_epoll()))
    a, b = efd(1), efd(1)
    ep.add(a, 3, EPOLLIN, 1)
    ep.add(b, 4, EPOLLIN, 2)
    assert [ep.scan(1), ep.scan(1), ep.scan(1)] == [[(1, 1)], [(1, 2)], [(1, 1)]]


def test_ctl_errors():
    epd = opened(new_epoll())
    ep = ep_of(epd)
    e = efd()
    ep.add(e, 3, EPOLLIN, 0)
    with pytest.raises(EEXIST):
        ep.add(e, 3, EPOLLIN, 0)
    ep.add(e, 4, EPOLLIN, 0)  # same description, another fd: its own item
    with pytest.raises(ENOENT):
        ep.modify(e, 5, EPOLLIN, 0)
    with pytest.raises(ENOENT):
        ep.delete(e, 5)
    with pytest.raises(EINVAL):
        check_ctl(EPOLL_CTL_ADD, epd, epd, EPOLLIN)
    with pytest.raises(EINVAL):
        check_ctl(EPOLL_CTL_ADD, e, efd(), EPOLLIN)  # not an epoll
    with pytest.raises(EINVAL):
        check_ctl(EPOLL_CTL_MOD, epd, e, EPOLLIN | EPOLLEXCLUSIVE)
    with pytest.raises(EINVAL):
        check_ctl(EPOLL_CTL_ADD, epd, e, EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT)
    with pytest.raises(EINVAL):
        check_ctl(99, epd, e, EPOLLIN)
    assert check_ctl(EPOLL_CTL_ADD, epd, e, EPOLLIN | EPOLLWAKEUP) == EPOLLIN
    with pytest.raises(EPERM):
        check_ctl(EPOLL_CTL_ADD, epd, opened(FileDescription(FileImpl(), O_RDWR)), EPOLLIN)
    with pytest.raises(EPERM):
        ep.add(opened(FileDescription(FileImpl(), O_RDWR)), 9, EPOLLIN, 0)


def test_cycles_are_eloop():
    a, b, c = (opened(new_epoll()) for _ in range(3))
    ep_of(a).add(b, 4, EPOLLIN, 0)
    ep_of(b).add(c, 5, EPOLLIN, 0)
    with pytest.raises(ELOOP):
        check_ctl(EPOLL_CTL_ADD, c, a, EPOLLIN)
    check_ctl(EPOLL_CTL_ADD, a, c, EPOLLIN)  # a diamond is no cycle


def test_registration_dies_with_the_description_not_the_fd():
    ep = ep_of(opened(new_epoll()))
    e = efd(1)
    ep.add(e, 3, EPOLLIN, 1)
    e.inc_ref()  # a dup
    e.dec_ref()  # one close
    assert ep.scan(8) == [(EPOLLIN, 1)]
    e.dec_ref()  # the last close
    assert ep.scan(8) == []
    assert ep.items == {}
    with pytest.raises(ENOENT):
        ep.delete(e, 3)


def test_closing_the_epoll_unhooks_its_items():
    epd = opened(new_epoll())
    e = efd()
    ep_of(epd).add(e, 3, EPOLLIN, 1)
    queue = e.impl.wait_queue  # type: ignore[attr-defined]
    assert len(queue) == 1
    epd.dec_ref()
    assert len(queue) == 0
    assert e._release_hooks == {}


def test_nested_epoll_readiness_and_wakeup():
    outer, inner = opened(new_epoll()), opened(new_epoll())
    e = efd()
    ep_of(inner).add(e, 3, EPOLLIN, 1)
    ep_of(outer).add(inner, 4, EPOLLIN, 2)
    assert inner.readiness(EPOLLIN) == 0
    assert ep_of(outer).scan(8) == []
    e.write(U64.pack(1))
    assert inner.readiness(EPOLLIN) & EPOLLIN
    assert ep_of(outer).scan(8) == [(EPOLLIN, 2)]
    # Polling the inner epoll file did not consume its events.
    assert ep_of(inner).scan(8) == [(EPOLLIN, 1)]


def test_wait_timeout_and_interruption():
    ep = ep_of(opened(new_epoll()))
    ep.add(efd(), 3, EPOLLIN, 1)
    assert ep.wait(None, 4, time.monotonic()) == []
    assert ep.wait(None, 4, time.monotonic() + 0.01) == []
    task = FakeTask()
    failure: list[BaseException] = []

    def waiter() -> None:
        try:
            ep.wait(task, 4, None)
        except BaseException as exc:
            failure.append(exc)

    th = threading.Thread(target=waiter)
    th.start()
    until(lambda: len(ep.wait_queue) == 1, "the waiter to sleep")
    task.interrupt()
    th.join(10)
    assert len(failure) == 1 and isinstance(failure[0], EINTR)


def test_two_waiters_on_one_instance_share_edge_events():
    ep = ep_of(opened(new_epoll()))
    e = efd()
    ep.add(e, 3, EPOLLIN | EPOLLET, 5)
    results: list[list[tuple[int, int]]] = []
    lock = threading.Lock()

    def waiter() -> None:
        got = ep.wait(FakeTask(), 4, time.monotonic() + 10)
        with lock:
            results.append(got)

    threads = [threading.Thread(target=waiter) for _ in range(2)]
    for th in threads:
        th.start()
    until(lambda: len(ep.wait_queue) == 2, "both waiters to sleep")
    e.write(U64.pack(1))
    until(lambda: len(results) == 1, "one waiter to take the event")
    assert results == [[(EPOLLIN, 5)]]
    e.write(U64.pack(1))
    for th in threads:
        th.join(10)
    assert results == [[(EPOLLIN, 5)], [(EPOLLIN, 5)]]


def test_host_pipe_wakes_a_waiter_and_regular_files_are_eperm():
    r, w = os.pipe()
    ep = ep_of(opened(new_epoll()))
    hr = opened(HostFile(r))
    ep.add(hr, 0, EPOLLIN, 11)
    got: list[list[tuple[int, int]]] = []
    th = threading.Thread(target=lambda: got.append(ep.wait(FakeTask(), 2, None)))
    th.start()
    until(lambda: len(ep.wait_queue) == 1, "the waiter to sleep")
    os.write(w, b"x")
    th.join(10)
    assert got == [[(EPOLLIN, 11)]]
    hr.dec_ref()
    os.close(w)
    with tempfile.TemporaryFile() as f:
        reg = opened(HostFile(os.dup(f.fileno())))
        with pytest.raises(EPERM):
            check_ctl(EPOLL_CTL_ADD, opened(new_epoll()), reg, EPOLLIN)
        with pytest.raises(EPERM):
            ep.add(reg, 1, EPOLLIN, 0)
        reg.dec_ref()


def test_host_registration_follows_the_watchers_masks():
    from sentry.kernel.fdnotifier import FDNotifier

    r, w = os.pipe()
    try:
        n = FDNotifier()
        n.watch(w, EPOLLOUT)
        n.watch(w, EPOLLIN)
        n.rewatch(w, EPOLLIN, EPOLLOUT)
        n.unwatch(w, EPOLLOUT)
        n.unwatch(w, EPOLLOUT)
        assert n._watched == {}
        n.unwatch(w, EPOLLOUT)  # unknown: ignored
    finally:
        os.close(r)
        os.close(w)


def test_del_then_events_are_gone():
    ep = ep_of(opened(new_epoll()))
    e = efd(1)
    ep.add(e, 3, EPOLLIN, 1)
    ep.delete(e, 3)
    assert ep.scan(8) == []
    assert check_ctl(EPOLL_CTL_DEL, opened(new_epoll()), e, 0) == 0


# -- timerfd ------------------------------------------------------------------------


def kernel() -> types.SimpleNamespace:
    return types.SimpleNamespace()


def test_timerfd_counts_periodic_expiries_and_resets_on_settime():
    desc = opened(new_timerfd(kernel(), time.CLOCK_MONOTONIC, O_NONBLOCK))
    tfd = desc.impl
    assert tfd.gettime() == (0, 0)  # type: ignore[attr-defined]
    # An absolute time 10.5 periods in the past: 11 expiries at once.
    now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    tfd.settime(TFD_TIMER_ABSTIME, now - 10_500_000_000, 1_000_000_000)  # type: ignore[attr-defined]
    until(lambda: desc.readiness(EPOLLIN), "the first expiry")
    assert U64.unpack(desc.read(8)) == (11,)
    value, interval = tfd.gettime()  # type: ignore[attr-defined]
    assert interval == 1_000_000_000 and 0 < value <= 1_000_000_000
    old = tfd.settime(0, 0, 0)  # type: ignore[attr-defined]
    assert old[1] == 1_000_000_000
    assert tfd.gettime() == (0, 0)  # type: ignore[attr-defined]


def test_timerfd_under_epoll():
    ep = ep_of(opened(new_epoll()))
    desc = opened(new_timerfd(kernel(), time.CLOCK_REALTIME, O_NONBLOCK))
    ep.add(desc, 3, EPOLLIN, 9)
    desc.impl.settime(0, 1_000_000, 0)  # type: ignore[attr-defined]
    assert ep.wait(FakeTask(), 2, time.monotonic() + 10) == [(EPOLLIN, 9)]
    assert U64.unpack(desc.read(8)) == (1,)
    desc.dec_ref()


# -- signalfd -----------------------------------------------------------------------


def test_signalfd_siginfo_layout_of_a_queued_signal():
    info = SigInfo(34, SI_QUEUE, 0, struct.pack("<iIQ", 12, 1000, 0xFFFFFFFE))
    raw = pack_siginfo(info)
    assert len(raw) == SIGNALFD_SIGINFO_SIZE
    signo, errno, code, pid, uid = struct.unpack_from("<IiiII", raw)
    assert (signo, errno, code, pid, uid) == (34, 0, SI_QUEUE, 12, 1000)
    (ssi_int,) = struct.unpack_from("<i", raw, 44)
    (ssi_ptr,) = struct.unpack_from("<Q", raw, 48)
    assert ssi_int == -2 and ssi_ptr == 0xFFFFFFFE


# -- waiting on one host FD ---------------------------------------------------------


def test_wait_host_fd_wakes_times_out_and_is_interruptible():
    from sentry.abi.errors import ERESTARTSYS
    from sentry.kernel.fdnotifier import notifier
    from sentry.kernel.polling import wait_host_fd

    r, w = os.pipe()
    try:
        assert wait_host_fd(None, r, EPOLLIN, time.monotonic() + 0.01, ERESTARTSYS) is False
        task = FakeTask()
        got: list[object] = []

        def waiter() -> None:
            try:
                got.append(wait_host_fd(task, r, EPOLLIN, None, ERESTARTSYS))
            except ERESTARTSYS as exc:
                got.append(exc)

        th = threading.Thread(target=waiter)
        th.start()
        until(lambda: r in notifier()._watched, "the waiter to watch the pipe")
        os.write(w, b"x")
        th.join(10)
        assert got == [True]
        os.read(r, 1)
        th = threading.Thread(target=waiter)
        th.start()
        until(lambda: r in notifier()._watched, "the waiter to watch the pipe")
        task.interrupt()
        th.join(10)
        assert isinstance(got[1], ERESTARTSYS)
        assert r not in notifier()._watched
    finally:
        os.close(r)
        os.close(w)
