"""Waiting for readiness on many files at once: the core of poll(2),
ppoll(2), select(2) and pselect6(2) (fs/select.c do_poll, do_select).

Sentry files with a wait queue (``impl.wait_queue``: pipes, eventfds) wake
the sleeper directly. Files backed by a host FD (the application's stdio,
host sockets) get a wait queue from ``sentry.kernel.fdnotifier`` (a host
epoll watched by one Sentry thread), so the sleeper blocks in ``Task.block``
and a signal interrupts it at once. Files with neither, and host FDs the
host cannot poll, are always ready (DEFAULT_POLLMASK) and never make anyone
sleep.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Sequence
from typing import Any

from sentry.abi.errors import LinuxError
from sentry.kernel import fdnotifier
from sentry.kernel.waiter import Waiter, WaitQueue
from sentry.vfs.file import FileDescription
from sentry.vfs.inode import POLLERR, POLLHUP, POLLNVAL

#: How often code that still polls a host FD in slices (rather than through
#: ``wait_host_fd``) checks whether its task was interrupted.
HOST_SLICE_MS = 50


def _host_fd(desc: FileDescription) -> int | None:
    impl = desc.impl
    if getattr(impl, "wait_queue", None) is not None:
        return None
    try:
        fd = impl.fileno()
    except (LinuxError, AttributeError):
        return None
    return fd if isinstance(fd, int) and fd >= 0 else None


def poll_files(
    task: Any,
    files: Sequence[tuple[FileDescription | None, int]],
    deadline: float | None,
    interrupted: type[LinuxError],
) -> list[int]:
    """Wait until one of ``files`` (description, event mask) is ready, the
    deadline passes or the task is interrupted (raises ``interrupted``).

    Returns the ready events of each entry (POLLNVAL for a None
    description); all zero on timeout. A deadline in the past polls once.
    """

    def scan() -> list[int] | None:
        out = []
        any_ready = False
        for desc, mask in files:
            if desc is None:
                ev = POLLNVAL
            else:
                ev = desc.readiness(mask) & (mask | POLLERR | POLLHUP)
            out.append(ev)
            any_ready = any_ready or ev != 0
        return out if any_ready else None

    result = scan()
    if result is not None:
        return result
    zeros = [0] * len(files)
    if deadline is not None and deadline <= time.monotonic():
        return zeros
    queues: list[tuple[WaitQueue, int]] = []
    watched: list[tuple[int, int]] = []
    try:
        for desc, mask in files:
            if desc is None:
                continue
            queue = getattr(desc.impl, "wait_queue", None)
            if queue is None:
                fd = _host_fd(desc)
                if fd is None:
                    continue
                try:
                    queue = fdnotifier.watch(fd, mask)
                except LinuxError:
                    continue  # the host cannot poll it: always ready
                watched.append((fd, mask))
            queues.append((queue, mask | POLLERR | POLLHUP))
        return _sleep(task, scan, queues, deadline, interrupted) or zeros
    finally:
        for fd, mask in watched:
            fdnotifier.unwatch(fd, mask)


def _sleep(
    task: Any,
    scan: Callable[[], list[int] | None],
    queues: list[tuple[WaitQueue, int]],
    deadline: float | None,
    interrupted: type[LinuxError],
) -> list[int] | None:
    waiter = Waiter(task)
    entries = [(q, q.add(waiter.wake, m)) for q, m in queues]
    try:
        while True:
            result = scan()
            if result is not None:
                return result
            timeout = None
            if deadline is not None:
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    return None
            if waiter.sleep(timeout):
                raise interrupted
    finally:
        for q, entry in entries:
            q.remove(entry)


def wait_host_fd(
    task: Any,
    fd: int,
    events: int,
    deadline: float | None,
    interrupted: type[LinuxError],
) -> bool:
    """Sleep until host ``fd`` reports one of ``events`` (or an error or
    hang-up): True then, False once ``deadline`` (time.monotonic()) passes;
    ``interrupted`` is raised as soon as the task is. For blocking calls on
    host-backed files (stdio reads, host sockets). A host FD the host
    cannot poll is always ready."""
    probe = select.poll()
    probe.register(fd, events | POLLERR | POLLHUP)

    def ready() -> list[int] | None:
        return [1] if probe.poll(0) else None

    try:
        queue = fdnotifier.watch(fd, events)
    except LinuxError:
        return True
    try:
        if ready():
            return True
        if deadline is not None and deadline <= time.monotonic():
            return False
        return (
            _sleep(task, ready, [(queue, events | POLLERR | POLLHUP)], deadline, interrupted)
            is not None
        )
    finally:
        fdnotifier.unwatch(fd, events)
