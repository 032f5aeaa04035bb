"""Wait queues for host FDs (gVisor ``pkg/fdnotifier``).

Files the Sentry serves from a host descriptor (the application's stdio,
directfs files, hostinet sockets) have no Sentry wait queue: their state
changes in the host kernel. ``watch(fd)`` gives such a file one anyway. A
single daemon thread owns a host epoll instance in which every watched
descriptor is registered edge-triggered for all events; when the host
reports an edge, the thread notifies that descriptor's ``WaitQueue`` with the
host's event bits. Waiters then re-check readiness themselves (a zero-timeout
host poll), so an edge only has to say "look again".

This lets ``sentry.kernel.epoll`` (and anything else built on wait queues)
treat host-backed and Sentry-internal files alike and sleep in
``Task.block``, interruptible by signals, without polling in slices.

Watches are counted per host FD, each with its event mask (the host
registration asks for their union): the owner of the host FD must
``unwatch`` it before closing it (a closed FD number may be reused). A host
descriptor the host cannot poll (a regular file, a directory, /dev/null)
makes ``watch`` raise EPERM, exactly what Linux's epoll_ctl says of such a
file.

Lock order: the notifier's lock is a leaf (it is never held while a queue
is notified).
"""

from __future__ import annotations

import logging
import select
import threading

from sentry.abi.errors import from_oserror
from sentry.hostsys.cpus import unpin_thread
from sentry.kernel.waiter import WaitQueue

log = logging.getLogger("sentry.kernel")

#: Always watched; edge-triggered so the thread wakes once per change, not
#: once per loop while data stays unread.
_ALWAYS = select.EPOLLERR | select.EPOLLHUP | select.EPOLLET
#: The event bits a watcher may ask for.
_EVENT_BITS = 0xFFFF


class FDNotifier:
    """The host epoll instance and the thread that turns its events into
    wait-queue notifications."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._epoll = select.epoll(flags=select.EPOLL_CLOEXEC)
        #: host fd -> (queue, the event masks of its watchers)
        self._watched: dict[int, tuple[WaitQueue, list[int]]] = {}
        self._thread: threading.Thread | None = None

    def watch(self, fd: int, mask: int) -> WaitQueue:
        """The wait queue of host ``fd``, notified for ``mask`` (and errors
        and hang-ups); EPERM if the host cannot poll it.

        The host registration asks only for the union of the watchers'
        masks, so that, as on Linux, a wake-up for events nobody waits for
        (the Sentry's own writes to a stdout watched for EPOLLOUT) does not
        reach the queue."""
        with self._lock:
            known = self._watched.get(fd)
            if known is not None:
                self._set_masks(fd, [*known[1], mask & _EVENT_BITS])
                return known[0]
            try:
                self._epoll.register(fd, (mask & _EVENT_BITS) | _ALWAYS)
            except OSError as exc:
                raise from_oserror(exc) from None
            queue = WaitQueue()
            self._watched[fd] = (queue, [mask & _EVENT_BITS])
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="sentry-fdnotifier", daemon=True
                )
                self._thread.start()
            return queue

    def rewatch(self, fd: int, old: int, new: int) -> None:
        """One watcher of ``fd`` changed its mask from ``old`` to ``new``."""
        with self._lock:
            known = self._watched.get(fd)
            if known is None:
                return
            masks = list(known[1])
            masks.remove(old & _EVENT_BITS)
            self._set_masks(fd, [*masks, new & _EVENT_BITS])

    def unwatch(self, fd: int, mask: int) -> None:
        """Drop the watch of ``fd`` with ``mask``; the last one removes the
        FD from the host epoll."""
        with self._lock:
            known = self._watched.get(fd)
            if known is None:
                return
            masks = list(known[1])
            masks.remove(mask & _EVENT_BITS)
            if masks:
                self._set_masks(fd, masks)
                return
            del self._watched[fd]
            try:
                self._epoll.unregister(fd)
            except OSError:
                pass  # already closed by its owner: the host dropped it

    def _set_masks(self, fd: int, masks: list[int]) -> None:
        queue, old = self._watched[fd]
        self._watched[fd] = (queue, masks)
        union = 0
        for m in masks:
            union |= m
        before = 0
        for m in old:
            before |= m
        if union != before:
            try:
                self._epoll.modify(fd, union | _ALWAYS)
            except OSError as exc:
                raise from_oserror(exc) from None

    def _run(self) -> None:
        unpin_thread()  # a tracer may have started this thread: drop its CPU pin
        while True:
            try:
                events = self._epoll.poll(-1)
            except InterruptedError:
                continue
            for fd, ev in events:
                with self._lock:
                    known = self._watched.get(fd)
                if known is not None:
                    try:
                        known[0].notify(ev & ~select.EPOLLET)
                    except Exception:  # a broken waiter must not stop every host FD
                        log.exception("host fd %d: notify failed", fd)


_notifier: FDNotifier | None = None
_notifier_lock = threading.Lock()


def notifier() -> FDNotifier:
    """The process-wide notifier (one host epoll serves every sandbox task)."""
    global _notifier
    if _notifier is None:
        with _notifier_lock:
            if _notifier is None:
                _notifier = FDNotifier()
    return _notifier


def can_poll(fd: int) -> bool:
    """Whether the host can poll ``fd`` (a scratch epoll registration: the
    host refuses regular files, directories and devices without poll)."""
    probe = select.epoll(flags=select.EPOLL_CLOEXEC)
    try:
        probe.register(fd, select.EPOLLIN)
    except OSError:
        return False
    finally:
        probe.close()
    return True


def watch(fd: int, mask: int) -> WaitQueue:
    """``notifier().watch(fd, mask)``."""
    return notifier().watch(fd, mask)


def rewatch(fd: int, old: int, new: int) -> None:
    """``notifier().rewatch(fd, old, new)``."""
    notifier().rewatch(fd, old, new)


def unwatch(fd: int, mask: int) -> None:
    """``notifier().unwatch(fd, mask)``."""
    notifier().unwatch(fd, mask)
