"""PtracePlatform, its AddressSpace and Context (the interface is ``sentry.platform``)."""

from __future__ import annotations

import threading
import weakref

from sentry.arch import Registers
from sentry.hostsys.mm import PROT_EXEC, PROT_READ, PROT_WRITE
from sentry.platform import (
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
from sentry.platform.ptrace.stub import (
    PAGE_SIZE,
    STUB_MEMORY_FD,
    StubImage,
    open_stub_image,
    start_stub,
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

PIN_MODES = {"none": _ptrace.PIN_NONE, "follow": _ptrace.PIN_FOLLOW, "both": _ptrace.PIN_BOTH}


class PtraceAddressSpace(AddressSpace):
    """One stub process; started lazily by the first switch (or by a mapping
    call after it) on the thread that will drive it."""

    def __init__(self, platform: PtracePlatform) -> None:
        self._platform = platform
        self._mirror = Mirror()
        self._stub: _ptrace.Stub | None = None
        self._released = False

    @property
    def mirror(self) -> Mirror:
        """What is mapped (read only for callers; used to classify faults)."""
        return self._mirror

    @property
    def stub_pid(self) -> int | None:
        """The stub's host pid, or None before the first switch (tests, debugging)."""
        return self._stub.pid if self._stub is not None else None

    def _check_range(self, addr: int, length: int) -> None:
        if addr % PAGE_SIZE or length % PAGE_SIZE or length <= 0:
            raise ValueError(f"unaligned or empty range {addr:#x}+{length:#x}")
        p = self._platform
        if addr < p.min_user_address or addr + length > p.max_user_address:
            raise ValueError(
                f"range {addr:#x}-{addr + length:#x} outside "
                f"[{p.min_user_address:#x}, {p.max_user_address:#x})"
            )

    def _live_stub(self) -> _ptrace.Stub:
        if self._released:
            raise RuntimeError("address space was released")
        if self._stub is None:
            stub = start_stub(self._platform.image, self._platform.memory_fd)
            try:
                for m in self._mirror:
                    self._mmap(stub, m.start, m.end - m.start, m.offset, m.prot)
            except BaseException:
                stub.kill()
                raise
            self._stub = stub
            self._platform.track(self)
        return self._stub

    @staticmethod
    def _mmap(stub: _ptrace.Stub, addr: int, length: int, offset: int, prot: int) -> None:
        rc = stub.syscall(
            seccomp.SYS_MMAP, addr, length, prot, seccomp.STUB_MMAP_FLAGS, STUB_MEMORY_FD, offset
        )
        if rc != addr:
            raise OSError(-rc if rc < 0 else 0, f"stub mmap at {addr:#x} returned {rc:#x}")

    def map_file(self, addr: int, length: int, offset: int, prot: int) -> None:
        """Inject mmap(addr, length, prot, MAP_SHARED|MAP_FIXED, memfd, offset)."""
        self._check_range(addr, length)
        if offset % PAGE_SIZE or offset < 0:
            raise ValueError(f"bad MemoryFile offset {offset:#x}")
        if prot & ~_PROT_MASK:
            raise ValueError(f"bad prot {prot:#x}")
        if self._stub is not None:
            self._mmap(self._live_stub(), addr, length, offset, prot)
        elif self._released:
            raise RuntimeError("address space was released")
        self._mirror.add(addr, addr + length, offset, prot)

    def unmap(self, addr: int, length: int) -> None:
        """Inject munmap(addr, length)."""
        self._check_range(addr, length)
        if self._stub is not None:
            rc = self._live_stub().syscall(seccomp.SYS_MUNMAP, addr, length)
            if rc != 0:
                raise OSError(-rc, f"stub munmap at {addr:#x} failed")
        elif self._released:
            raise RuntimeError("address space was released")
        self._mirror.remove(addr, addr + length)

    def release(self) -> None:
        """Kill and reap the stub. Idempotent."""
        self._released = True
        if self._stub is not None:
            self._stub.kill()


class PtraceContext(Context):
    """A task's execution context: the stub thread of whichever address space
    it switches into, plus its interrupt state (``SwitchState``)."""

    def __init__(self, platform: PtracePlatform, pin_mode: int) -> None:
        self._platform = platform
        self._state = _ptrace.SwitchState(pin_mode)
        self._released = False

    @property
    def switches(self) -> int:
        """How many times this context ran application code."""
        return self._state.switches

    def switch(self, address_space: AddressSpace, regs: Registers) -> Trap:
        """See ``sentry.platform.Context.switch``."""
        if address_space.__class__ is not PtraceAddressSpace:
            raise TypeError(f"not a ptrace address space: {address_space!r}")
        if self._released:
            raise RuntimeError("context was released")
        assert isinstance(address_space, PtraceAddressSpace)
        stub = address_space._stub or address_space._live_stub()
        state = self._state
        kind = state.switch(stub, regs)
        if kind == _TRAP_SYSCALL:
            return _SYSCALL_TRAP
        if kind == _TRAP_FAULT:
            access = address_space.mirror.infer_access(state.addr, state.code, regs.rip)
            return FaultTrap(state.addr, access)
        if kind == _TRAP_INTERRUPTED:
            return _INTERRUPTED
        return SignalTrap(state.signo, state.code, state.addr)

    def fp_state(self, address_space: AddressSpace) -> bytes:
        """PTRACE_GETREGSET(NT_X86_XSTATE) of the stub thread; see the interface.

        The stub thread keeps the task's FP state between switches (one task
        per stub thread in part 1), so nothing is copied on a normal switch.
        """
        return self._stub_of(address_space).get_regset(NT_X86_XSTATE)

    def set_fp_state(self, address_space: AddressSpace, state: bytes) -> None:
        """PTRACE_SETREGSET(NT_X86_XSTATE); the host validates the XSAVE header."""
        self._stub_of(address_space).set_regset(NT_X86_XSTATE, state)

    @staticmethod
    def _stub_of(address_space: AddressSpace) -> _ptrace.Stub:
        if not isinstance(address_space, PtraceAddressSpace):
            raise TypeError(f"not a ptrace address space: {address_space!r}")
        return address_space._live_stub()

    def interrupt(self) -> None:
        """See ``sentry.platform.Context.interrupt``."""
        self._state.interrupt()

    def release(self) -> None:
        """Nothing to free on the host: stubs belong to address spaces."""
        self._released = True


class PtracePlatform(Platform):
    """The ptrace back end. ``memory_fd`` is the MemoryFile (a memfd); every
    stub holds it at fd ``STUB_MEMORY_FD`` and maps only from it.

    ``pinning`` selects how stubs are bound to CPUs: ``"follow"`` (default,
    the stub follows the tracer's current CPU), ``"both"`` (also pins the
    tracer thread), ``"none"``.
    """

    #: One stub per address space, driven by the thread that created it:
    #: multi-threaded processes need stub threads per address space.
    supports_threads = False

    def __init__(self, memory_fd: int, *, pinning: str = "follow") -> None:
        if pinning not in PIN_MODES:
            raise ValueError(f"pinning must be one of {sorted(PIN_MODES)}, not {pinning!r}")
        if memory_fd < 0:
            raise ValueError(f"bad memory fd {memory_fd}")
        import os

        os.fstat(memory_fd)  # EBADF now rather than at the first switch
        self.memory_fd = memory_fd
        self.image: StubImage = open_stub_image()
        self.min_user_address = MIN_USER_ADDRESS
        self.max_user_address = self.image.start
        self._pin_mode = PIN_MODES[pinning]
        self._spaces: weakref.WeakSet[PtraceAddressSpace] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._closed = False

    def track(self, address_space: PtraceAddressSpace) -> None:
        """Remember a started address space so ``close`` can release it."""
        with self._lock:
            self._spaces.add(address_space)

    def new_address_space(self) -> PtraceAddressSpace:
        """A fresh, empty address space (its stub starts on first use)."""
        if self._closed:
            raise RuntimeError("platform is closed")
        return PtraceAddressSpace(self)

    def new_context(self) -> PtraceContext:
        """A context for the calling thread."""
        if self._closed:
            raise RuntimeError("platform is closed")
        return PtraceContext(self, self._pin_mode)

    def close(self) -> None:
        """Kill every stub this platform started and close the stub image."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            spaces = list(self._spaces)
        for space in spaces:
            space.release()
        import os

        os.close(self.image.fd)
