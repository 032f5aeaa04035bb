"""Interval timers and POSIX timers (kernel/time/itimer.c,
posix-timers.c; gVisor ``kernel/time``).

One ``TimerService`` thread per kernel keeps every armed timer in a heap
and sleeps on a condition variable until the earliest expiry (or until a
timer is armed earlier): nothing polls. An expiry calls the timer's
``fire`` callback on the service thread, which sends the signal through
``signal_process`` (``kernel.send_signal`` once the signal code provides
it).

Timers are per process (``ProcessTimers``): ITIMER_REAL (alarm(2),
setitimer(2)), ITIMER_VIRTUAL and ITIMER_PROF, and the timer_create(2)
family. Deadlines of wall-clock timers are kept on the host's
CLOCK_MONOTONIC; a CLOCK_REALTIME timer is converted when armed (a later
change of the host's wall clock does not move it). Timers on CPU clocks
are ``cpu_timers.CPUTimer``s, checked by wall-clock timers of this service.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

from sentry.abi.errors import EAGAIN, EINVAL
from sentry.hostsys.cpus import unpin_thread
from sentry.kernel.clocks import CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_TAI
from sentry.kernel.cpu_timers import CPUTimer
from sentry.kernel.cputime import CPUCLOCK_PROF, CPUCLOCK_VIRT, CPUClock
from sentry.kernel.signals import (
    DEFAULT_IGNORED,
    SI_TIMER,
    SIG_DFL,
    SIG_IGN,
    SIGALRM,
    SIGKILL,
    SIGPROF,
    SIGSTOP,
    SIGVTALRM,
    SigInfo,
)

log = logging.getLogger("sentry.kernel")

#: include/uapi/asm-generic/siginfo.h
SIGEV_SIGNAL = 0
SIGEV_NONE = 1
SIGEV_THREAD = 2
SIGEV_THREAD_ID = 4
#: kernel/time/posix-timers.c: timers a process may hold before EAGAIN
#: (bounded by RLIMIT_SIGPENDING in Linux; a fixed ceiling here).
MAX_TIMERS = 4096

#: Wall clocks timers may run on; all tick as the host's monotonic clock
#: once armed (CPU clocks are accepted too, see ``cputime.is_cpu_clock``).
TIMER_CLOCKS = frozenset({CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_TAI})


def _dead(task: Any) -> bool:
    tg = getattr(task, "thread_group", None)
    if tg is not None:
        return bool(tg.zombie or not tg.tasks)
    return task.exit_status is not None


def signal_process(
    task: Any, signo: int, info: SigInfo | None = None, *, thread: bool = False
) -> None:
    """Send ``signo`` from a timer to ``task``'s process (or to ``task``
    itself with ``thread``, SIGEV_THREAD_ID) through ``kernel.send_signal``.

    Kernels without ``send_signal`` (unit tests, part 1) get part 1's
    behaviour: a signal whose action is to terminate kills the task; an
    ignored or blocked one is dropped."""
    send = getattr(task.kernel, "send_signal", None)
    if send is not None:
        target = task if thread else getattr(task, "thread_group", task)
        send(target, signo, info)
        return
    if task.exit_status is not None:
        return
    if task.signal_mask >> (signo - 1) & 1 and signo not in (SIGKILL, SIGSTOP):
        return
    handler = task.sighand.get(signo).handler
    if handler == SIG_IGN or (handler == SIG_DFL and signo in DEFAULT_IGNORED):
        return
    from sentry.kernel.exit import ExitStatus

    task.kill(ExitStatus(signo=signo))


def timer_siginfo(signo: int, timer_id: int, overrun: int, value: int) -> SigInfo:
    """siginfo of a POSIX timer expiry: SI_TIMER with the _timer union
    (si_tid, si_overrun, si_value; include/uapi/asm-generic/siginfo.h)."""
    return SigInfo(signo, SI_TIMER, 0, struct.pack("<iiQ", timer_id, overrun, value & (2**64 - 1)))


class Timer:
    """One timer: a deadline, an interval and what to do at expiry."""

    def __init__(self, service: TimerService, fire: Callable[[Timer], None]) -> None:
        self.service = service
        self.fire = fire
        #: Monotonic deadline in ns, or 0 when disarmed.
        self.deadline_ns = 0
        self.interval_ns = 0
        #: Bumped on every (re)arm so stale heap entries are skipped.
        self.generation = 0
        #: Expirations that found the previous signal not yet delivered.
        self.overrun = 0
        #: What the timer belongs to (a PosixTimer), for the callback.
        self.owner: object = None

    def arm(self, deadline_ns: int, interval_ns: int) -> None:
        """Arm at a monotonic deadline (0 disarms)."""
        self.service.arm(self, deadline_ns, interval_ns)

    def now_ns(self) -> int:
        """The clock deadlines are measured in (CLOCK_MONOTONIC)."""
        return time.monotonic_ns()

    def remaining_ns(self) -> int:
        """Time to the next expiry (0 if disarmed)."""
        if not self.deadline_ns:
            return 0
        # kernel/time/itimer.c itimer_get_remtime: an armed timer never reads as 0.
        return max(1000, self.deadline_ns - time.monotonic_ns())


class TimerService:
    """The thread that expires every timer of a kernel."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[int, int, int, Timer]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def arm(self, timer: Timer, deadline_ns: int, interval_ns: int) -> None:
        with self._cond:
            timer.generation += 1
            timer.deadline_ns = deadline_ns
            timer.interval_ns = interval_ns if deadline_ns else 0
            if deadline_ns:
                heapq.heappush(self._heap, (deadline_ns, next(self._seq), timer.generation, timer))
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="sentry-timers", daemon=True
                    )
                    self._thread.start()
                self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def _run(self) -> None:
        unpin_thread()  # a tracer may have started this thread: drop its CPU pin
        while True:
            with self._cond:
                due: list[Timer] = []
                while not due:
                    if self._stopped:
                        return
                    now = time.monotonic_ns()
                    heap = self._heap
                    while heap and (heap[0][3].generation != heap[0][2] or heap[0][0] <= now):
                        deadline, _, gen, timer = heapq.heappop(heap)
                        if gen != timer.generation:
                            continue  # re-armed or disarmed since
                        due.append(timer)
                        if timer.interval_ns:
                            # Periodic: count the periods missed as overruns
                            # (kernel/time/posix-timers.c common_hrtimer_forward).
                            missed = (now - deadline) // timer.interval_ns
                            timer.overrun = missed
                            nxt = deadline + (missed + 1) * timer.interval_ns
                            timer.deadline_ns = nxt
                            heapq.heappush(heap, (nxt, next(self._seq), gen, timer))
                        else:
                            timer.deadline_ns = 0
                    if not due:
                        wait = (heap[0][0] - now) / 1e9 if heap else None
                        self._cond.wait(wait)
            for timer in due:
                try:
                    timer.fire(timer)
                except Exception:  # a failing callback must not stop every timer
                    log.exception("timer callback failed")


class PosixTimer:
    """A timer_create(2) timer (``struct k_itimer``)."""

    __slots__ = ("clock", "id", "notify", "signo", "target", "timer", "value")

    id: int
    clock: int
    signo: int
    notify: int
    value: int  # sigval
    target: Any  # the task signalled (SIGEV_THREAD_ID: that thread)
    timer: Timer | CPUTimer

    def __init__(  # noqa: PLR0917 - positional, as the dataclass's were
        self,
        id: int,
        clock: int,
        signo: int,
        notify: int,
        value: int,
        target: Any,
        timer: Timer | CPUTimer,
    ) -> None:
        self.id = id
        self.clock = clock
        self.signo = signo
        self.notify = notify
        self.value = value
        self.target = target
        self.timer = timer

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PosixTimer) or other.__class__ is not self.__class__:
            return NotImplemented
        return (
            self.id,
            self.clock,
            self.signo,
            self.notify,
            self.value,
            self.target,
            self.timer,
        ) == (
            other.id,
            other.clock,
            other.signo,
            other.notify,
            other.value,
            other.target,
            other.timer,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable and compared by value

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{n}={getattr(self, n)!r}"
            for n in ("id", "clock", "signo", "notify", "value", "target", "timer")
        )
        return f"PosixTimer({fields})"


class ProcessTimers:
    """A process's interval timers and POSIX timers (``signal_struct`` fields)."""

    def __init__(self, service: TimerService, task: Any) -> None:
        self.service = service
        self.task = task
        self.lock = threading.Lock()
        self.real = Timer(service, self._real_fired)
        #: ITIMER_VIRTUAL and ITIMER_PROF, made on first use.
        self._cpu_itimers: dict[int, CPUTimer] = {}
        self.posix: dict[int, PosixTimer] = {}
        self._next_id = 0

    def _real_fired(self, timer: Timer) -> None:
        if _dead(self.task):
            self.release()  # the process is gone: stop its timers
            return
        signal_process(self.task, SIGALRM)

    def _new_check_timer(self, callback: Callable[[Any], None]) -> Timer:
        return Timer(self.service, callback)

    def cpu_itimer(self, which: int) -> CPUTimer:
        """ITIMER_VIRTUAL (``CPUCLOCK_VIRT``: user time, SIGVTALRM) or
        ITIMER_PROF (``CPUCLOCK_PROF``: user + system time, SIGPROF) of the
        whole process (kernel/time/itimer.c set_cpu_itimer)."""
        with self.lock:
            timer = self._cpu_itimers.get(which)
            if timer is None:
                signo = SIGVTALRM if which == CPUCLOCK_VIRT else SIGPROF
                assert which in (CPUCLOCK_VIRT, CPUCLOCK_PROF)
                clock = CPUClock(self.task.thread_group, False, which, self.task.kernel.tree_lock)

                def fired(_timer: CPUTimer, signo: int = signo) -> None:
                    if _dead(self.task):
                        self.release()
                        return
                    signal_process(self.task, signo)

                timer = CPUTimer(self._new_check_timer, fired, clock)
                self._cpu_itimers[which] = timer
            return timer

    # -- POSIX timers ----------------------------------------------------------------
    def reserve_id(self) -> int:
        """The next timer id. Linux allocates it before checking the
        sigevent (kernel/time/posix-timers.c do_timer_create), so a
        refused create still uses one up."""
        with self.lock:
            if len(self.posix) >= MAX_TIMERS:
                raise EAGAIN
            tid = self._next_id
            while tid in self.posix:
                tid += 1
            self._next_id = tid + 1
            return tid

    def create(  # noqa: PLR0917
        self,
        tid: int,
        clock: int,
        signo: int,
        notify: int,
        value: int | None,
        target: Any,
        cpu_clock: CPUClock | None = None,
    ) -> int:
        """Install timer ``tid`` (from ``reserve_id``); ``cpu_clock`` is the
        resolved clock of a timer on a CPU clock."""
        timer: Timer | CPUTimer
        if cpu_clock is not None:
            timer = CPUTimer(self._new_check_timer, self._posix_fired, cpu_clock)
        else:
            timer = Timer(self.service, self._posix_fired)
        with self.lock:
            pt = PosixTimer(
                tid, clock, signo, notify, tid if value is None else value, target, timer
            )
            pt.timer.owner = pt
            self.posix[tid] = pt
            return tid

    def _posix_fired(self, timer: Timer | CPUTimer) -> None:
        pt = timer.owner
        if not isinstance(pt, PosixTimer):
            return
        if _dead(self.task):
            self.release()
            return
        if pt.notify == SIGEV_NONE:
            return
        info = timer_siginfo(pt.signo, pt.id, pt.timer.overrun, pt.value)
        signal_process(pt.target, pt.signo, info, thread=bool(pt.notify & SIGEV_THREAD_ID))

    def get(self, tid: int) -> PosixTimer:
        pt = self.posix.get(tid)
        if pt is None:
            raise EINVAL(f"no timer {tid}")
        return pt

    def delete(self, tid: int) -> None:
        with self.lock:
            pt = self.posix.pop(tid, None)
        if pt is None:
            raise EINVAL(f"no timer {tid}")
        pt.timer.arm(0, 0)

    def release(self) -> None:
        """The process exited: disarm everything."""
        self.real.arm(0, 0)
        with self.lock:
            timers = list(self.posix.values())
            self.posix.clear()
            itimers = list(self._cpu_itimers.values())
        for itimer in itimers:
            itimer.arm(0, 0)
        for pt in timers:
            pt.timer.arm(0, 0)


_service_lock = threading.RLock()  # process_timers calls timer_service under it


def timer_service(kernel: Any) -> TimerService:
    """The kernel's timer thread (created on first use)."""
    service: TimerService | None = getattr(kernel, "timer_service", None)
    if service is None:
        with _service_lock:
            service = getattr(kernel, "timer_service", None)
            if service is None:
                service = TimerService()
                kernel.timer_service = service
    return service


def process_timers(task: Any) -> ProcessTimers:
    """The timers of ``task``'s process (its thread group when there is one)."""
    owner = getattr(task, "thread_group", None) or task
    timers: ProcessTimers | None = getattr(owner, "timers", None)
    if timers is None:
        with _service_lock:
            timers = getattr(owner, "timers", None)
            if timers is None:
                leader = getattr(owner, "leader", None) or task
                timers = ProcessTimers(timer_service(task.kernel), leader)
                owner.timers = timers
    return timers


def on_exec(task: Any) -> None:
    """execve(2): POSIX timers are deleted, the interval timers carry over
    (kernel/exec.c begin_new_exec -> exit_itimers; man 2 execve). For the
    exec code to call once the new image is in place."""
    owner = getattr(task, "thread_group", None) or task
    timers: ProcessTimers | None = getattr(owner, "timers", None)
    if timers is None:
        return
    with timers.lock:
        posix = list(timers.posix.values())
        timers.posix.clear()
    for pt in posix:
        pt.timer.arm(0, 0)


def on_exit(task: Any) -> None:
    """The process ended: disarm all its timers now (kernel/exit.c
    do_exit -> exit_itimers, and the ITIMER_REAL hrtimer cancel). Without
    this call they stop at their next expiry."""
    owner = getattr(task, "thread_group", None) or task
    timers: ProcessTimers | None = getattr(owner, "timers", None)
    if timers is not None:
        timers.release()
