"""A stub process and its threads: one sysemu thread per tracer host thread
(gVisor ``subprocess``, whose map goes from tracer OS thread to thread).

ptrace ties a tracee to one tracer *thread*, and a Sentry task runs on a host
thread of its own, so every host thread that runs application code (or
injects a mapping) in an address space needs a stub thread it traces itself.
They are threads of one stub process (CLONE_VM|CLONE_THREAD...), so they
share its memory, which is the application's address space.

Creating one (``StubProcess.thread``)
    The thread group leader is not a sysemu thread: once prepared, it is
    *parked*, untraced, in the stub's park loop (``stub_park``: a blocking
    read of the park pipe, see ``stub.py``) with every blockable signal
    blocked. A host thread that needs a stub thread seizes the leader
    (PTRACE_SEIZE + PTRACE_INTERRUPT), injects clone(CLONE_STUB_THREAD),
    whose CLONE_PTRACE makes the new thread traced by that same host thread
    from its first instruction, and parks the leader again (PTRACE_DETACH).
    No thread is handed from one tracer to another, and the host thread that
    started the process may exit while the others go on. A lock serialises
    creations; each takes a few injections (tens of microseconds).

Lifetime
    A stub thread ends with its task: ``retire_current`` (called by
    ``PtraceContext.release`` on the tracer thread, and when a host thread
    ends, from its thread-local registry) injects exit(2), which ends that
    thread alone, and reaps it. ``kill`` SIGKILLs the whole process and reaps
    every thread and then the leader (a leader is reported only once the
    others are gone). The leader exits by itself when the Sentry dies (end of
    file on the park pipe), and traced threads die with their tracer
    (PTRACE_O_EXITKILL, which kills the whole process): a host thread that
    ends without retiring its stub threads costs the process.
"""

from __future__ import annotations

import os
import signal
import threading
import weakref
from collections.abc import Callable

from sentry.platform.ptrace._ptrace import Stub, StubExitedError
from sentry.platform.ptrace.pool import Spare, park
from sentry.platform.ptrace.stub import StubImage, start_stub

__all__ = ["StubProcess"]


class StubProcess:
    """One stub process: its parked leader and a stub thread per tracer."""

    def __init__(
        self,
        image: StubImage,
        memory_fd: int,
        park_fd: int,
        spare: Spare | None = None,
        *,
        follow_cpu: bool = True,
    ) -> None:
        """Adopt ``spare`` (from ``pool.StubPool``: seize its parked first
        thread) or spawn and prepare a stub on the calling thread and clone
        the first thread from its leader; either way the calling thread gets
        the first stub thread. ``follow_cpu`` (the platform pins stubs) lets
        a seize bind the seized thread, and so the threads the leader
        clones, to the seizing thread's CPU."""
        self._image = image
        self._lock = threading.Lock()
        self._threads: dict[int, Stub] = {}
        self._killed = False
        self._follow_cpu = follow_cpu
        if spare is not None:
            self._leader = spare.leader
            self.pid = spare.leader.pid
            # Registered first: if the seize fails, kill() reaps it (as our
            # tracee, or finds it gone) before it waits for the leader.
            self._threads[threading.get_ident()] = spare.first
            try:
                spare.first.seize(follow_cpu, True)
            except BaseException:
                self.kill()
                raise
            _registry().add(self)
            return
        leader = start_stub(image, memory_fd, park_fd)
        self._leader = leader
        self.pid = leader.pid
        try:
            first = leader.clone_thread()
            self._threads[threading.get_ident()] = first
            self._park()
        except BaseException:
            self.kill()
            raise
        _registry().add(self)

    def _park(self) -> None:
        park(self._leader, self._image)

    @property
    def killed(self) -> bool:
        """Whether ``kill`` ran (the process is gone or going)."""
        return self._killed

    def thread(self) -> Stub:
        """The calling host thread's stub thread, created on first use."""
        t = self._threads.get(threading.get_ident())
        if t is not None:
            return t
        return self._new_thread()

    def _new_thread(self) -> Stub:
        ident = threading.get_ident()
        with self._lock:
            if self._killed:
                raise StubExitedError(f"stub {self.pid} was killed")
            leader = self._leader
            leader.seize(self._follow_cpu)
            try:
                t = leader.clone_thread()
                self._threads[ident] = t
            finally:
                self._park()
        _registry().add(self)
        return t

    def threads(self) -> dict[int, Stub]:
        """Tracer thread ident -> its stub thread (a copy; tests, debugging)."""
        with self._lock:
            return dict(self._threads)

    def retire_current(self) -> None:
        """End and reap the calling host thread's stub thread, if any (the
        task that ran on it is gone). Must run on that host thread."""
        reg = _local.__dict__.get("registry")
        if reg is not None:
            reg.discard(self)
        self._retire()

    def _retire(self) -> None:
        with self._lock:
            t = self._threads.pop(threading.get_ident(), None)
            killed = self._killed
        if t is None or killed:
            return
        try:
            t.exit_thread()
        except StubExitedError:
            pass  # the process died meanwhile: kill() or the host reaps it

    def kill(self, reap_later: Callable[[list[Stub]], bool] | None = None) -> None:
        """SIGKILL the process and reap all its threads, or hand them (leader
        last) to ``reap_later`` when it accepts them (``pool.StubPool``'s).
        Idempotent; any thread may call it (wait(2) reaps the children and
        tracees of every thread of the Sentry). Tracers switching meanwhile
        see StubExitedError."""
        with self._lock:
            if self._killed:
                return
            self._killed = True
            threads = list(self._threads.values())
            self._threads.clear()
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if reap_later is not None and reap_later([*threads, self._leader]):
            return
        for t in threads:
            t.reap()
        self._leader.reap()

    def __del__(self) -> None:
        if not getattr(self, "_killed", True) and hasattr(self, "_leader"):
            self.kill()


class _TracerRegistry:
    """The stub processes in which the owning host thread has a stub thread.
    Lives in a ``threading.local``, so it is dropped, on that very thread,
    when the thread ends: its stub threads are retired then."""

    def __init__(self) -> None:
        self._processes: weakref.WeakSet[StubProcess] = weakref.WeakSet()

    def add(self, process: StubProcess) -> None:
        self._processes.add(process)

    def discard(self, process: StubProcess) -> None:
        self._processes.discard(process)

    def __del__(self) -> None:
        for process in list(self._processes):
            try:
                process._retire()
            except Exception:  # the thread is ending: nobody to report to
                pass


_local = threading.local()


def _registry() -> _TracerRegistry:
    reg: _TracerRegistry | None = _local.__dict__.get("registry")
    if reg is None:
        reg = _local.registry = _TracerRegistry()
    return reg
