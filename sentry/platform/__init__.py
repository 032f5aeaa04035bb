"""The Platform / AddressSpace / Context interface (gVisor ``platform.go``).

A platform runs application code and reports why it stopped. It owns no
memory and no policy: ``mm`` decides every mapping and the platform only
*mirrors* it (``AddressSpace.map_file``) onto ranges of the MemoryFile, the
memfd that holds all application memory. This is what makes ptrace and KVM two
back ends of one kernel; nothing above this package knows which one runs.

Threading: a Context is bound to the host thread that created it (ptrace
requires the tracer thread; KVM runs a vCPU on it). ``switch`` is only called
from that thread; ``interrupt`` may be called from any thread and stops that
context only. Several contexts (the threads of one application, each on its
own host thread) may switch into the same AddressSpace at once: they share
its memory and keep their own registers and FP state. ``map_file`` and
``unmap`` may be called from any thread, also while other contexts run in
the address space; when they return, no context can still use the old
translation (as Linux flushes remote TLBs before munmap/mprotect return).
``Context.release`` belongs on the context's own thread (ptrace ends the
host thread's stub threads there; a thread that ends without it is cleaned
up when it ends).

Register convention (``sentry.arch`` registers object, attributes named as in
Linux ``struct user_regs_struct``: rax rbx rcx rdx rsi rdi rbp rsp r8-r15 rip
eflags orig_rax fs_base gs_base cs ss ds es fs gs). After a ``SyscallTrap``:
``orig_rax`` is the system call number, the arguments are rdi rsi rdx r10 r8
r9, ``rip`` points after the ``syscall`` instruction, and the kernel writes the
result into ``rax`` before the next switch.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping
from typing import Any, NamedTuple


class AccessType(enum.IntFlag):
    """What a faulting access wanted (gVisor ``hostarch.AccessType``)."""

    NONE = 0
    READ = 1
    WRITE = 2
    EXECUTE = 4


class _FieldlessTrap:
    """A trap that carries nothing: all instances are equal."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SyscallTrap(_FieldlessTrap):
    """The application executed ``syscall``; see the module docstring for registers."""

    __slots__ = ()


class FaultTrap(NamedTuple):
    """The application touched ``addr`` with ``access`` and the mirror had no
    mapping allowing it: ``mm`` populates the page or the task gets SIGSEGV."""

    addr: int
    access: AccessType


class SignalTrap(NamedTuple):
    """A synchronous exception other than a page fault (int3, ud2, divide
    error, a privileged instruction): the kernel delivers ``signo`` to the
    task with ``code`` and ``addr`` as Linux would (gVisor ErrContextSignal)."""

    signo: int
    code: int = 0
    addr: int = 0


class Interrupted(_FieldlessTrap):
    """``Context.interrupt`` was called: the task has kernel work (a signal, a
    stop) before it runs again. Registers are consistent; no instruction was
    lost."""

    __slots__ = ()


Trap = SyscallTrap | FaultTrap | SignalTrap | Interrupted


class ContextLost(RuntimeError):
    """What ran the application is gone: the host killed it (the memory
    cgroup's OOM killer may choose a ptrace stub, whose RSS holds the
    application's pages) or it broke the platform's rules. The task dies as
    if by SIGKILL; this is never a Sentry bug."""


class AddressSpace(abc.ABC):
    """The platform's mirror of one ``mm``: which pages of the MemoryFile are
    visible at which application addresses with which protections."""

    @abc.abstractmethod
    def map_file(self, addr: int, length: int, offset: int, prot: int) -> None:
        """Map MemoryFile bytes ``[offset, offset+length)`` at ``addr`` with
        ``prot`` (PROT_* bits), replacing whatever was mapped there. ``addr``,
        ``length`` and ``offset`` are page aligned."""

    #: Whether a fault reported as a WRITE always hit a page mapped readable
    #: (the ptrace back end infers the access type and reports an unmapped
    #: write as a READ first, see ``ptrace.mirror``). ``mm`` then knows the
    #: rest of the fault-around window is mirrored already and, after a
    #: copy-on-write break, maps only the copied page.
    write_faults_imply_mapped: bool = False

    @abc.abstractmethod
    def unmap(self, addr: int, length: int) -> None:
        """Remove every mapping in ``[addr, addr+length)``; later accesses fault."""

    def write_protect(self, addr: int, length: int) -> None:
        """Take write access away from what is mapped in ``[addr,
        addr+length)`` (fork makes a parent's private pages copy-on-write),
        so that a write faults and reads go on. This default unmaps the
        range, which is always correct (every access then faults and is
        mirrored again); a back end that can change protections in place
        saves the faults of reads."""
        self.unmap(addr, length)

    @abc.abstractmethod
    def release(self) -> None:
        """Free host resources (stub process, page tables). Idempotent."""


class Context(abc.ABC):
    """Where application code runs for one task: a stub thread (ptrace) or a
    vCPU (kvm)."""

    @abc.abstractmethod
    def switch(self, address_space: AddressSpace, regs: Any) -> Trap:
        """Run the application with ``regs`` in ``address_space`` until it traps.

        ``regs`` is updated in place with the state at the trap. A platform may
        keep FPU state in the context between switches.
        """

    @abc.abstractmethod
    def fp_state(self, address_space: AddressSpace) -> bytes:
        """The FPU/SSE/AVX state the application has after the last switch
        into ``address_space``, as an XSAVE image in the layout of Linux's
        NT_X86_XSTATE regset (legacy FXSAVE area, XSAVE header, extended
        components; bytes 464..511 hold Linux's software-reserved
        ``xstate_size``/``xfeatures``). This is what a signal frame stores."""

    @abc.abstractmethod
    def set_fp_state(self, address_space: AddressSpace, state: bytes) -> None:
        """Make ``state`` (from ``fp_state``, possibly edited) the state the
        application has at the next switch into ``address_space``."""

    @abc.abstractmethod
    def interrupt(self) -> None:
        """Make a running or next ``switch`` return ``Interrupted`` soon. Thread safe."""

    @abc.abstractmethod
    def release(self) -> None:
        """Free host resources. Idempotent."""


class Platform(abc.ABC):
    """A back end that runs application code (gVisor ``platform.Platform``)."""

    #: Lowest and one-past-highest application address the platform can map.
    min_user_address: int
    max_user_address: int
    #: Whether several Contexts (threads) may switch into one AddressSpace
    #: at once. A back end without it makes clone(CLONE_THREAD) fail with
    #: EAGAIN rather than run threads it cannot host.
    supports_threads: bool = True

    @abc.abstractmethod
    def new_address_space(self) -> AddressSpace:
        """A fresh, empty address space."""

    @abc.abstractmethod
    def new_context(self, placement: object = None) -> Context:
        """A context bound to the calling thread. ``placement`` is what
        ``placement()`` answered on the thread of the task that started
        this one."""

    def prepare(self) -> None:
        """Do now what the first task's start would otherwise wait for (the
        caller has time to spare: boot before StartRoot). Nothing by default."""
        return None

    def placement(self) -> object:
        """Called on a task's host thread as it starts another task: where
        the new task's host thread should run, handed to ``new_context`` on
        that thread. None (the default): wherever the host puts it."""
        return None

    @abc.abstractmethod
    def close(self) -> None:
        """Release the platform and everything it created. Idempotent."""

    def quiesce(self) -> None:
        """Drop what the platform keeps in reserve only for speed (the ptrace
        back end's spare stub processes) and keep no more: the sandbox is
        ending, and leak checks count the host processes left. The platform
        keeps working, without the reserve. Idempotent."""
        return None  # nothing held in reserve by default

    def cpuid_leaves(self) -> Mapping[tuple[int, int], tuple[int, int, int, int]] | None:
        """The CPUID the application sees, (function, index) -> (eax, ebx,
        ecx, edx), when the platform filters it; None when the application
        executes the host's own ``cpuid`` (ptrace). /proc/cpuinfo follows it."""
        return None
