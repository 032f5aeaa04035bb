"""Unit tests of the POSIX message queue objects (sentry.kernel.mq), driven
by host threads: ordering, limits and accounting, hand-off to blocked
waiters, timeouts, interruption, notification and the status line."""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from sentry.abi.errors import (
    EAGAIN,
    EBUSY,
    EEXIST,
    EINVAL,
    EMFILE,
    EMSGSIZE,
    ENOENT,
    ENOSPC,
    ERESTARTSYS,
    ETIMEDOUT,
)
from sentry.kernel.mq import (
    SI_MESGQ,
    SIGEV_NONE,
    SIGEV_SIGNAL,
    Limits,
    Notification,
    QueueFile,
    Registry,
)
from sentry.kernel.signals import SigInfo
from sentry.kernel.waiter import Waiter
from sentry.vfs.context import set_current_task
from sentry.vfs.inode import POLLIN, POLLOUT

BIG = 1 << 40


class Creds:
    def __init__(self, uid: int = 0, privileged: bool = True) -> None:
        self.uid = self.fsuid = uid
        self.fsgid = uid
        self.privileged = privileged
        self.groups: tuple[int, ...] = ()

    def has_capability(self, cap: int) -> bool:
        return self.privileged


class FakeTask:
    """What blocking needs (block/wake/interrupted) plus a sender's identity."""

    def __init__(self, tgid: int = 7, kernel: Any = None) -> None:
        self._event = threading.Event()
        self.stop = False
        self.tgid = tgid
        self.creds = Creds(uid=1000)
        self.kernel = kernel

    def interrupted(self) -> bool:
        return self.stop

    def block(self, timeout: float | None) -> bool:
        if self.stop:
            return True
        self._event.wait(timeout)
        self._event.clear()
        return self.stop

    def wake(self) -> None:
        self._event.set()

    def interrupt(self) -> None:
        self.stop = True
        self._event.set()


@pytest.fixture(autouse=True)
def no_current_task():
    set_current_task(None)
    yield
    set_current_task(None)


def until(cond: Callable[[], bool]) -> None:
    """Wait for a condition another thread makes true (bounded)."""
    end = time.monotonic() + 10
    while not cond():
        assert time.monotonic() < end, "condition never became true"
        time.sleep(0.001)


def in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(fn())
        except Exception as exc:  # handed to the test
            out.append(exc)

    th = threading.Thread(target=run)
    th.start()
    return th, out


def new_queue(maxmsg: int = 4, msgsize: int = 16, registry: Registry | None = None):
    registry = registry or Registry()
    return registry.create(b"q", 0o600, Creds(), (maxmsg, msgsize), BIG)


def send(q, data: bytes, prio: int = 0, *, nonblock: bool = True, task: Any = None) -> None:
    q.send(data, prio, nonblock=nonblock, deadline=None, task=task)


def recv(q, *, nonblock: bool = True, deadline: float | None = None, task: Any = None):
    return q.receive(nonblock=nonblock, deadline=deadline, task=task)


def test_priority_order_and_fifo_within_a_priority():
    q = new_queue()
    for data, prio in ((b"a1", 1), (b"b5", 5), (b"c1", 1), (b"d5", 5)):
        send(q, data, prio)
    assert [recv(q) for _ in range(4)] == [(5, b"b5"), (5, b"d5"), (1, b"a1"), (1, b"c1")]


def test_full_and_empty_queues_without_blocking():
    q = new_queue(maxmsg=1, msgsize=4)
    with pytest.raises(EAGAIN):
        recv(q)
    send(q, b"x")
    with pytest.raises(EAGAIN):
        send(q, b"y")
    with pytest.raises(EMSGSIZE):
        send(q, b"12345")
    past = time.monotonic() - 1
    with pytest.raises(ETIMEDOUT):
        q.send(b"y", 0, nonblock=False, deadline=past, task=None)
    assert recv(q) == (0, b"x")
    with pytest.raises(ETIMEDOUT):
        recv(q, nonblock=False, deadline=past)


def test_status_line_and_readiness():
    q = new_queue(maxmsg=2)
    assert q.status() == b"QSIZE:0          NOTIFY:0     SIGNO:0     NOTIFY_PID:0     \n"
    assert q.readiness(POLLIN | POLLOUT) == POLLOUT
    send(q, b"hello")
    send(q, b"abc")
    assert q.status().startswith(b"QSIZE:8          NOTIFY:0")
    assert q.readiness(POLLIN | POLLOUT) == POLLIN


def test_a_waiting_receiver_gets_the_message_directly():
    q = new_queue()
    th, out = in_thread(lambda: recv(q, nonblock=False, task=FakeTask()))
    until(lambda: len(q._receivers) == 1)
    send(q, b"direct", 3)
    th.join()
    assert out == [(3, b"direct")]
    # It never went through the queue.
    assert q.curmsgs == 0 and q.qsize == 0


def test_a_blocked_senders_message_takes_the_freed_place():
    q = new_queue(maxmsg=1)
    send(q, b"first", 1)
    th, out = in_thread(lambda: send(q, b"second", 9, nonblock=False, task=FakeTask()))
    until(lambda: len(q._senders) == 1)
    assert recv(q) == (1, b"first")
    th.join()
    assert out == [None]
    assert recv(q) == (9, b"second")


def test_blocked_receive_interrupted_and_timed_out():
    q = new_queue()
    task = FakeTask()
    th, out = in_thread(lambda: recv(q, nonblock=False, task=task))
    until(lambda: len(q._receivers) == 1)
    task.interrupt()
    th.join()
    assert isinstance(out[0], ERESTARTSYS)
    assert q._receivers == []
    with pytest.raises(ETIMEDOUT):
        recv(q, nonblock=False, deadline=time.monotonic() + 0.01, task=FakeTask())
    assert q._receivers == []


def test_send_wakes_pollers_on_the_wait_queue():
    q = new_queue()
    waiter = Waiter(None)
    entry = q.wait_queue.add(waiter.wake, POLLIN)
    try:
        send(q, b"x")
        assert waiter._event.is_set()
    finally:
        q.wait_queue.remove(entry)


def test_registry_limits_for_an_unprivileged_creator():
    reg = Registry(Limits(queues_max=1))
    user = Creds(uid=1000, privileged=False)
    with pytest.raises(EINVAL):
        reg.create(b"a", 0o600, user, (11, 16), BIG)
    with pytest.raises(EINVAL):
        reg.create(b"a", 0o600, user, (10, 8193), BIG)
    with pytest.raises(EINVAL):
        reg.create(b"a", 0o600, user, (0, 16), BIG)
    q = reg.create(b"a", 0o600, user, None, BIG)
    assert (q.maxmsg, q.msgsize, q.uid) == (10, 8192, 1000)
    with pytest.raises(EEXIST):
        reg.create(b"a", 0o600, user, None, BIG)
    with pytest.raises(ENOSPC):
        reg.create(b"b", 0o600, user, None, BIG)
    # CAP_SYS_RESOURCE lifts the namespace limits up to the hard ones.
    reg.create(b"b", 0o600, Creds(), (65536, 16), BIG)
    with pytest.raises(EINVAL):
        reg.create(b"c", 0o600, Creds(), (65537, 16), BIG)


def test_rlimit_msgqueue_accounting_is_released_when_unlinked_and_closed():
    reg = Registry()
    user = Creds(uid=5)
    q = reg.create(b"a", 0o600, user, (10, 100), BIG)
    cost = reg.bytes_by_uid[5]
    assert cost == 10 * (100 + 48) + 10 * 48
    with pytest.raises(EMFILE):
        reg.create(b"b", 0o600, user, (10, 100), 2 * cost - 1)
    f = QueueFile(q)
    reg.unlink(b"a")
    with pytest.raises(ENOENT):
        reg.lookup(b"a")
    assert reg.bytes_by_uid[5] == cost and reg.count == 1  # still open
    f.release()
    assert 5 not in reg.bytes_by_uid and reg.count == 0
    reg.create(b"b", 0o600, user, (10, 100), 2 * cost - 1)


class FakeKernel:
    def __init__(self) -> None:
        self.sent: list[tuple[Any, int, SigInfo]] = []

    def send_signal(self, target: Any, signo: int, info: SigInfo) -> None:
        self.sent.append((target, signo, info))


class Group:
    zombie = False
    tasks = (object(),)


def test_notification_is_one_shot_and_exclusive():
    q = new_queue()
    kernel = FakeKernel()
    owner = Group()
    q.set_notification(3, Notification(3, SIGEV_SIGNAL, 10, 4242, owner))
    assert q.status() == b"QSIZE:0          NOTIFY:0     SIGNO:10    NOTIFY_PID:3     \n"
    with pytest.raises(EBUSY):
        q.set_notification(4, Notification(4, SIGEV_NONE, owner=Group()))
    q.set_notification(4, None)  # not the owner: no effect
    assert q.notification is not None
    send(q, b"x", task=FakeTask(tgid=9, kernel=kernel))
    assert len(kernel.sent) == 1
    target, signo, info = kernel.sent[0]
    assert target is owner and signo == 10 and info.code == SI_MESGQ
    assert struct.unpack("<iIQ", info.fields) == (9, 1000, 4242)
    # One shot; and only an empty -> non-empty change notifies.
    assert q.notification is None
    q.set_notification(3, Notification(3, SIGEV_SIGNAL, 10, 1, owner))
    send(q, b"y", task=FakeTask(kernel=kernel))
    assert len(kernel.sent) == 1 and q.notification is not None


def test_a_dead_owners_registration_does_not_block_others():
    q = new_queue()
    dead = Group()
    q.set_notification(3, Notification(3, SIGEV_NONE, owner=dead))
    dead.zombie = True
    q.set_notification(4, Notification(4, SIGEV_NONE, owner=Group()))
    assert q.notification is not None and q.notification.tgid == 4


def test_no_notification_when_a_receiver_is_waiting():
    q = new_queue()
    kernel = FakeKernel()
    q.set_notification(3, Notification(3, SIGEV_SIGNAL, 10, 0, Group()))
    th, out = in_thread(lambda: recv(q, nonblock=False, task=FakeTask()))
    until(lambda: len(q._receivers) == 1)
    send(q, b"x", task=FakeTask(kernel=kernel))
    th.join()
    assert out == [(0, b"x")] and kernel.sent == []
    assert q.notification is not None


def test_no_signal_once_the_owner_has_execd():
    q = new_queue()
    kernel = FakeKernel()
    owner = Group()
    owner.leader = SimpleNamespace(mm=object())  # type: ignore[attr-defined]
    q.set_notification(3, Notification(3, SIGEV_SIGNAL, 10, 0, owner, owner.leader.mm))  # type: ignore[attr-defined]
    owner.leader.mm = object()  # type: ignore[attr-defined]  # execve: a new address space
    send(q, b"x", task=FakeTask(kernel=kernel))
    assert kernel.sent == [] and q.notification is None
