"""Signal state (kernel/signal.c): dispositions, pending queues, siginfo,
the blocked mask and the alternate stack. Delivery itself (frames, default
actions) lives in ``sentry.kernel.signal_delivery``."""

from __future__ import annotations

import struct
import threading
from typing import NamedTuple

from sentry.kernel.waiter import WaitQueue

SIGHUP = 1
SIGINT = 2
SIGQUIT = 3
SIGILL = 4
SIGTRAP = 5
SIGABRT = 6
SIGBUS = 7
SIGFPE = 8
SIGKILL = 9
SIGUSR1 = 10
SIGSEGV = 11
SIGUSR2 = 12
SIGPIPE = 13
SIGALRM = 14
SIGTERM = 15
SIGCHLD = 17
SIGCONT = 18
SIGSTOP = 19
NSIG = 64

SIG_DFL = 0
SIG_IGN = 1

SA_NOCLDSTOP = 0x00000001
SA_NOCLDWAIT = 0x00000002
SA_SIGINFO = 0x00000004
SA_ONSTACK = 0x08000000
SA_RESTART = 0x10000000
SA_NODEFER = 0x40000000
SA_RESETHAND = 0x80000000
SA_RESTORER = 0x04000000

SIG_BLOCK = 0
SIG_UNBLOCK = 1
SIG_SETMASK = 2

SS_ONSTACK = 1
SS_DISABLE = 2
SS_AUTODISARM = 1 << 31
MINSIGSTKSZ = 2048

#: Signals whose default action is to do nothing (kernel/signal.c
#: SIG_KERNEL_IGNORE_MASK: SIGCHLD, SIGCONT, SIGURG, SIGWINCH).
DEFAULT_IGNORED = frozenset({17, 18, 23, 28})

#: Signals that can be neither caught, blocked nor ignored.
UNBLOCKABLE = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1))


class SigAction:
    """``struct sigaction`` as the kernel stores it (x86_64 kernel layout)."""

    __slots__ = ("flags", "handler", "mask", "restorer")

    handler: int
    flags: int
    restorer: int
    mask: int

    def __init__(
        self,
        handler: int = SIG_DFL,
        flags: int = 0,
        restorer: int = 0,
        mask: int = 0,
    ) -> None:
        self.handler = handler
        self.flags = flags
        self.restorer = restorer
        self.mask = mask

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{n}={getattr(self, n)!r}" for n in ("handler", "flags", "restorer", "mask")
        )
        return f"SigAction({fields})"


#: The default disposition. SigAction values are never changed in place (a
#: new one replaces the old: sigaction(2), exec, SA_RESETHAND), so every
#: table shares this one instead of allocating 65 per fork and exec.
DEFAULT_ACTION = SigAction()


class SignalHandlers:
    """Dispositions shared by a thread group (``struct sighand_struct``)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.actions = [DEFAULT_ACTION] * (NSIG + 1)
        #: Readers and pollers of signalfds (sighand->signalfd_wqh):
        #: notified whenever a signal is queued for a task using these handlers.
        self.signalfd_queue = WaitQueue()

    def get(self, signo: int) -> SigAction:
        """The disposition of ``signo`` (1..64)."""
        return self.actions[signo]

    def set(self, signo: int, action: SigAction) -> SigAction:
        """Replace a disposition; returns the old one."""
        with self.lock:
            old, self.actions[signo] = self.actions[signo], action
            return old


class AltStack:
    """``stack_t`` of sigaltstack(2)."""

    __slots__ = ("flags", "size", "sp")

    sp: int
    flags: int
    size: int

    def __init__(
        self,
        sp: int = 0,
        flags: int = SS_DISABLE,
        size: int = 0,
    ) -> None:
        self.sp = sp
        self.flags = flags
        self.size = size

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AltStack) or other.__class__ is not self.__class__:
            return NotImplemented
        return (
            self.sp,
            self.flags,
            self.size,
        ) == (
            other.sp,
            other.flags,
            other.size,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable and compared by value

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in ("sp", "flags", "size"))
        return f"AltStack({fields})"


SIGTSTP = 20
SIGTTIN = 21
SIGTTOU = 22
SIGURG = 23
SIGXCPU = 24
SIGXFSZ = 25
SIGVTALRM = 26
SIGPROF = 27
SIGWINCH = 28
SIGIO = 29
SIGPWR = 30
SIGSYS = 31
SIGRTMIN = 32

#: si_code values (include/uapi/asm-generic/siginfo.h).
SI_USER = 0
SI_KERNEL = 0x80
SI_QUEUE = -1
SI_TIMER = -2
SI_TKILL = -6
CLD_EXITED = 1
CLD_KILLED = 2
CLD_DUMPED = 3
CLD_TRAPPED = 4
CLD_STOPPED = 5
CLD_CONTINUED = 6

#: Default actions (kernel/signal.c sig_kernel_* masks, signal(7)).
STOP_SIGNALS = frozenset({SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU})
CORE_SIGNALS = frozenset(
    {SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGXCPU, SIGXFSZ, SIGSYS}
)
#: Signals raised by the faulting instruction itself, dequeued first
#: (kernel/signal.c SYNCHRONOUS_MASK).
SYNCHRONOUS_MASK = sum(1 << (s - 1) for s in (SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGSYS))

_SIGINFO_HEAD = struct.Struct("<iii4x")
SIGINFO_SIZE = 128


def sigbit(signo: int) -> int:
    """The bit of ``signo`` in a sigset_t."""
    return 1 << (signo - 1)


def default_action(signo: int) -> str:
    """ "ignore", "stop", "core" or "terminate" (signal(7) Standard signals)."""
    if signo in DEFAULT_IGNORED:
        return "ignore"
    if signo in STOP_SIGNALS:
        return "stop"
    if signo in CORE_SIGNALS:
        return "core"
    return "terminate"


class SigInfo(NamedTuple):
    """``siginfo_t``: the head plus the raw 112-byte union (whose layout
    depends on the signal and code; the constructors below fill it)."""

    signo: int
    code: int = SI_KERNEL
    errno: int = 0
    fields: bytes = b""

    def pack(self) -> bytes:
        """The 128 bytes an application sees."""
        head = _SIGINFO_HEAD.pack(self.signo, self.errno, self.code)
        return (head + self.fields).ljust(SIGINFO_SIZE, b"\0")[:SIGINFO_SIZE]

    @classmethod
    def unpack(cls, raw: bytes) -> SigInfo:
        """Parse 128 bytes from the application (rt_sigqueueinfo)."""
        signo, errno, code = _SIGINFO_HEAD.unpack_from(raw)
        return cls(signo, code, errno, bytes(raw[16:SIGINFO_SIZE]))

    @classmethod
    def user(cls, signo: int, pid: int, uid: int, code: int = SI_USER) -> SigInfo:
        """Sent by kill(2)/tgkill(2): _kill.si_pid, si_uid."""
        return cls(signo, code, 0, struct.pack("<iI", pid, uid))

    @classmethod
    def fault(cls, signo: int, code: int, addr: int) -> SigInfo:
        """A synchronous fault: _sigfault.si_addr."""
        return cls(signo, code, 0, struct.pack("<Q", addr))

    @classmethod
    def child(
        cls, code: int, pid: int, uid: int, status: int, *, utime: int = 0, stime: int = 0
    ) -> SigInfo:
        """SIGCHLD: _sigchld.si_pid, si_uid, si_status, si_utime, si_stime
        (clock ticks; waitid(2)'s siginfo leaves the times 0)."""
        return cls(SIGCHLD, code, 0, struct.pack("<iIi4xqq", pid, uid, status, utime, stime))

    @property
    def sender_pid(self) -> int:
        """_kill.si_pid (meaningful for SI_USER/SI_TKILL/SI_QUEUE)."""
        return struct.unpack_from("<i", self.fields.ljust(4, b"\0"))[0]


class PendingSignals:
    """Signals sent but not yet delivered (``struct sigpending``).

    Standard signals (below SIGRTMIN) are pending at most once; real-time
    ones queue (kernel/signal.c legacy_queue). Not thread safe: the owner's
    lock protects it."""

    __slots__ = ("_queue", "mask")

    def __init__(self) -> None:
        self.mask = 0
        self._queue: list[SigInfo] = []

    def enqueue(self, info: SigInfo) -> bool:
        """Queue ``info``; False if a standard signal was already pending."""
        bit = sigbit(info.signo)
        if info.signo < SIGRTMIN and self.mask & bit:
            return False
        self.mask |= bit
        self._queue.append(info)
        return True

    def dequeue(self, blocked: int) -> SigInfo | None:
        """Remove the next deliverable signal: synchronous ones first, then
        the lowest number (kernel/signal.c next_signal)."""
        ready = self.mask & ~blocked
        if not ready:
            return None
        sync = ready & SYNCHRONOUS_MASK
        pick = sync or ready
        signo = (pick & -pick).bit_length()
        return self.take(signo)

    def take(self, signo: int) -> SigInfo | None:
        """Remove the first queued ``signo`` (and clear its bit if none left)."""
        bit = sigbit(signo)
        if not self.mask & bit:
            return None
        found = None
        for i, info in enumerate(self._queue):
            if info.signo == signo:
                found = self._queue.pop(i)
                break
        if not any(i.signo == signo for i in self._queue):
            self.mask &= ~bit
        return found

    def discard(self, mask: int) -> None:
        """Drop every pending signal in ``mask`` (SIGCONT drops stops, a
        signal set to SIG_IGN is flushed)."""
        if self.mask & mask:
            self._queue = [i for i in self._queue if not sigbit(i.signo) & mask]
            self.mask &= ~mask
