# cython: language_level=3, boundscheck=False, wraparound=False
"""The hot path of the ptrace platform: switching into a stub and injecting
host system calls into it (see the package docstring for the design).

Everything that blocks (waitpid) runs without the GIL, and registers are
copied as one C struct (``sentry.arch._registers.Registers.regs``).
"""

from sentry.platform import ContextLost
from libc.errno cimport EINTR, errno
from libc.string cimport memset
from posix.types cimport pid_t

from sentry.arch._registers cimport Registers, user_regs_struct

import os

cdef extern from *:
    """
    #ifndef _GNU_SOURCE
    #define _GNU_SOURCE
    #endif
    #include <errno.h>
    #include <pthread.h>
    #include <sched.h>
    #include <signal.h>
    #include <sys/ptrace.h>
    #include <sys/syscall.h>
    #include <sys/uio.h>
    #include <sys/wait.h>
    #include <time.h>
    #include <unistd.h>

    #ifndef PTRACE_SYSEMU
    #define PTRACE_SYSEMU 31
    #endif

    static inline long pysb_raw_ptrace(long req, pid_t pid, void *addr, void *data)
    {
        return syscall(SYS_ptrace, req, pid, addr, data);
    }
    static inline long pysb_raw_tgkill(pid_t tgid, pid_t tid, int sig)
    {
        return syscall(SYS_tgkill, tgid, tid, sig);
    }
    static inline int pysb_atomic_load(int *p)
    {
        return __atomic_load_n(p, __ATOMIC_SEQ_CST);
    }
    static inline int pysb_atomic_xchg(int *p, int v)
    {
        return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
    }
    static inline int pysb_atomic_cas(int *p, int expected, int desired)
    {
        return __atomic_compare_exchange_n(p, &expected, desired, 0,
                                           __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    }
    /* Bind tid to one CPU (sched_setaffinity(2)); cpu_set_t macros need C. */
    static inline int pysb_bind_cpu(pid_t tid, int cpu)
    {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        return sched_setaffinity(tid, sizeof(set), &set);
    }
    static inline int pysb_unbind_cpu(pid_t tid)
    {
        cpu_set_t set;
        if (sched_getaffinity(0, sizeof(set), &set) < 0)
            return -1;
        return sched_setaffinity(tid, sizeof(set), &set);
    }
    /* The CPUs the Sentry may use, read once before any tracer pins
       itself: a thread created by a pinned tracer inherits its one-CPU
       mask, so releasing restores this set rather than the caller's. */
    static cpu_set_t pysb_allowed;
    static int pysb_allowed_ok;
    static inline int pysb_capture_allowed(void)
    {
        if (sched_getaffinity(0, sizeof(pysb_allowed), &pysb_allowed) < 0)
            return -1;
        pysb_allowed_ok = 1;
        return 0;
    }
    static inline int pysb_release_self(void)
    {
        if (!pysb_allowed_ok)
            return 0;
        return sched_setaffinity(0, sizeof(pysb_allowed), &pysb_allowed);
    }
    /* How many sticky tracers have their stub running on each CPU right
       now (inside a switch), for choosing where a new task starts. */
    static int pysb_running_on[CPU_SETSIZE];
    static inline void pysb_running_add(int cpu, int d)
    {
        if (cpu >= 0 && cpu < CPU_SETSIZE)
            __atomic_add_fetch(&pysb_running_on[cpu], d, __ATOMIC_RELAXED);
    }
    /* The CPU for a new tracer thread started by the calling thread: its
       own CPU if no stub runs there, else the allowed CPU where the fewest
       run (the own CPU on a tie). */
    static inline int pysb_choose_cpu(void)
    {
        int cur = sched_getcpu();
        int best, best_n, cpu, n;
        if (cur < 0 || cur >= CPU_SETSIZE)
            return cur;
        best = cur;
        best_n = __atomic_load_n(&pysb_running_on[cur], __ATOMIC_RELAXED);
        if (best_n == 0 || !pysb_allowed_ok)
            return cur;
        for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
            if (!CPU_ISSET(cpu, &pysb_allowed))
                continue;
            n = __atomic_load_n(&pysb_running_on[cpu], __ATOMIC_RELAXED);
            if (n < best_n) {
                best = cpu;
                best_n = n;
            }
        }
        return best;
    }
    static inline long long pysb_coarse_ns(void)
    {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
        return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    }
    static inline unsigned long pysb_self(void) { return (unsigned long)pthread_self(); }
    static inline pid_t pysb_gettid(void) { return (pid_t)syscall(SYS_gettid); }
    static inline unsigned long pysb_si_addr(siginfo_t *si)
    {
        return (unsigned long)si->si_addr;
    }
    static inline unsigned long pysb_si_call_addr(siginfo_t *si)
    {
        return (unsigned long)si->si_call_addr;
    }
    static inline int pysb_si_syscall(siginfo_t *si) { return si->si_syscall; }
    """
    long pysb_raw_ptrace(long req, pid_t pid, void *addr, void *data) nogil
    long pysb_raw_tgkill(pid_t tgid, pid_t tid, int sig) nogil
    int pysb_atomic_load(int *p) nogil
    int pysb_atomic_xchg(int *p, int v) nogil
    int pysb_atomic_cas(int *p, int expected, int desired) nogil
    int pysb_bind_cpu(pid_t tid, int cpu) nogil
    int pysb_unbind_cpu(pid_t tid) nogil
    int pysb_capture_allowed() nogil
    int pysb_release_self() nogil
    long long pysb_coarse_ns() nogil
    void pysb_running_add(int cpu, int d) nogil
    int pysb_choose_cpu() nogil
    unsigned long pysb_self() nogil
    pid_t pysb_gettid() nogil
    int usleep(unsigned int usec) nogil
    int sched_getcpu() nogil
    pid_t waitpid(pid_t pid, int *status, int options) nogil
    bint WIFSTOPPED(int status) nogil
    bint WIFEXITED(int status) nogil
    bint WIFSIGNALED(int status) nogil
    int WSTOPSIG(int status) nogil
    int WEXITSTATUS(int status) nogil
    int WTERMSIG(int status) nogil
    ctypedef struct siginfo_t:
        int si_signo
        int si_code
    unsigned long pysb_si_addr(siginfo_t *si) nogil
    unsigned long pysb_si_call_addr(siginfo_t *si) nogil
    int pysb_si_syscall(siginfo_t *si) nogil
    long PTRACE_GETREGS, PTRACE_SETREGS, PTRACE_SYSEMU, PTRACE_CONT, PTRACE_GETSIGINFO
    long PTRACE_SETOPTIONS, PTRACE_SETSIGMASK, PTRACE_O_EXITKILL, PTRACE_O_TRACESYSGOOD
    long PTRACE_KILL, PTRACE_GETREGSET, PTRACE_SETREGSET
    long PTRACE_SEIZE, PTRACE_INTERRUPT, PTRACE_DETACH, PTRACE_EVENT_STOP
    struct iovec:
        void *iov_base
        size_t iov_len
    int __WALL
    int SIGTRAP, SIGCHLD, SIGSEGV, SIGBUS, SIGSYS, SIGKILL, SIGSTOP, SIGILL, SIGFPE
    int SI_KERNEL

#: What ``SwitchState.switch`` reports (the Python layer builds the Trap objects).
TRAP_SYSCALL = 0
TRAP_FAULT = 1
TRAP_SIGNAL = 2
TRAP_INTERRUPTED = 3

#: How the stub thread is bound to CPUs; see the package docstring ("Pinning").
PIN_NONE = 0
PIN_FOLLOW = 1
PIN_BOTH = 2
PIN_STICKY = 3
cdef enum:
    C_PIN_FOLLOW = 1
    C_PIN_STICKY = 3

#: How long a sticky tracer stays pinned before one round trip runs with it
#: free, so the scheduler can move it (and its stub) to a quieter CPU.
cdef long long _lease_ns = 20_000_000
STICKY_LEASE_NS = _lease_ns

# Before any tracer pins itself (the importing thread is not a tracer).
pysb_capture_allowed()


def choose_cpu():
    """Where a task started by the calling (tracer) thread should run: this
    thread's CPU unless a sticky tracer's stub is running there and another
    allowed CPU has fewer (-1 if the CPU is unknown)."""
    return pysb_choose_cpu()


#: clone(2) flags of a new stub thread: a thread of the stub process
#: (shared memory, descriptors, handlers) traced from birth by the tracer of
#: the thread that cloned it (gVisor subprocess.go ``clone``).
CLONE_STUB_THREAD = 0x100 | 0x200 | 0x400 | 0x800 | 0x2000 | 0x10000
#: clone(2) flags of a stub process cloned from a prepared one (see
#: seccomp.CLONE_STUB_PROCESS): CLONE_PARENT|CLONE_PTRACE, exit signal SIGCHLD.
CLONE_STUB_PROCESS = 0x8000 | 0x2000 | 17
SYS_CLONE = 56
SYS_EXIT = 60

#: The signal ``interrupt`` sends to a running stub. SIGCHLD is ignored by
#: default, so even if it were ever delivered it could not kill the stub; the
#: stub has no children, so a SIGCHLD stop is always ours (gVisor uses it too).
INTERRUPT_SIGNAL = SIGCHLD

# SI_KERNEL etc: include/uapi/asm-generic/siginfo.h.
cdef enum:
    SYS_SECCOMP = 1
    ST_IDLE = 0
    ST_RUNNING = 1
    ST_PENDING = 2
    # Results of the C-level run loop.
    K_SYSCALL = 0
    K_FAULT = 1
    K_SIGNAL = 2
    K_INTERRUPTED = 3
    K_EXITED = -2
    K_ERROR = -1

cdef unsigned long VSYSCALL_PAGE = 0xffffffffff600000UL


class StubExitedError(ContextLost):
    """The stub process died (killed from outside, or a seccomp violation):
    the address space is gone; the kernel treats this like a fatal signal."""


cdef class Stub:
    """One traced thread of a stub process, driven by one host thread (its
    tracer). ``pid`` is the stub process, ``tid`` this thread (equal for
    the thread group leader, which ``__init__`` adopts after the spawn);
    ``clone_thread`` makes the others."""

    cdef readonly pid_t pid
    cdef readonly pid_t tid
    cdef readonly unsigned long syscall_addr
    cdef readonly int exit_status
    cdef unsigned long tracer
    cdef int cpu
    cdef bint alive
    cdef bint reaped
    cdef user_regs_struct template

    def __cinit__(self):
        self.pid = -1
        self.tid = -1
        self.cpu = -1
        self.alive = False
        self.reaped = False
        self.exit_status = -1

    def __init__(self, int pid, unsigned long syscall_addr):
        """Adopt a freshly spawned stub: wait for its post-exec SIGTRAP stop,
        set ptrace options and an empty signal mask, and check it stopped at
        ``syscall_addr`` (the entry point). Must run on the spawning thread."""
        cdef int status = 0
        cdef pid_t got
        cdef unsigned long long mask = 0
        self.pid = pid
        self.tid = pid
        self.syscall_addr = syscall_addr
        self.tracer = pysb_self()
        self.alive = True
        with nogil:
            got = _wait(pid, &status)
        if got < 0:
            self._raise_errno("waitpid")
        if not WIFSTOPPED(status) or WSTOPSIG(status) != SIGTRAP:
            self._note_exit(status)
            raise StubExitedError(f"stub {pid} did not stop after exec (status {status:#x})")
        if pysb_raw_ptrace(PTRACE_SETOPTIONS, pid, NULL,
                           <void *>(PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD)) < 0:
            self._raise_errno("PTRACE_SETOPTIONS")
        # The spawner blocked every signal across exec; unblock them here so
        # interrupt() and faults stop the stub (PTRACE_SETSIGMASK, Linux 3.11).
        if pysb_raw_ptrace(PTRACE_SETSIGMASK, pid, <void *>8, &mask) < 0:
            self._raise_errno("PTRACE_SETSIGMASK")
        if pysb_raw_ptrace(PTRACE_GETREGS, pid, NULL, &self.template) < 0:
            self._raise_errno("PTRACE_GETREGS")
        if self.template.rip != syscall_addr:
            raise StubExitedError(
                f"stub {pid} stopped at {self.template.rip:#x}, expected {syscall_addr:#x}")

    cdef void _note_exit(self, int status):
        self.alive = False
        self.reaped = True
        if WIFEXITED(status):
            self.exit_status = WEXITSTATUS(status)
        elif WIFSIGNALED(status):
            self.exit_status = 128 + WTERMSIG(status)

    cdef int _raise_errno(self, str what, int err=0) except -1:
        if err == 0:
            err = errno
        if err == 10:  # ECHILD: another thread reaped it (kill() during a switch).
            self.alive = False
            self.reaped = True
            raise StubExitedError(f"stub {self.pid} was killed and reaped during {what}")
        if err == 3:  # ESRCH: the tracee is gone (or not stopped); reap it if it died.
            self._reap_nohang()
            if not self.alive:
                raise StubExitedError(f"stub {self.pid} died (status {self.exit_status}) during {what}")
        raise OSError(err, f"{what} on stub {self.pid}: {os.strerror(err)}")

    cdef void _reap_nohang(self):
        # ESRCH from a request to a tracee we left stopped means it was
        # SIGKILLed; its exit becomes waitable within moments.
        cdef int status = 0
        cdef pid_t got
        cdef int tries
        for tries in range(1000):
            got = waitpid(self.tid, &status, __WALL | 1)  # WNOHANG
            if got == self.tid and not WIFSTOPPED(status):
                self._note_exit(status)
                return
            if got < 0:
                if errno == 10:  # ECHILD: another thread reaped it (a kill)
                    self.alive = False
                    self.reaped = True
                return
            usleep(1000)

    cdef int _check_thread(self) except -1:
        if not self.alive:
            raise StubExitedError(f"stub {self.pid} is not running (status {self.exit_status})")
        if pysb_self() != self.tracer:
            raise RuntimeError(
                f"stub thread {self.tid} can only be driven by its tracer, the host "
                "thread that created it (each host thread gets a stub thread of its own)")
        return 0

    @property
    def alive_(self):
        """Whether the stub is believed alive (False after it died or was killed)."""
        return self.alive

    @property
    def cpu_(self):
        """The CPU the stub is currently bound to, or -1."""
        return self.cpu

    def syscall(self, long nr, unsigned long a0=0, unsigned long a1=0, unsigned long a2=0,
                unsigned long a3=0, unsigned long a4=0, unsigned long a5=0):
        """Run host system call ``nr`` in the stub and return its raw result
        (a negative errno on failure: the caller decides what is an error).

        Sets rip to the stub's ``syscall`` instruction and continues; the
        ``int3`` after it stops the stub (gVisor subprocess.go ``syscall``).
        Interrupt signals that arrive meanwhile are swallowed: interrupt()
        records its request in the context, not in the signal.
        """
        cdef user_regs_struct r = self.template
        cdef int status = 0
        cdef long rc
        cdef pid_t got
        cdef int sig
        self._check_thread()
        r.rip = self.syscall_addr
        r.rax = <unsigned long long>nr
        r.orig_rax = <unsigned long long>-1
        r.rdi = a0
        r.rsi = a1
        r.rdx = a2
        r.r10 = a3
        r.r8 = a4
        r.r9 = a5
        with nogil:
            rc = pysb_raw_ptrace(PTRACE_SETREGS, self.tid, NULL, &r)
            while rc >= 0:
                rc = pysb_raw_ptrace(PTRACE_CONT, self.tid, NULL, NULL)
                if rc < 0:
                    break
                got = _wait(self.tid, &status)
                if got < 0:
                    rc = -1
                    break
                if not WIFSTOPPED(status):
                    break
                sig = WSTOPSIG(status)
                if sig == SIGTRAP:
                    rc = pysb_raw_ptrace(PTRACE_GETREGS, self.tid, NULL, &r)
                    break
                # Some other signal (interrupt, an outside SIGSTOP) stopped the
                # stub before or after the syscall; it is dropped by continuing
                # with data 0. rip tells whether the syscall already ran.
        if rc < 0:
            self._raise_errno(f"injecting syscall {nr}")
        if not WIFSTOPPED(status):
            self._note_exit(status)
            raise StubExitedError(
                f"stub {self.tid} died injecting syscall {nr} (status {status:#x}; "
                "a seccomp violation kills it with SIGSYS)")
        if r.rip != self.syscall_addr + 3:
            # Cannot happen with an intact stub; do not keep a stub in an
            # unknown state around.
            self.kill()
            raise StubExitedError(
                f"stub {self.tid} trapped at {r.rip:#x} injecting syscall {nr}; killed it")
        return <long>r.rax

    def kill(self):
        """SIGKILL the whole stub process and reap this thread. Idempotent;
        any thread may call it (wait(2) reaps the child or tracee of any
        thread of the thread group). A tracer switching into this thread
        meanwhile sees StubExitedError."""
        if self.pid <= 0 or self.reaped:
            return
        self.alive = False
        try:
            os.kill(self.pid, SIGKILL)
        except ProcessLookupError:
            pass
        self._reap()

    def reap(self):
        """Wait for this thread's death (after a SIGKILL of its process):
        idempotent, any thread of the Sentry may call it."""
        self.alive = False
        if self.tid > 0 and not self.reaped:
            self._reap()

    cdef void _reap(self) noexcept:
        # Polled (WNOHANG), never a blocking wait: the pool thread, a kill()
        # and the tracer may all wait for this thread, and a blocking
        # waitpid that loses the race for the zombie to another thread of
        # the Sentry sleeps until some other child changes state, which at
        # teardown never happens (kernel/exit.c do_wait: the loser saw an
        # eligible task, so it goes back to sleep instead of ECHILD).
        cdef int status = 0
        cdef pid_t got
        cdef pid_t pid = self.tid
        cdef unsigned int pause = 20
        with nogil:
            while True:
                got = waitpid(pid, &status, __WALL | 1)  # WNOHANG
                if got < 0 and errno == EINTR:
                    continue
                if got == pid and WIFSTOPPED(status):
                    continue  # a ptrace stop racing with the kill
                if got == 0:
                    usleep(pause)  # SIGKILLed, not yet dead: moments
                    if pause < 1000:
                        pause *= 2
                    continue
                break
        self.reaped = True
        if got == pid:
            self._note_exit(status)
        elif self.exit_status < 0:
            self.exit_status = 128 + SIGKILL

    def __dealloc__(self):
        # An address space dropped without release() must not leave a
        # stopped stub or a zombie behind. The leader stands for the
        # process (StubProcess keeps it as long as any thread).
        if self.pid > 0 and self.tid == self.pid and not self.reaped:
            try:
                os.kill(self.pid, SIGKILL)
            except OSError:
                pass
            self._reap()

    cdef int bind(self, int mode) noexcept nogil:
        """Keep the stub on the tracer's current CPU (gVisor thread.bind)."""
        cdef int cpu
        if mode == 0:
            return 0
        cpu = sched_getcpu()
        if cpu < 0 or cpu == self.cpu:
            return 0
        if mode == 2:
            pysb_bind_cpu(0, cpu)
        if pysb_bind_cpu(self.tid, cpu) == 0:
            self.cpu = cpu
        return 0

    def unbind(self):
        """Let the stub run on any CPU the tracer may use (benchmarks)."""
        if pysb_unbind_cpu(self.tid) == 0:
            self.cpu = -1

    def clone_thread(self):
        """Inject clone(CLONE_STUB_THREAD) and adopt the new thread: traced
        by the calling thread (CLONE_PTRACE gives it this thread's tracer,
        options and seized-ness), stopped before its first instruction,
        with an empty signal mask. Returns its Stub."""
        cdef long tid = self.syscall(SYS_CLONE, CLONE_STUB_THREAD)
        if tid <= 0:
            err = -tid if tid < 0 else 5
            raise OSError(err, f"clone of a thread in stub {self.pid}: {os.strerror(err)}")
        return self._adopt(self.pid, <pid_t>tid, "thread")

    def clone_process(self):
        """Inject clone(CLONE_STUB_PROCESS) and adopt the new process: a
        copy of this prepared stub (filter, bare address space, descriptors)
        whose parent is the Sentry and whose tracer is the calling thread,
        stopped before its first instruction with an empty signal mask.
        Returns its leader's Stub; the caller parks it or kills it."""
        cdef long pid = self.syscall(SYS_CLONE, CLONE_STUB_PROCESS)
        if pid <= 0:
            err = -pid if pid < 0 else 5
            raise OSError(err, f"clone of stub {self.pid}: {os.strerror(err)}")
        return self._adopt(<pid_t>pid, <pid_t>pid, "process")

    cdef Stub _adopt(self, pid_t pid, pid_t tid, str what):
        """The Stub of thread ``tid`` (of process ``pid``) that this one
        just cloned, once it has stopped for the first time. Its first stop
        is the SIGSTOP CLONE_PTRACE queues (a TRACEME tracer) or
        PTRACE_EVENT_STOP (a seized one); the next restart, with signal 0,
        discards the SIGSTOP."""
        cdef Stub child
        cdef int status = 0
        cdef pid_t got
        cdef unsigned long long mask = 0
        child = Stub.__new__(Stub)
        child.pid = pid
        child.tid = tid
        child.syscall_addr = self.syscall_addr
        child.tracer = pysb_self()
        child.template = self.template
        child.alive = True
        child.cpu = self.cpu  # clone(2) copies the affinity mask
        with nogil:
            got = _wait(child.tid, &status)
        if got < 0:
            child._raise_errno(f"waiting for a new stub {what}")
        if not WIFSTOPPED(status):
            child._note_exit(status)
            raise StubExitedError(f"new stub {what} {tid} died (status {status:#x})")
        # It inherited the cloning thread's mask (all blocked for the
        # parked leader): application faults and interrupts must stop it.
        if pysb_raw_ptrace(PTRACE_SETSIGMASK, child.tid, <void *>8, &mask) < 0:
            child._raise_errno("PTRACE_SETSIGMASK")
        return child

    def park(self, unsigned long rip, long nr, unsigned long a0=0, unsigned long a1=0,
             unsigned long a2=0):
        """Leave this thread untraced, running system call ``nr`` at ``rip``
        with every blockable signal blocked (process-directed signals then
        go to a traced thread, whose tracer drops them). Only for the
        leader, whose code at ``rip`` is the stub's park loop."""
        cdef user_regs_struct r = self.template
        cdef unsigned long long mask = ~(<unsigned long long>0)
        self._check_thread()
        r.rip = rip
        r.rax = <unsigned long long>nr
        r.orig_rax = <unsigned long long>-1
        r.rdi = a0
        r.rsi = a1
        r.rdx = a2
        if pysb_raw_ptrace(PTRACE_SETSIGMASK, self.tid, <void *>8, &mask) < 0:
            self._raise_errno("PTRACE_SETSIGMASK")
        if pysb_raw_ptrace(PTRACE_SETREGS, self.tid, NULL, &r) < 0:
            self._raise_errno("PTRACE_SETREGS")
        if pysb_raw_ptrace(PTRACE_DETACH, self.tid, NULL, NULL) < 0:
            self._raise_errno("PTRACE_DETACH")
        self.tracer = 0

    def seize(self, bint follow_cpu=False, bint unblock=False):
        """PTRACE_SEIZE this parked thread from the calling thread and stop
        it (PTRACE_INTERRUPT; its blocking call is abandoned: ``park``
        restarts it). The calling thread is its tracer until ``park``.

        ``follow_cpu`` first binds it to the calling thread's CPU, as a
        switch does (``bind``): a leader parked by another thread (the
        stub pool) may sit on the other CPU, and every stop and resume of
        the seize and of the thread it then clones (which inherits the
        binding) would cross CPUs, tens of microseconds each on a VM.

        ``unblock`` then empties its signal mask (parked threads block
        everything): the thread is to run application code from now on
        (``pool.StubPool``'s spares come with their first thread parked).
        Its park read was interrupted, and the restart logic of that read
        runs when it resumes, with the registers it then has: a switch's
        (orig_rax and rax of a task's first switch, rax 0, never a restart
        code), so nothing is restarted."""
        cdef int status = 0
        cdef pid_t got
        cdef unsigned long long mask = 0
        if not self.alive:
            raise StubExitedError(f"stub {self.pid} is not running (status {self.exit_status})")
        if follow_cpu:
            self.bind(PIN_FOLLOW)
        if pysb_raw_ptrace(PTRACE_SEIZE, self.tid, NULL,
                           <void *>(PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD)) < 0:
            self._raise_errno("PTRACE_SEIZE")
        self.tracer = pysb_self()
        if pysb_raw_ptrace(PTRACE_INTERRUPT, self.tid, NULL, NULL) < 0:
            self._raise_errno("PTRACE_INTERRUPT")
        while True:
            with nogil:
                got = _wait(self.tid, &status)
            if got < 0:
                self._raise_errno("waiting for the parked stub leader")
            if not WIFSTOPPED(status):
                self._note_exit(status)
                raise StubExitedError(f"stub {self.pid} died (status {status:#x})")
            if (status >> 16) == PTRACE_EVENT_STOP:
                if unblock and pysb_raw_ptrace(PTRACE_SETSIGMASK, self.tid, <void *>8, &mask) < 0:
                    self._raise_errno("PTRACE_SETSIGMASK")
                return
            # A SIGSTOP from outside (the only signal it does not block)
            # stopped it first: drop it; the interrupt stop stays pending.
            if pysb_raw_ptrace(PTRACE_CONT, self.tid, NULL, NULL) < 0:
                self._raise_errno("PTRACE_CONT")

    def exit_thread(self):
        """Inject exit(0), which ends this thread alone, and reap it (on the
        tracer thread: a traced thread's exit is reported to its tracer)."""
        cdef user_regs_struct r = self.template
        cdef int status = 0
        cdef pid_t got
        cdef long rc
        if self.reaped:
            return
        self._check_thread()
        r.rip = self.syscall_addr
        r.rax = SYS_EXIT
        r.orig_rax = <unsigned long long>-1
        r.rdi = 0
        self.alive = False
        with nogil:
            rc = pysb_raw_ptrace(PTRACE_SETREGS, self.tid, NULL, &r)
            while rc >= 0:
                rc = pysb_raw_ptrace(PTRACE_CONT, self.tid, NULL, NULL)
                if rc < 0:
                    break
                got = _wait(self.tid, &status)
                if got < 0:
                    rc = -1
                    break
                if not WIFSTOPPED(status):
                    break
        if rc < 0:
            if errno in (3, 10):  # ESRCH, ECHILD: killed with its process meanwhile
                self._reap_nohang()
                return
            self._raise_errno("exit of a stub thread")
        self._note_exit(status)

    @property
    def reaped_(self):
        """Whether this thread's exit was collected."""
        return self.reaped

    def get_regset(self, int note, size_t size=16384):
        """PTRACE_GETREGSET: the ``note`` regset (NT_X86_XSTATE = 0x202 for the
        XSAVE area, NT_PRFPREG = 2 for the legacy FXSAVE area) of the stopped stub."""
        cdef bytearray buf = bytearray(size)
        cdef unsigned char[:] view = buf
        cdef iovec iov
        self._check_thread()
        iov.iov_base = &view[0]
        iov.iov_len = size
        if pysb_raw_ptrace(PTRACE_GETREGSET, self.tid, <void *><long>note, &iov) < 0:
            self._raise_errno("PTRACE_GETREGSET")
        return bytes(buf[:iov.iov_len])

    def set_regset(self, int note, const unsigned char[:] data):
        """PTRACE_SETREGSET: the inverse of ``get_regset`` (the kernel validates XSAVE headers)."""
        cdef iovec iov
        self._check_thread()
        if data.shape[0] == 0:
            raise ValueError("empty regset")
        iov.iov_base = <void *>&data[0]
        iov.iov_len = data.shape[0]
        if pysb_raw_ptrace(PTRACE_SETREGSET, self.tid, <void *><long>note, &iov) < 0:
            self._raise_errno("PTRACE_SETREGSET")

    def template_registers(self):
        """The registers the stub had at its post-exec stop (rsp is its initial stack)."""
        cdef Registers regs = Registers()
        regs.regs = self.template
        return regs

    def segments(self):
        """(cs, ss, ds, es, fs, gs) the stub started with; every switch forces them."""
        t = self.template
        return (t.cs, t.ss, t.ds, t.es, t.fs, t.gs)


cdef inline pid_t _wait(pid_t pid, int *status) noexcept nogil:
    cdef pid_t got
    while True:
        got = waitpid(pid, status, __WALL)
        if got < 0 and errno == EINTR:
            continue
        return got


cdef class SwitchState:
    """Per-Context state of the switch loop: the interrupt protocol and the
    details of the last trap (``signo``, ``code``, ``addr``).

    Interrupt protocol (lock free, int ``state``): IDLE -> RUNNING while a
    switch runs; ``interrupt`` turns IDLE into PENDING (the next switch returns
    Interrupted without running) or RUNNING into PENDING and tgkills the stub
    with INTERRUPT_SIGNAL, whose signal-delivery-stop ends the switch. A
    request is never lost: a switch that ends with another trap while PENDING
    leaves PENDING set for the next one. A late signal can cause a spurious
    Interrupted, which callers must tolerate (the interface allows it).
    """

    cdef int state
    cdef int target
    cdef int target_tgid
    cdef readonly int signo
    cdef readonly int code
    cdef readonly unsigned long addr
    cdef readonly int pin_mode
    cdef readonly unsigned long switches
    cdef readonly int tracer_cpu
    cdef pid_t pinned_tid
    cdef long long lease_end

    def __cinit__(self, int pin_mode=PIN_FOLLOW):
        if pin_mode not in (PIN_NONE, PIN_FOLLOW, PIN_BOTH, PIN_STICKY):
            raise ValueError(f"bad pin mode {pin_mode}")
        self.state = ST_IDLE
        self.target = -1
        self.pin_mode = pin_mode
        self.tracer_cpu = -1

    cdef void place(self, Stub stub) noexcept nogil:
        """Put the tracer and the stub on one CPU before a round trip.

        ``PIN_STICKY`` pins the tracer thread to the CPU it runs on, for a
        lease of ``STICKY_LEASE_NS``, and its stub with it. Following alone
        (``PIN_FOLLOW``) lets the scheduler wake the tracer on the idle
        CPU after each stop, and the stub must then follow it there: on
        the 2-vCPU VM that costs more than the round trip itself. When the
        lease ends, one round trip runs with the tracer free, and the next
        pins it wherever the scheduler woke it, so busy tracers still
        spread over the CPUs.
        """
        cdef int cpu
        if self.pin_mode != C_PIN_STICKY:
            stub.bind(self.pin_mode)
            return
        if self.tracer_cpu >= 0:
            if pysb_coarse_ns() < self.lease_end:
                if stub.cpu != self.tracer_cpu:
                    if pysb_bind_cpu(stub.tid, self.tracer_cpu) == 0:
                        stub.cpu = self.tracer_cpu
                return
            pysb_release_self()
            self.tracer_cpu = -1
            stub.bind(C_PIN_FOLLOW)
            return
        cpu = sched_getcpu()
        if cpu >= 0 and pysb_bind_cpu(0, cpu) == 0:
            self.tracer_cpu = cpu
            self.pinned_tid = pysb_gettid()
            self.lease_end = pysb_coarse_ns() + _lease_ns
        stub.bind(C_PIN_FOLLOW)

    def unpin(self):
        """Give the calling thread (this context's tracer) every allowed
        CPU again, if ``PIN_STICKY`` pinned it: a thread that stops
        switching keeps no pin."""
        if self.tracer_cpu >= 0 and pysb_gettid() == self.pinned_tid:
            pysb_release_self()
            self.tracer_cpu = -1

    def __dealloc__(self):
        # A context dropped on its own thread without ``release`` (tests,
        # probes) leaves that thread unpinned too.
        if self.tracer_cpu >= 0 and pysb_gettid() == self.pinned_tid:
            pysb_release_self()

    def interrupt(self):
        """Thread safe; see the class docstring."""
        cdef int s
        cdef int target
        cdef int tgid
        while True:
            s = pysb_atomic_load(&self.state)
            if s == ST_IDLE:
                if pysb_atomic_cas(&self.state, ST_IDLE, ST_PENDING):
                    return
            elif s == ST_RUNNING:
                target = self.target
                tgid = self.target_tgid
                if pysb_atomic_cas(&self.state, ST_RUNNING, ST_PENDING):
                    if target > 0:
                        # This context's stub thread only (tgkill is thread directed).
                        pysb_raw_tgkill(tgid, target, INTERRUPT_SIGNAL)
                    return
            else:
                return

    @property
    def pending(self):
        """Whether an interrupt is recorded and not yet reported."""
        return pysb_atomic_load(&self.state) == ST_PENDING

    def switch(self, Stub stub, Registers regs):
        """Run ``regs`` in ``stub`` until a trap; return a TRAP_* code.

        ``regs`` is updated in place. cs/ss/ds/es/fs/gs are forced to the
        stub's own selectors so the application cannot switch to 32-bit mode
        (gVisor resetSysemuRegs).
        """
        cdef user_regs_struct r
        cdef int kind
        cdef int status = 0
        cdef int old
        cdef int running
        cdef int saved_errno = 0
        cdef siginfo_t si
        stub._check_thread()
        self.target_tgid = stub.pid
        self.target = stub.tid
        if not pysb_atomic_cas(&self.state, ST_IDLE, ST_RUNNING):
            # PENDING: report it without running.
            pysb_atomic_xchg(&self.state, ST_IDLE)
            return TRAP_INTERRUPTED
        r = regs.regs
        r.cs = stub.template.cs
        r.ss = stub.template.ss
        r.ds = stub.template.ds
        r.es = stub.template.es
        r.fs = stub.template.fs
        r.gs = stub.template.gs
        memset(&si, 0, sizeof(si))
        with nogil:
            self.place(stub)
            running = self.tracer_cpu
            pysb_running_add(running, 1)
            kind = _run(stub.tid, &r, &status, &si)
            pysb_running_add(running, -1)
            if kind == K_ERROR:
                saved_errno = errno
        old = pysb_atomic_xchg(&self.state, ST_IDLE)
        if old == ST_PENDING and kind != K_INTERRUPTED:
            pysb_atomic_cas(&self.state, ST_IDLE, ST_PENDING)
        self.switches += 1
        if kind == K_ERROR:
            stub._raise_errno("switch", saved_errno)
        if kind == K_EXITED:
            stub._note_exit(status)
            raise StubExitedError(f"stub {stub.pid} died (status {status:#x})")
        regs.regs = r
        self.signo = si.si_signo
        self.code = si.si_code
        self.addr = pysb_si_addr(&si)
        if kind == K_SIGNAL and si.si_signo == SIGSYS and si.si_code == SYS_SECCOMP:
            if pysb_si_call_addr(&si) >> 12 == VSYSCALL_PAGE >> 12:
                # A vsyscall (gettimeofday/time/getcpu at 0xffffffffff600000):
                # the host's emulation already popped the return address
                # (arch/x86/entry/vsyscall/vsyscall_64.c, emulate_vsyscall) and
                # our filter trapped the call itself, so it is an ordinary
                # system call for the Sentry to serve.
                regs.regs.orig_rax = <unsigned long long>pysb_si_syscall(&si)
                regs.regs.rax = <unsigned long long>-38  # -ENOSYS, as at syscall entry
                return TRAP_SYSCALL
        return kind


cdef int _run(pid_t pid, user_regs_struct *r, int *status, siginfo_t *si) noexcept nogil:
    """SETREGS, SYSEMU, wait, GETREGS until a stop the Sentry must see."""
    cdef int sig
    while True:
        if pysb_raw_ptrace(PTRACE_SETREGS, pid, NULL, r) < 0:
            return K_ERROR
        if pysb_raw_ptrace(PTRACE_SYSEMU, pid, NULL, NULL) < 0:
            return K_ERROR
        if _wait(pid, status) < 0:
            return K_ERROR
        if not WIFSTOPPED(status[0]):
            return K_EXITED
        if pysb_raw_ptrace(PTRACE_GETREGS, pid, NULL, r) < 0:
            return K_ERROR
        sig = WSTOPSIG(status[0])
        if sig == (SIGTRAP | 0x80):
            if r.rcx == r.rip:
                return K_SYSCALL
            # Not the `syscall` instruction (which always sets rcx to the
            # next rip) but a 32-bit entry, int 0x80 or sysenter (both two
            # bytes): the Sentry is x86_64 only, so it faults as on a kernel
            # without IA32 emulation (#GP, SIGSEGV/SI_KERNEL, rip at the
            # instruction). The call never ran on the host (SYSEMU).
            r.rip -= 2
            r.rax = r.orig_rax
            si.si_signo = SIGSEGV
            si.si_code = SI_KERNEL
            return K_SIGNAL
        if sig == SIGCHLD:  # INTERRUPT_SIGNAL
            return K_INTERRUPTED
        if sig == SIGSTOP or (status[0] >> 16) == PTRACE_EVENT_STOP:
            # Job control from outside the sandbox (a SIGSTOP, or a group
            # stop another stub thread entered, reported as
            # PTRACE_EVENT_STOP to a seizing tracer): drop it and carry on.
            continue
        if pysb_raw_ptrace(PTRACE_GETSIGINFO, pid, NULL, si) < 0:
            return K_ERROR
        if sig == SIGSEGV and si.si_code != SI_KERNEL and si.si_code > 0:
            return K_FAULT
        if si.si_code <= 0:
            # Sent by a process (kill/tgkill, si_code SI_USER/SI_TKILL), not
            # raised by an instruction: nothing the application did. Drop it.
            continue
        return K_SIGNAL
