"""epoll instances (fs/eventpoll.c; gVisor ``vfs/epoll.go``).

An ``EventPoll`` is the ``FileImpl`` of an epoll file. It keeps the interest
list, keyed like Linux's by (file description, fd) so that a dup'd
descriptor can be added separately and a registration lives as long as the
*description*: closing one fd of a dup'd description leaves it in place;
the last close of the description removes it (``FileDescription`` release
hook, Linux's eventpoll_release).

How files wake an epoll instance (the contract other file kinds follow):

- A Sentry-internal file (pipe, eventfd, timerfd, signalfd, pty, AF_UNIX
  socket, another epoll) exposes ``impl.wait_queue`` (a
  ``sentry.kernel.waiter.WaitQueue``) and calls ``notify(events)`` after
  every state change with the poll bits that may have become ready, and
  answers ``impl.readiness(mask)`` without blocking.
- A file served by a host descriptor (stdio, directfs files, hostinet
  sockets) has no wait queue and exposes the host descriptor as
  ``impl.fileno()``; its ``readiness(mask)`` asks the host. The instance
  watches it through ``sentry.kernel.fdnotifier``, which gives the host FD a
  wait queue fed by one host epoll (edge-triggered), so both kinds wake the
  instance the same way. If the host cannot poll the FD (a regular file,
  a directory, /dev/null), epoll_ctl fails with EPERM as on Linux.
- Anything else (tmpfs files, most devices) cannot be polled: EPERM.

Readiness is always re-checked by the waiter: a wake-up only moves the item
to the ready list (Linux's ep_poll_callback). ``scan`` then asks each ready
item's file for its events; level-triggered items stay on the list after
being reported, edge-triggered ones leave it until their next wake-up,
one-shot ones are disabled until EPOLL_CTL_MOD.

EPOLLEXCLUSIVE is accepted with Linux's validation but every waiter is
woken (correct, just less economical); EPOLLWAKEUP is dropped, as Linux
does for a caller without CAP_BLOCK_SUSPEND.

Lock order: ``mtx`` (Linux ep->mtx; re-entrant, serialises ctl and scans;
an outer instance's before a nested one's) -> the files' own locks ->
``_rdlock`` (ep->lock, a leaf guarding the ready list, the only lock a
wake callback takes). Several tasks may wait on one instance at once.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sentry.abi.errors import EEXIST, EINTR, EINVAL, ELOOP, ENOENT, EPERM, LinuxError
from sentry.kernel import fdnotifier
from sentry.kernel.eventfd import ANON_INODE_STAT
from sentry.kernel.waiter import WaitEntry, Waiter, WaitQueue
from sentry.vfs.file import FileDescription
from sentry.vfs.inode import POLLERR, POLLHUP, POLLIN, POLLRDNORM, FileImpl

EPOLL_CTL_ADD = 1
EPOLL_CTL_DEL = 2
EPOLL_CTL_MOD = 3

EPOLLIN = 0x001
EPOLLPRI = 0x002
EPOLLOUT = 0x004
EPOLLERR = 0x008
EPOLLHUP = 0x010
EPOLLRDHUP = 0x2000
EPOLLEXCLUSIVE = 1 << 28
EPOLLWAKEUP = 1 << 29
EPOLLONESHOT = 1 << 30
EPOLLET = 1 << 31
#: Flags that are not events (fs/eventpoll.c EP_PRIVATE_BITS).
EP_PRIVATE_BITS = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE
#: What EPOLLEXCLUSIVE may be combined with (EPOLLEXCLUSIVE_OK_BITS).
EPOLLEXCLUSIVE_OK_BITS = (
    EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE
)
#: Event bits a file may report (everything but the private flags).
EP_EVENT_MASK = 0xFFFFFFFF & ~EP_PRIVATE_BITS
#: fs/eventpoll.c EP_MAX_NESTS: how deep epoll instances may nest.
EP_MAX_NESTS = 4
#: fs/eventpoll.c EP_MAX_EVENTS: INT_MAX / sizeof(struct epoll_event).
EP_MAX_EVENTS = 0x7FFFFFFF // 12

#: Serialises the loop checks of EPOLL_CTL_ADD with an epoll target
#: (Linux's epnested_mutex).
_nest_lock = threading.Lock()


class EpollItem:
    """One registration (``struct epitem``)."""

    __slots__ = ("data", "desc", "entry", "events", "fd", "host_fd", "queue", "removed")

    def __init__(self, desc: FileDescription, fd: int, events: int, data: int) -> None:
        self.desc = desc
        self.fd = fd
        self.events = events
        self.data = data
        self.queue: WaitQueue | None = None
        self.entry: WaitEntry | None = None
        self.host_fd: int | None = None
        self.removed = False


def _wait_queue_of(desc: FileDescription, mask: int) -> tuple[WaitQueue, int | None]:
    """The queue that wakes an item for ``desc`` on ``mask`` (and the host
    FD watched, if any); EPERM if the file cannot be polled (file_can_poll)."""
    impl = desc.impl
    queue = getattr(impl, "wait_queue", None)
    if queue is not None:
        return queue, None
    try:
        fd = impl.fileno()
    except (LinuxError, AttributeError):
        raise EPERM("file does not support polling") from None
    if not isinstance(fd, int) or fd < 0:
        raise EPERM("file does not support polling")
    return fdnotifier.watch(fd, mask), fd


class EventPoll(FileImpl):
    """An epoll instance (``struct eventpoll``)."""

    seekable = False

    def __init__(self) -> None:
        self.mtx = threading.RLock()
        self._rdlock = threading.Lock()
        self.items: dict[tuple[FileDescription, int], EpollItem] = {}
        #: The ready list (rdllist): an insertion-ordered set.
        self._ready: dict[EpollItem, None] = {}
        #: Woken when an item becomes ready: epoll_wait sleepers, and
        #: whoever polls this epoll file (poll, select, an outer epoll).
        self.wait_queue = WaitQueue()

    # -- the interest list ----------------------------------------------------------
    def add(self, desc: FileDescription, fd: int, events: int, data: int) -> None:
        """EPOLL_CTL_ADD (ep_insert): EEXIST if (desc, fd) is registered."""
        with self.mtx:
            if (desc, fd) in self.items:
                raise EEXIST
            item = EpollItem(desc, fd, events | EPOLLERR | EPOLLHUP, data)
            queue, host_fd = _wait_queue_of(desc, item.events & EP_EVENT_MASK)
            item.queue, item.host_fd = queue, host_fd
            item.entry = queue.add(lambda: self._wake(item), item.events & EP_EVENT_MASK)
            self.items[(desc, fd)] = item
            desc.add_release_hook(item, self._released)
            self._queue_if_ready(item)

    def modify(self, desc: FileDescription, fd: int, events: int, data: int) -> None:
        """EPOLL_CTL_MOD (ep_modify): ENOENT if not registered; EINVAL for an
        EPOLLEXCLUSIVE registration."""
        with self.mtx:
            item = self.items.get((desc, fd))
            if item is None:
                raise ENOENT
            if item.events & EPOLLEXCLUSIVE:
                raise EINVAL
            old = item.entry.mask if item.entry is not None else 0
            item.events = events | EPOLLERR | EPOLLHUP
            item.data = data
            if item.entry is not None:
                item.entry.mask = item.events & EP_EVENT_MASK
            if item.host_fd is not None:
                fdnotifier.rewatch(item.host_fd, old, item.events & EP_EVENT_MASK)
            self._queue_if_ready(item)

    def delete(self, desc: FileDescription, fd: int) -> None:
        """EPOLL_CTL_DEL (ep_remove): ENOENT if not registered."""
        with self.mtx:
            item = self.items.get((desc, fd))
            if item is None:
                raise ENOENT
            self._remove(item)
            desc.remove_release_hook(item)

    def contains_epoll(self, target: EventPoll, depth: int = 1) -> bool:
        """Whether ``target`` is reachable from here through nested epoll
        items, or the nesting is deeper than EP_MAX_NESTS (ep_loop_check)."""
        if depth > EP_MAX_NESTS:
            return True
        with self.mtx:
            nested = [i.desc.impl for i in self.items.values()]
        return any(
            ep is target or ep.contains_epoll(target, depth + 1)
            for ep in nested
            if isinstance(ep, EventPoll)
        )

    def _queue_if_ready(self, item: EpollItem) -> None:
        if self._poll_item(item):
            self._wake(item)

    def _remove(self, item: EpollItem) -> None:
        item.removed = True
        self.items.pop((item.desc, item.fd), None)
        if item.queue is not None and item.entry is not None:
            item.queue.remove(item.entry)
        if item.host_fd is not None:
            fdnotifier.unwatch(item.host_fd, item.entry.mask if item.entry else 0)
            item.host_fd = None
        with self._rdlock:
            self._ready.pop(item, None)

    def _released(self, desc: FileDescription) -> None:
        """The last reference to a watched description went (eventpoll_release)."""
        with self.mtx:
            for item in [i for i in self.items.values() if i.desc is desc]:
                self._remove(item)
                desc.remove_release_hook(item)

    def release(self) -> None:
        """The epoll file itself was closed: drop every registration."""
        with self.mtx:
            for item in list(self.items.values()):
                self._remove(item)
                item.desc.remove_release_hook(item)

    # -- readiness ----------------------------------------------------------------------
    def _wake(self, item: EpollItem) -> None:
        """ep_poll_callback: a watched file may have become ready."""
        with self._rdlock:
            if item.removed or not item.events & EP_EVENT_MASK:
                return  # gone, or a one-shot item not re-armed yet
            self._ready[item] = None
        self.wait_queue.notify(POLLIN | POLLRDNORM)

    @staticmethod
    def _poll_item(item: EpollItem) -> int:
        events = item.events & EP_EVENT_MASK
        if item.removed or not events:
            return 0
        try:
            return item.desc.readiness(events) & events
        except LinuxError:
            return 0  # released under us: its removal is on its way

    def scan(self, limit: int, *, consume: bool = True) -> list[tuple[int, int]]:
        """Up to ``limit`` ready (events, data) pairs (ep_send_events).

        With ``consume`` (epoll_wait) one-shot items are disabled, edge
        items leave the ready list and level items go to its tail; without
        (someone polls this epoll file, ep_eventpoll_poll) the list only
        loses the items that turned out not to be ready."""
        with self.mtx:
            with self._rdlock:
                if not self._ready:
                    return []
                tx = list(self._ready)
                self._ready = {}
            out: list[tuple[int, int]] = []
            keep: list[EpollItem] = []
            i = 0
            while i < len(tx) and len(out) < limit:
                item = tx[i]
                i += 1
                revents = self._poll_item(item)
                if not revents:
                    continue
                out.append((revents, item.data))
                events = item.events
                if not consume or not events & (EPOLLONESHOT | EPOLLET):
                    keep.append(item)
                elif events & EPOLLONESHOT:
                    item.events = events & EP_PRIVATE_BITS
            rest = tx[i:]
            with self._rdlock:
                # ep_done_scan: the unscanned rest first, then what woke up
                # during the scan, then the level-triggered items re-queued;
                # an item is listed once, at its first place.
                arrived = self._ready
                order = (rest, arrived, keep) if consume else (keep, rest, arrived)
                ready: dict[EpollItem, None] = {}
                for part in order:
                    for item in part:
                        if not item.removed:
                            ready.setdefault(item)
                self._ready = ready
            return out

    def readiness(self, mask: int) -> int:
        """An epoll file is readable while one of its items is ready."""
        if self.scan(1, consume=False):
            return (POLLIN | POLLRDNORM) & (mask | POLLERR | POLLHUP)
        return 0

    def wait(self, task: Any, maxevents: int, deadline: float | None) -> list[tuple[int, int]]:
        """epoll_wait's core (ep_poll): ready events, or [] once ``deadline``
        (time.monotonic()) passes; None waits forever. Ready events win over
        a pending signal; otherwise an interrupted wait fails with EINTR,
        never restarted (Linux returns -EINTR from ep_poll)."""
        events = self.scan(maxevents)
        if events or (deadline is not None and deadline <= time.monotonic()):
            return events
        waiter = Waiter(task)
        entry = self.wait_queue.add(waiter.wake, POLLIN | POLLRDNORM)
        try:
            while True:
                events = self.scan(maxevents)
                if events:
                    return events
                timeout = None
                if deadline is not None:
                    timeout = deadline - time.monotonic()
                    if timeout <= 0:
                        return []
                if waiter.sleep(timeout):
                    raise EINTR
        finally:
            self.wait_queue.remove(entry)


def new_epoll() -> FileDescription:
    """A fresh epoll file description (anon_inode:[eventpoll])."""
    return FileDescription(
        EventPoll(), 0o2, name="anon_inode:[eventpoll]", stat=lambda: ANON_INODE_STAT
    )


def check_ctl(op: int, epdesc: FileDescription, target: FileDescription, events: int) -> int:
    """do_epoll_ctl's checks, in Linux's order after both fds resolved:
    EPERM for an unpollable target, EINVAL for a non-epoll ``epdesc``, a
    self-add or a bad EPOLLEXCLUSIVE, ELOOP for a cycle. Returns the event
    mask to store (EPOLLWAKEUP dropped)."""
    impl = target.impl
    if getattr(impl, "wait_queue", None) is None:
        try:
            host_fd = impl.fileno()
        except (LinuxError, AttributeError):
            raise EPERM from None
        if not fdnotifier.can_poll(host_fd):
            raise EPERM
    has_event = op != EPOLL_CTL_DEL
    if has_event:
        events &= ~EPOLLWAKEUP
    ep = epdesc.impl
    if epdesc is target or not isinstance(ep, EventPoll):
        raise EINVAL
    if has_event and events & EPOLLEXCLUSIVE:
        if op == EPOLL_CTL_MOD:
            raise EINVAL
        if op == EPOLL_CTL_ADD and (
            isinstance(impl, EventPoll) or events & ~EPOLLEXCLUSIVE_OK_BITS
        ):
            raise EINVAL
    if op == EPOLL_CTL_ADD and isinstance(impl, EventPoll):
        with _nest_lock:
            if impl is ep or impl.contains_epoll(ep):
                raise ELOOP
    if op not in (EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD):
        raise EINVAL
    return events
