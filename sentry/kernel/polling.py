"""Waiting for readiness on many files at once: the core of poll(2),
ppoll(2), select(2) and pselect6(2) (fs/select.c do_poll, do_select).

Sentry files with a wait queue (``impl.wait_queue``: pipes, eventfds) wake
the sleeper directly. Files backed by a host FD (the application's stdio)
are waited for with a host poll(2) that also watches a host eventfd the
Sentry queues signal, in slices so that an interrupted task still notices
(``Task.block`` cannot wait on a host FD). Files with neither are always
ready (DEFAULT_POLLMASK) and never make anyone sleep.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable, Sequence
from typing import Any

from sentry.abi.errors import EBADF, LinuxError
from sentry.kernel.waiter import Waiter, WaitQueue
from sentry.vfs.file import FileDescription
from sentry.vfs.inode import POLLERR, POLLHUP, POLLNVAL

#: How often a task waiting on a host FD checks whether it was interrupted.
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
    host: list[tuple[int, int]] = []
    for desc, mask in files:
        if desc is None:
            continue
        queue = getattr(desc.impl, "wait_queue", None)
        if queue is not None:
            queues.append((queue, mask | POLLERR | POLLHUP))
        else:
            fd = _host_fd(desc)
            if fd is not None:
                host.append((fd, mask))
    if host:
        return _wait_with_host(task, scan, queues, host, deadline, interrupted) or zeros
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
                    return zeros
            if waiter.sleep(timeout):
                raise interrupted
    finally:
        for q, entry in entries:
            q.remove(entry)


def _wait_with_host(  # noqa: PLR0917
    task: Any,
    scan: Callable[[], list[int] | None],
    queues: list[tuple[WaitQueue, int]],
    host: list[tuple[int, int]],
    deadline: float | None,
    interrupted: type[LinuxError],
) -> list[int] | None:
    wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)

    def wake() -> None:
        try:
            os.eventfd_write(wake_fd, 1)
        except OSError:  # counter saturated or closed: a wake-up is pending anyway
            pass

    entries = [(q, q.add(wake, m)) for q, m in queues]
    poller = select.poll()
    poller.register(wake_fd, select.POLLIN)
    for fd, mask in host:
        poller.register(fd, mask)
    is_interrupted = getattr(task, "interrupted", None)
    try:
        while True:
            result = scan()
            if result is not None:
                return result
            slice_ms = HOST_SLICE_MS
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                slice_ms = min(slice_ms, max(1, int(left * 1000)))
            try:
                poller.poll(slice_ms)
            except InterruptedError:
                pass
            except OSError as exc:
                raise EBADF(str(exc)) from None
            try:
                os.eventfd_read(wake_fd)
            except BlockingIOError:
                pass
            if is_interrupted is not None and is_interrupted():
                raise interrupted
    finally:
        for q, entry in entries:
            q.remove(entry)
        os.close(wake_fd)
