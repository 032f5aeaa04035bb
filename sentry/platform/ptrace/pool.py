"""Stub processes started ahead of need, off the critical path of fork and exec.

Starting a stub (vfork + exec of the stub binary, the post-exec stop, five
injected set-up calls, parking the leader) costs about half a millisecond,
paid by every fork and every exec on the task's own host thread. The result
is always the same, a prepared and parked leader (``process.StubProcess``),
and a parked leader is untraced, so any host thread can adopt it later
(``StubProcess`` seizes it to clone its first stub thread). So a background
thread keeps a few of them ready (from the second address space on: the
first is init's), each with its first stub thread already
cloned and parked too, and ``take`` hands one out; the new address space
then pays only the seize of that thread.

The pool thread does not exec each spare either: it starts one *template*
stub, prepared as usual and kept traced (never parked), and clones each
spare from it with one injected clone(CLONE_STUB_PROCESS) (gVisor's ptrace
platform also creates stubs by cloning an existing one). The copy inherits
what preparation set up (seccomp filter, no_new_privs, the address space
reduced to the stub page, descriptors 3 and 4), CLONE_PARENT makes it the
Sentry's child rather than the template's, and CLONE_PTRACE the pool
thread's tracee, which clones its first thread and parks both. This takes
a few tens of microseconds of the pool thread instead of half a
millisecond, which matters on a 2-CPU host where the pool thread competes
with the tasks for CPU and the GIL.

The pool thread also reaps killed stubs (``reap_later``), off the path of
the task that released the address space.

The spare stubs and the template are host children of the Sentry that
belong to no address space: ``close`` kills them (and reaps what is
queued), and the kernel calls it (through ``Platform.quiesce``) before it
counts what a sandbox left behind. When the pool cannot start stubs (the
host refused: a pids limit, no memory) it stops trying and ``take``
returns None, so the caller starts its stub itself and sees the host's
error where it happens; killed stubs are then reaped by whoever kills them.
"""

from __future__ import annotations

import collections
import logging
import threading
from typing import NamedTuple

from sentry.hostsys.cpus import unpin_thread
from sentry.platform.ptrace._ptrace import Stub, StubExitedError
from sentry.platform.ptrace.stub import STUB_PARK_FD, SYS_READ, StubImage, start_stub

__all__ = ["Spare", "StubPool", "park"]

log = logging.getLogger(__name__)


def park(leader: Stub, image: StubImage) -> None:
    """Leave a prepared leader untraced in the stub's park loop (blocking
    read of the park pipe), traced by nobody until a host thread seizes it."""
    leader.park(image.park, SYS_READ, STUB_PARK_FD, image.start, 1)


class Spare(NamedTuple):
    """A spare stub process: its parked leader and a second thread, parked
    too, that the adopting host thread seizes to run application code (so
    the first stub thread of an address space costs a seize, not a seize
    of the leader, a clone and a park)."""

    leader: Stub
    first: Stub


class StubPool:
    """Up to ``size`` spare stubs, refilled by a daemon thread started on
    first use."""

    def __init__(self, image: StubImage, memory_fd: int, park_fd: int, size: int) -> None:
        self._image = image
        self._memory_fd = memory_fd
        self._park_fd = park_fd
        self._size = size
        self._ready: collections.deque[Spare] = collections.deque()
        self._cond = threading.Condition(threading.Lock())
        self._spawning = False
        self._closed = size <= 0
        self._failed = False
        self._thread: threading.Thread | None = None
        self._asked = False
        # A prepared stub, traced by the pool thread and never parked, that
        # spares are cloned from; it belongs to no address space.
        self._template: Stub | None = None
        # Threads of killed stub processes, in the order to reap them
        # (``reap_later``), and whether the pool thread is reaping some.
        self._dead: collections.deque[Stub] = collections.deque()
        self._reaping = False

    def take(self) -> Spare | None:
        """A spare stub, or None (pool closed, failing, or disabled).

        Waits for a start already under way rather than racing it with a
        second one on a 2-CPU host; refills in the background either way."""
        with self._cond:
            if self._closed or self._failed:
                return None
            if self._thread is None:
                if not self._asked:
                    # The first address space (init's) starts its stub
                    # itself, or takes the one ``prepare_first`` started:
                    # a sandbox that never forks nor execs keeps no spare
                    # processes. The second one starts the pool.
                    self._asked = True
                    return self._ready.popleft() if self._ready else None
                self._thread = threading.Thread(
                    target=self._run, name="ptrace-stub-pool", daemon=True
                )
                self._thread.start()
            while not self._ready and self._spawning and not self._closed:
                self._cond.wait()
            spare = self._ready.popleft() if self._ready else None
            self._cond.notify_all()
            return spare

    def prepare_first(self) -> None:
        """Start the first address space's stub now, on the calling thread,
        for its ``take`` (boot calls this while it waits for StartRoot, so
        the container's first instruction does not wait ~0.5-0.9 ms for
        a stub). A failure is left for ``take``'s caller to meet."""
        with self._cond:
            if self._closed or self._asked or self._ready or self._thread is not None:
                return
        try:
            spare = self._spare(start_stub(self._image, self._memory_fd, self._park_fd))
        except (OSError, StubExitedError) as exc:
            log.info("cannot start the first stub ahead: %s", exc)
            return
        with self._cond:
            if self._closed or self._asked:
                spare.leader.kill()
            else:
                self._ready.append(spare)

    @property
    def ready(self) -> int:
        """How many spares wait (tests, debugging)."""
        with self._cond:
            return len(self._ready)

    def reap_later(self, stubs: list[Stub]) -> bool:
        """Queue the threads of a SIGKILLed stub process (its leader last)
        for the pool thread to reap, so the task releasing an address space
        does not wait for the host to tear the stub down (tens to hundreds
        of microseconds, on the critical path of exit and exec). False when
        the pool cannot (closed, failing, never started): reap them yourself."""
        with self._cond:
            if self._closed or self._failed or self._thread is None:
                return False
            self._dead.extend(stubs)
            self._cond.notify_all()
            return True

    def drain(self) -> None:
        """Wait until every stub queued by ``reap_later`` is reaped."""
        with self._cond:
            while self._dead or self._reaping:
                self._cond.wait()

    def _reap_queued(self) -> None:
        """Reap what ``reap_later`` queued; with the lock held, released
        while waiting for the host."""
        while self._dead:
            batch = list(self._dead)
            self._dead.clear()
            self._reaping = True
            self._cond.release()
            try:
                for stub in batch:
                    stub.reap()
            finally:
                self._cond.acquire()
                self._reaping = False
                self._cond.notify_all()

    def _run(self) -> None:
        unpin_thread()  # a tracer may have started this thread: drop its CPU pin
        while True:
            with self._cond:
                while not self._closed and not self._dead and len(self._ready) >= self._size:
                    self._cond.wait()
                self._reap_queued()
                if self._closed:
                    return
                if len(self._ready) >= self._size:
                    continue
                self._spawning = True
            try:
                spare = self._spare(self._clone())
            except (OSError, StubExitedError) as exc:
                log.warning("stub pool stops: cannot start a stub: %s", exc)
                with self._cond:
                    self._failed = True  # reap_later refuses from now on
                    self._spawning = False
                    self._reap_queued()
                    self._cond.notify_all()
                return
            with self._cond:
                closed = self._closed
                if closed:
                    spare.leader.kill()  # before close() can return
                else:
                    self._ready.append(spare)
                self._spawning = False
                self._cond.notify_all()
            if closed:
                return

    def _spare(self, leader: Stub) -> Spare:
        """Make a prepared ``leader`` a spare: clone its first thread and
        park both. On failure the leader is killed and the error raised."""
        try:
            first = leader.clone_thread()
            park(first, self._image)
            park(leader, self._image)
        except BaseException:
            leader.kill()
            raise
        return Spare(leader, first)

    def _clone(self) -> Stub:
        """A new stub process cloned from the template (one injected clone
        instead of an exec and five set-up calls); the template is started
        on first use and again if it died."""
        template = self._template
        if template is not None and template.alive_:
            try:
                return template.clone_process()
            except StubExitedError:
                pass  # killed from outside: start another
            template.kill()
        self._template = None
        template = start_stub(self._image, self._memory_fd, self._park_fd)
        self._template = template
        return template.clone_process()

    def close(self) -> None:
        """Stop refilling, kill every spare stub (and one being started) and
        reap what was queued for reaping. Idempotent; the pool hands out
        nothing afterwards."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            while self._spawning or self._reaping:
                self._cond.wait()
            self._reap_queued()
            spare = list(self._ready)
            self._ready.clear()
            template, self._template = self._template, None
        for each in spare:
            each.leader.kill()  # the process; its parked, untraced thread with it
        if template is not None:
            template.kill()  # any thread may; its tracer, the pool thread, is done
