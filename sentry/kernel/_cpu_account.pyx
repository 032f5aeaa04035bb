# cython: language_level=3, boundscheck=False, wraparound=False
"""A task's CPU-time account, in C because the run loop moves it twice per
system call (see ``sentry.kernel.cputime``).

Each transition reads CLOCK_MONOTONIC (the vDSO, tens of ns) and updates
four C fields; it runs with the GIL held and without releasing it, so a
reader on another thread (``sample``) always sees a consistent account."""

cdef extern from "<time.h>" nogil:
    ctypedef long time_t
    cdef struct timespec:
        time_t tv_sec
        long tv_nsec
    int clock_gettime(int clk, timespec *ts)
    int CLOCK_MONOTONIC

RUNNING_APP = 0
RUNNING_SYS = 1
BLOCKED = 2


cdef inline long long _now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <long long>ts.tv_sec * 1000000000LL + ts.tv_nsec


cdef class CpuAccount:
    """User time (running application code), system time (running in the
    Sentry) and the state the task is in since ``since_ns``."""

    cdef readonly long long user_ns
    cdef readonly long long sys_ns
    cdef readonly long long since_ns
    cdef readonly int state

    def __cinit__(self, long long user_ns=0, long long sys_ns=0, int state=1, since_ns=None):
        self.user_ns = user_ns
        self.sys_ns = sys_ns
        self.state = state
        self.since_ns = _now() if since_ns is None else since_ns

    cdef inline void _move(self, int state, long long now) noexcept:
        cdef long long spent = now - self.since_ns
        if spent > 0:
            if self.state == 0:
                self.user_ns += spent
            elif self.state == 1:
                self.sys_ns += spent
        if now > self.since_ns:
            self.since_ns = now
        self.state = state

    def enter_app(self):
        """About to switch into application code (the run loop)."""
        self._move(0, _now())

    def leave_app(self):
        """Back from application code: serving a trap (the run loop)."""
        self._move(1, _now())

    def move_at(self, int state, long long now):
        """Move to ``state`` at ``now`` (a CLOCK_MONOTONIC time)."""
        self._move(state, now)

    cdef tuple _sample(self, long long now):
        cdef long long user = self.user_ns, system = self.sys_ns
        cdef long long spent = now - self.since_ns
        if spent > 0:
            if self.state == 0:
                user += spent
            elif self.state == 1:
                system += spent
        return (user, system)

    def sample_at(self, long long now):
        """(user_ns, sys_ns) at ``now``, counting the current state so far."""
        return self._sample(now)

    def sample(self):
        """(user_ns, sys_ns) now."""
        return self._sample(_now())

    def __repr__(self):
        return (
            f"CpuAccount(user_ns={self.user_ns}, sys_ns={self.sys_ns}, "
            f"state={self.state}, since_ns={self.since_ns})"
        )
