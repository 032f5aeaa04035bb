"""PtracePlatform, its AddressSpace and Context (the interface is ``sentry.platform``)."""

from __future__ import annotations

import fcntl
import os
import threading
import weakref

from sentry.arch import Registers
from sentry.hostsys.cpus import move_thread
from sentry.hostsys.mm import PROT_EXEC, PROT_READ, PROT_WRITE
from sentry.platform import (
    AccessType,
    AddressSpace,
    Context,
    FaultTrap,
    Interrupted,
    Platform,
    SignalTrap,
    SyscallTrap,
    Trap,
)
from sentry.platform.ptrace import _ptrace, seccomp
from sentry.platform.ptrace._ptrace import StubExitedError
from sentry.platform.ptrace.mirror import Mirror
from sentry.platform.ptrace.pool import StubPool
from sentry.platform.ptrace.process import StubProcess
from sentry.platform.ptrace.stub import (
    PAGE_SIZE,
    STUB_MEMORY_FD,
    StubImage,
    open_stub_image,
)

__all__ = ["PtraceAddressSpace", "PtraceContext", "PtracePlatform", "StubExitedError"]

#: Lowest address an application may map (Linux's default vm.mmap_min_addr).
MIN_USER_ADDRESS = 0x10000

_PROT_MASK = PROT_READ | PROT_WRITE | PROT_EXEC

#: The XSAVE regset (include/uapi/linux/elf.h).
NT_X86_XSTATE = 0x202

_SYSCALL_TRAP = SyscallTrap()
_TRAP_SYSCALL = _ptrace.TRAP_SYSCALL
_TRAP_FAULT = _ptrace.TRAP_FAULT
_TRAP_INTERRUPTED = _ptrace.TRAP_INTERRUPTED
_INTERRUPTED = Interrupted()

PIN_MODES = {
    "none": _ptrace.PIN_NONE,
    "follow": _ptrace.PIN_FOLLOW,
    "both": _ptrace.PIN_BOTH,
    "sticky": _ptrace.PIN_STICKY,
}


class PtraceAddressSpace(AddressSpace):
    """One stub process (``StubProcess``), started lazily by the first switch
    (or by a mapping call after it); every host thread that switches into it
    or changes its mappings gets a stub thread of its own there."""

    write_faults_imply_mapped = True

    def __init__(self, platform: PtracePlatform) -> None:
        self._platform = platform
        self._mirror = Mirror()
        self._process: StubProcess | None = None
        self._released = False
        # Serialises the mirror with the injections that follow it, and the
        # lazy start (several tasks may share this address space).
        self._lock = threading.Lock()

    @property
    def mirror(self) -> Mirror:
        """What is mapped (read only for callers; used to classify faults)."""
        return self._mirror

    @property
    def stub_pid(self) -> int | None:
        """The stub's host pid, or None before the first switch (tests, debugging)."""
        return self._process.pid if self._process is not None else None

    @property
    def process(self) -> StubProcess | None:
        """The stub process, or None before the first switch (tests, debugging)."""
        return self._process

    def _check_range(self, addr: int, length: int) -> None:
        if addr % PAGE_SIZE or length % PAGE_SIZE or length <= 0:
            raise ValueError(f"unaligned or empty range {addr:#x}+{length:#x}")
        p = self._platform
        if addr < p.min_user_address or addr + length > p.max_user_address:
            raise ValueError(
                f"range {addr:#x}-{addr + length:#x} outside "
                f"[{p.min_user_address:#x}, {p.max_user_address:#x})"
            )

    def _live_process(self) -> StubProcess:
        if self._released:
            raise RuntimeError("address space was released")
        if self._process is None:
            with self._lock:
                if self._process is None:
                    self._start()
        assert self._process is not None
        return self._process

    def _start(self) -> None:
        p = self._platform
        process = StubProcess(
            p.image,
            p.memory_fd,
            p.park_fd,
            p.pool.take(),
            follow_cpu=p.pin_mode != _ptrace.PIN_NONE,
        )
        try:
            stub = process.thread()
            for m in self._mirror:
                self._mmap(stub, m.start, m.end - m.start, m.offset, m.prot)
        except BaseException:
            process.kill()
            raise
        self._process = process
        p.track(self)

    def _live_stub(self) -> _ptrace.Stub:
        """The calling host thread's stub thread (created if needed)."""
        return self._live_process().thread()

    @staticmethod
    def _mmap(stub: _ptrace.Stub, addr: int, length: int, offset: int, prot: int) -> None:
        rc = stub.syscall(
            seccomp.SYS_MMAP, addr, length, prot, seccomp.STUB_MMAP_FLAGS, STUB_MEMORY_FD, offset
        )
        if rc != addr:
            raise OSError(-rc if rc < 0 else 0, f"stub mmap at {addr:#x} returned {rc:#x}")

    def map_file(self, addr: int, length: int, offset: int, prot: int) -> None:
        """Inject mmap(addr, length, prot, MAP_SHARED|MAP_FIXED, memfd, offset)
        through the calling host thread's stub thread.

        The stub threads share one host mm, so every thread running
        application code sees the change when this returns (the host's
        munmap/mprotect flush the TLBs of the CPUs running them)."""
        self._check_range(addr, length)
        if offset % PAGE_SIZE or offset < 0:
            raise ValueError(f"bad MemoryFile offset {offset:#x}")
        if prot & ~_PROT_MASK:
            raise ValueError(f"bad prot {prot:#x}")
        if self._released:
            raise RuntimeError("address space was released")
        with self._lock:
            process = self._process
            if process is not None:
                self._mmap(process.thread(), addr, length, offset, prot)
            self._mirror.add(addr, addr + length, offset, prot)

    def unmap(self, addr: int, length: int) -> None:
        """Inject munmap(addr, length) (as ``map_file``, any host thread)."""
        self._check_range(addr, length)
        if self._released:
            raise RuntimeError("address space was released")
        with self._lock:
            process = self._process
            # The stub holds exactly what the mirror records: unmapping
            # nothing (a copy-on-write break of a page a fork child never
            # mapped) needs no injection.
            if process is not None and self._mirror.overlaps(addr, addr + length):
                rc = process.thread().syscall(seccomp.SYS_MUNMAP, addr, length)
                if rc != 0:
                    raise OSError(-rc, f"stub munmap at {addr:#x} failed")
            self._mirror.remove(addr, addr + length)

    def write_protect(self, addr: int, length: int) -> None:
        """Inject mprotect for the written-to mappings of the range (as
        ``map_file``, any host thread), keeping them readable: fork's
        copy-on-write then costs the parent a fault per page it writes and
        none for those it only reads."""
        self._check_range(addr, length)
        if self._released:
            raise RuntimeError("address space was released")
        with self._lock:
            changes = self._mirror.write_protect(addr, addr + length)
            process = self._process
            if process is None:
                return
            for start, end, prot in changes:
                rc = process.thread().syscall(seccomp.SYS_MPROTECT, start, end - start, prot)
                if rc != 0:
                    # The mirror no longer matches the host: drop the range.
                    self._mirror.remove(addr, addr + length)
                    process.thread().syscall(seccomp.SYS_MUNMAP, addr, length)
                    raise OSError(-rc, f"stub mprotect at {start:#x} failed")

    def infer_access(self, addr: int, code: int, rip: int) -> AccessType:
        """``Mirror.infer_access`` under the lock (another thread may be
        changing the mirror)."""
        with self._lock:
            return self._mirror.infer_access(addr, code, rip)

    def release(self) -> None:
        """Kill the stub process (every thread); the stub pool's thread reaps
        it (``PtracePlatform.drain`` waits for that), or this call when the
        pool cannot. Idempotent."""
        self._released = True
        process = self._process
        if process is not None:
            process.kill(self._platform.pool.reap_later)

    def __del__(self) -> None:
        # Dropped without release(): contexts may still cache the process,
        # so the address space is what owns its lifetime.
        # Reaped here, not by the pool thread: a finalizer may run on any
        # thread, the pool's own included, while it holds the pool's lock.
        process = getattr(self, "_process", None)
        if process is not None:
            self._released = True
            process.kill()


class PtraceContext(Context):
    """A task's execution context: its host thread's stub thread in each
    address space it switches into, plus its interrupt state
    (``SwitchState``). Bound to the host thread that created it."""

    def __init__(self, platform: PtracePlatform, pin_mode: int) -> None:
        self._platform = platform
        self._state = _ptrace.SwitchState(pin_mode)
        self._released = False
        self._ident = threading.get_ident()
        # The last address space's process and this thread's stub thread in
        # it: the switch fast path is one identity check.
        self._last_process: StubProcess | None = None
        self._last_stub: _ptrace.Stub | None = None
        self._used: weakref.WeakSet[StubProcess] = weakref.WeakSet()

    @property
    def switches(self) -> int:
        """How many times this context ran application code."""
        return self._state.switches

    def _stub_for(self, address_space: PtraceAddressSpace) -> _ptrace.Stub:
        process = address_space._live_process()
        stub = process.thread()
        self._last_process = process
        self._last_stub = stub
        self._used.add(process)
        return stub

    def switch(self, address_space: AddressSpace, regs: Registers) -> Trap:
        """See ``sentry.platform.Context.switch``."""
        if address_space.__class__ is not PtraceAddressSpace:
            raise TypeError(f"not a ptrace address space: {address_space!r}")
        if self._released:
            raise RuntimeError("context was released")
        assert isinstance(address_space, PtraceAddressSpace)
        process = address_space._process
        stub = self._last_stub
        if stub is None or process is not self._last_process:
            stub = self._stub_for(address_space)
        state = self._state
        kind = state.switch(stub, regs)
        if kind == _TRAP_SYSCALL:
            return _SYSCALL_TRAP
        if kind == _TRAP_FAULT:
            access = address_space.infer_access(state.addr, state.code, regs.rip)
            return FaultTrap(state.addr, access)
        if kind == _TRAP_INTERRUPTED:
            return _INTERRUPTED
        return SignalTrap(state.signo, state.code, state.addr)

    def fp_state(self, address_space: AddressSpace) -> bytes:
        """PTRACE_GETREGSET(NT_X86_XSTATE) of this thread's stub thread.

        Each stub thread keeps its task's FP state between switches, so
        nothing is copied on a normal switch.
        """
        return self._stub_of(address_space).get_regset(NT_X86_XSTATE)

    def set_fp_state(self, address_space: AddressSpace, state: bytes) -> None:
        """PTRACE_SETREGSET(NT_X86_XSTATE); the host validates the XSAVE header."""
        self._stub_of(address_space).set_regset(NT_X86_XSTATE, state)

    def _stub_of(self, address_space: AddressSpace) -> _ptrace.Stub:
        if not isinstance(address_space, PtraceAddressSpace):
            raise TypeError(f"not a ptrace address space: {address_space!r}")
        return self._stub_for(address_space)

    def interrupt(self) -> None:
        """See ``sentry.platform.Context.interrupt``: tgkills this context's
        stub thread only."""
        self._state.interrupt()

    def release(self) -> None:
        """End the stub threads this context ran on (when called on its own
        host thread; otherwise that thread's exit does it). Idempotent."""
        self._released = True
        self._last_process = self._last_stub = None
        if threading.get_ident() != self._ident:
            return
        self._state.unpin()
        for process in list(self._used):
            process.retire_current()
        self._used = weakref.WeakSet()


class PtracePlatform(Platform):
    """The ptrace back end. ``memory_fd`` is the MemoryFile (a memfd); every
    stub holds it at fd ``STUB_MEMORY_FD`` and maps only from it.

    ``pinning`` selects how stubs are bound to CPUs: ``"sticky"`` (default:
    the tracer thread and its stub share one CPU for a lease of
    ``STICKY_LEASE_NS``, then the scheduler may move them), ``"follow"``
    (the stub follows the tracer's current CPU), ``"both"`` (the tracer is
    pinned for good), ``"none"``. See the package docstring, "Pinning".
    """

    #: Every tracer host thread gets its own stub thread in the address
    #: space's stub process (``process.StubProcess``), so threads work.
    supports_threads = True

    def __init__(self, memory_fd: int, *, pinning: str = "sticky", spare_stubs: int = 2) -> None:
        if pinning not in PIN_MODES:
            raise ValueError(f"pinning must be one of {sorted(PIN_MODES)}, not {pinning!r}")
        if memory_fd < 0:
            raise ValueError(f"bad memory fd {memory_fd}")
        os.fstat(memory_fd)  # EBADF now rather than at the first switch
        self.memory_fd = memory_fd
        self.image: StubImage = open_stub_image()
        # The park pipe: every stub holds the read end (its parked leader
        # blocks reading it), the Sentry the write end, so stubs leave when
        # the Sentry dies. Numbered from 10: clear of the stub's own fds.
        r, self._park_write = os.pipe2(os.O_CLOEXEC)
        self.park_fd = fcntl.fcntl(r, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(r)
        self.min_user_address = MIN_USER_ADDRESS
        self.max_user_address = self.image.start
        self.pin_mode = PIN_MODES[pinning]
        self._spaces: weakref.WeakSet[PtraceAddressSpace] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._closed = False
        # Stubs started ahead of need (``pool.py``); its thread starts with
        # the first address space.
        self.pool = StubPool(self.image, memory_fd, self.park_fd, spare_stubs)

    def quiesce(self) -> None:
        """Kill the spare stubs, start no more and reap every released stub
        (see ``Platform.quiesce``); released stubs are reaped at once from
        now on."""
        self.pool.close()

    def drain(self) -> None:
        """Wait until the stubs of released address spaces are reaped."""
        self.pool.drain()

    def track(self, address_space: PtraceAddressSpace) -> None:
        """Remember a started address space so ``close`` can release it."""
        with self._lock:
            self._spaces.add(address_space)

    def new_address_space(self) -> PtraceAddressSpace:
        """A fresh, empty address space (its stub starts on first use)."""
        if self._closed:
            raise RuntimeError("platform is closed")
        return PtraceAddressSpace(self)

    def new_context(self, placement: object = None) -> PtraceContext:
        """A context for the calling thread, moved first to the CPU
        ``placement`` chose (an int), if any."""
        if self._closed:
            raise RuntimeError("platform is closed")
        if placement is not None:
            assert isinstance(placement, int)
            move_thread(placement)
        return PtraceContext(self, self.pin_mode)

    def prepare(self) -> None:
        """Start the first address space's stub ahead (``StubPool.prepare_first``)."""
        if not self._closed:
            self.pool.prepare_first()

    def placement(self) -> int | None:
        """With sticky pinning, the CPU a new task's thread should start on
        (``_ptrace.choose_cpu``): the creating thread's own CPU unless a
        stub is running there and another CPU has fewer. A new thread
        would otherwise inherit its creator's pin: two CPU-bound children
        of one shell shared a CPU until their first lease ended, while a
        child its parent waits for (fork+exec, vfork) is best on the
        parent's CPU."""
        if self.pin_mode != _ptrace.PIN_STICKY:
            return None
        cpu: int = _ptrace.choose_cpu()
        return cpu if cpu >= 0 else None

    def close(self) -> None:
        """Kill every stub this platform started and close the stub image."""
        if self._closed:
            return
        self._closed = True
        self.pool.close()
        with self._lock:
            spaces = list(self._spaces)
        for space in spaces:
            space.release()
        os.close(self.image.fd)
        os.close(self.park_fd)
        os.close(self._park_write)
