"""KvmPlatform, its AddressSpace and Context (the interface is ``sentry.platform``)."""

from __future__ import annotations

import errno
import os
import signal
import struct
import threading

from sentry.arch import Registers
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
from sentry.platform.kvm import _kvm
from sentry.platform.kvm.cpuid import CpuidTable, filter_cpuid

__all__ = ["KvmAddressSpace", "KvmContext", "KvmPlatform", "KvmUnavailableError"]

PAGE_SIZE = 4096
#: Lowest address an application may map (Linux's default vm.mmap_min_addr).
MIN_USER_ADDRESS = 0x10000
#: Linux's TASK_SIZE for 4-level paging (arch/x86/include/asm/page_64_types.h).
MAX_USER_ADDRESS = 0x7FFFFFFFF000
#: How much of the MemoryFile the guest can address (reserved, not allocated).
DEFAULT_WINDOW = 1 << 36

_PROT_MASK = PROT_READ | PROT_WRITE | PROT_EXEC

#: Present on PVM hosts (software KVM for nested guests), whose quirks the
#: platform works around or reports.
PVM_MODULE = "/sys/module/kvm_pvm"

_SYSCALL_TRAP = SyscallTrap()
_INTERRUPTED = Interrupted()
_TRAP_SYSCALL = _kvm.TRAP_SYSCALL
_TRAP_FAULT = _kvm.TRAP_FAULT
_TRAP_INTERRUPTED = _kvm.TRAP_INTERRUPTED

# include/uapi/asm-generic/siginfo.h
SI_KERNEL = 0x80
ILL_ILLOPN = 2
FPE_INTDIV = 1
FPE_FLTDIV = 3
FPE_FLTOVF = 4
FPE_FLTUND = 5
FPE_FLTRES = 6
FPE_FLTINV = 7
BUS_ADRALN = 1
BUS_ADRERR = 2
TRAP_TRACE = 2

#: Exception vector -> (signal, si_code, si_addr is rip) as Linux raises it
#: for user mode (arch/x86/kernel/traps.c: do_error_trap/do_trap callers).
_VECTOR_SIGNALS: dict[int, tuple[int, int, bool]] = {
    0: (signal.SIGFPE, FPE_INTDIV, True),  # #DE  exc_divide_error
    1: (signal.SIGTRAP, TRAP_TRACE, True),  # #DB  single step (TF)
    3: (signal.SIGTRAP, SI_KERNEL, False),  # #BP  exc_int3 -> do_int3_user
    4: (signal.SIGSEGV, SI_KERNEL, False),  # #OF
    5: (signal.SIGSEGV, SI_KERNEL, False),  # #BR
    6: (signal.SIGILL, ILL_ILLOPN, True),  # #UD  exc_invalid_op
    10: (signal.SIGSEGV, SI_KERNEL, False),  # #TS
    11: (signal.SIGBUS, SI_KERNEL, False),  # #NP
    12: (signal.SIGBUS, SI_KERNEL, False),  # #SS
    13: (signal.SIGSEGV, SI_KERNEL, False),  # #GP  hlt, cli, in/out, int $n, ...
    16: (signal.SIGFPE, FPE_FLTINV, True),  # #MF  x87 (code refined from the FPU state)
    17: (signal.SIGBUS, BUS_ADRALN, False),  # #AC
    19: (signal.SIGFPE, FPE_FLTINV, True),  # #XM  SIMD (code refined from MXCSR)
    21: (signal.SIGSEGV, SI_KERNEL, False),  # #CP
}

# The software-reserved bytes of an FXSAVE image Linux fills for
# NT_X86_XSTATE/signal frames (arch/x86/include/uapi/asm/sigcontext.h,
# struct _fpx_sw_bytes).
FP_XSTATE_MAGIC1 = 0x46505853
FP_XSTATE_MAGIC2_SIZE = 4
_SW_BYTES = struct.Struct("<IIQI")
_SW_OFFSET = 464

INT_0X80 = b"\xcd\x80"


class KvmUnavailableError(OSError):
    """/dev/kvm is missing, not accessible, or lacks what the platform needs."""


def open_kvm_device(path: str = "/dev/kvm") -> int:
    """Open the KVM device (the host side does this and donates the FD)."""
    try:
        return os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        raise KvmUnavailableError(
            exc.errno, f"cannot open {path} for the kvm platform: {exc.strerror}"
        ) from exc


class KvmAddressSpace(AddressSpace):
    """A guest page table mirroring one ``mm``."""

    def __init__(self, platform: KvmPlatform) -> None:
        self._platform = platform
        self.page_table = _kvm.PageTable(platform.vm)
        self._released = False

    def _check(self, addr: int, length: int) -> None:
        if self._released:
            raise RuntimeError("address space was released")
        if addr % PAGE_SIZE or length % PAGE_SIZE or length <= 0:
            raise ValueError(f"unaligned or empty range {addr:#x}+{length:#x}")
        p = self._platform
        if addr < p.min_user_address or addr + length > p.max_user_address:
            raise ValueError(
                f"range {addr:#x}-{addr + length:#x} outside "
                f"[{p.min_user_address:#x}, {p.max_user_address:#x})"
            )

    def map_file(self, addr: int, length: int, offset: int, prot: int) -> None:
        """Write leaf entries for MemoryFile ``[offset, offset+length)``."""
        self._check(addr, length)
        if offset % PAGE_SIZE or offset < 0:
            raise ValueError(f"bad MemoryFile offset {offset:#x}")
        if prot & ~_PROT_MASK:
            raise ValueError(f"bad prot {prot:#x}")
        self.page_table.map(addr, length, offset, prot)

    def unmap(self, addr: int, length: int) -> None:
        """Clear the entries; vCPUs flush their TLB at their next entry."""
        self._check(addr, length)
        self.page_table.unmap(addr, length)

    def release(self) -> None:
        """Return the page-table pages to the VM's pool. Idempotent."""
        if not self._released:
            self._released = True
            self.page_table.release()


class KvmContext(Context):
    """A task's vCPU (taken from the platform's pool, returned on release)."""

    def __init__(self, platform: KvmPlatform, vcpu: _kvm.Vcpu) -> None:
        self._platform = platform
        self.vcpu: _kvm.Vcpu | None = vcpu

    def _live(self) -> _kvm.Vcpu:
        if self.vcpu is None:
            raise RuntimeError("context was released")
        return self.vcpu

    def switch(self, address_space: AddressSpace, regs: Registers) -> Trap:
        """See ``sentry.platform.Context.switch``."""
        if address_space.__class__ is not KvmAddressSpace:
            raise TypeError(f"not a kvm address space: {address_space!r}")
        assert isinstance(address_space, KvmAddressSpace)
        vcpu = self.vcpu
        if vcpu is None:
            raise RuntimeError("context was released")
        if address_space._released:
            raise RuntimeError("address space was released")
        kind = vcpu.switch(address_space.page_table, regs)
        if kind == _TRAP_SYSCALL:
            return _SYSCALL_TRAP
        if kind == _TRAP_FAULT:
            return FaultTrap(vcpu.cr2, _access(vcpu.error_code))
        if kind == _TRAP_INTERRUPTED:
            return _INTERRUPTED
        return self._signal(vcpu, regs, address_space)

    def _signal(
        self, vcpu: _kvm.Vcpu, regs: Registers, address_space: KvmAddressSpace
    ) -> SignalTrap:
        vector = vcpu.vector
        if vector == 6 and address_space.page_table.read(regs.rip, 2) == INT_0X80:
            # Some hosts (these nested VMs) raise #UD for `int $0x80` where
            # hardware gives #GP (our IDT has no gate 0x80). Either way the
            # Sentry serves only the 64-bit ABI: a kernel without IA32
            # emulation gives SIGSEGV/SI_KERNEL, rip at the instruction.
            return SignalTrap(signal.SIGSEGV, SI_KERNEL, 0)
        if vector < 0:
            # KVM_RUN failed with EFAULT on a user access: the MemoryFile
            # page behind it is beyond the end of the file (the host's
            # SIGBUS). si_addr where KVM reports the guest-physical page.
            addr = None
            if vcpu.error_code == 1:
                addr = address_space.page_table.find_address(vcpu.cr2)
            return SignalTrap(signal.SIGBUS, BUS_ADRERR, addr or 0)
        entry = _VECTOR_SIGNALS.get(vector)
        if entry is None:
            raise _kvm.GuestError(f"unexpected exception vector {vector} at {regs.rip:#x}")
        signo, code, addr_is_rip = entry
        if vector in (16, 19):
            code = self._fp_code(vcpu, vector)
        return SignalTrap(signo, code, regs.rip if addr_is_rip else 0)

    @staticmethod
    def _fp_code(vcpu: _kvm.Vcpu, vector: int) -> int:
        # Linux fpu__exception_code (arch/x86/kernel/fpu/core.c): the first
        # unmasked exception flag, in this order.
        image = vcpu.get_xsave()
        if vector == 19:
            mxcsr = int.from_bytes(image[24:28], "little")
            pending = mxcsr & ~(mxcsr >> 7) & 0x3F
        else:
            cwd = int.from_bytes(image[0:2], "little")
            swd = int.from_bytes(image[2:4], "little")
            pending = swd & ~cwd & 0x3F
        for bit, code in ((0, FPE_FLTINV), (2, FPE_FLTDIV), (3, FPE_FLTOVF), (4, FPE_FLTUND)):
            if pending >> bit & 1:
                return code
        if pending & 0x20:
            return FPE_FLTRES
        return 0

    def fp_state(self, address_space: AddressSpace) -> bytes:
        """KVM_GET_XSAVE of this context's vCPU, with Linux's software bytes."""
        _check_space(address_space)
        vcpu = self._live()
        image = bytearray(vcpu.get_xsave())
        size = len(image)
        xfeatures = self._platform.cpuid.xfeatures
        _SW_BYTES.pack_into(
            image, _SW_OFFSET, FP_XSTATE_MAGIC1, size + FP_XSTATE_MAGIC2_SIZE, xfeatures, size
        )
        return bytes(image)

    def set_fp_state(self, address_space: AddressSpace, state: bytes) -> None:
        """KVM_SET_XSAVE; an image with features the guest lacks is EINVAL."""
        _check_space(address_space)
        vcpu = self._live()
        if len(state) < 512:
            raise ValueError(f"XSAVE image of {len(state)} bytes is too short")
        if len(state) > _kvm.XSAVE_SIZE:
            raise ValueError(f"XSAVE image of {len(state)} bytes is too long")
        vcpu.set_xsave(state)

    def interrupt(self) -> None:
        """See ``sentry.platform.Context.interrupt``."""
        vcpu = self.vcpu
        if vcpu is not None:
            vcpu.interrupt()

    def release(self) -> None:
        """Give the vCPU back to the platform. Idempotent."""
        vcpu, self.vcpu = self.vcpu, None
        if vcpu is not None:
            self._platform._return_vcpu(vcpu)


def _check_space(address_space: AddressSpace) -> None:
    if not isinstance(address_space, KvmAddressSpace):
        raise TypeError(f"not a kvm address space: {address_space!r}")


def _access(error_code: int) -> AccessType:
    # Page-fault error code (Intel SDM vol. 3, 4.7): bit 1 W/R, bit 4 I/D.
    if error_code & 0x10:
        return AccessType.EXECUTE
    if error_code & 0x2:
        return AccessType.WRITE
    return AccessType.READ


class KvmPlatform(Platform):
    """The KVM back end: one VM whose guest-physical memory is the
    MemoryFile ``memory_fd`` (plus a private region for the trampoline and
    page tables). ``device_fd`` is an open /dev/kvm (donated by the host
    side); without it the platform opens /dev/kvm itself.
    """

    def __init__(
        self, memory_fd: int, device_fd: int | None = None, *, window: int = DEFAULT_WINDOW
    ) -> None:
        if memory_fd < 0:
            raise ValueError(f"bad memory fd {memory_fd}")
        os.fstat(memory_fd)  # EBADF now rather than at the first switch
        self._own_fd = device_fd is None
        self.device_fd = open_kvm_device() if device_fd is None else device_fd
        self._closed = False
        try:
            try:
                self.cpuid: CpuidTable = filter_cpuid(_kvm.supported_cpuid(self.device_fd))
            except OSError as exc:
                if exc.errno in (errno.ENOTTY, errno.EBADF, errno.EINVAL):
                    raise KvmUnavailableError(
                        exc.errno, f"fd {self.device_fd} is not a usable /dev/kvm: {exc}"
                    ) from exc
                raise
            phys = self.cpuid.leaves.get((0x80000008, 0), (36, 0, 0, 0))[0] & 0xFF
            if _kvm.MEMORY_BASE + window > 1 << phys:
                raise KvmUnavailableError(
                    errno.ENOMEM,
                    f"guest physical address width {phys} bits cannot hold a "
                    f"{window:#x}-byte MemoryFile window",
                )
            try:
                self.vm = _kvm.Vm(self.device_fd, memory_fd, window)
            except OSError as exc:
                raise KvmUnavailableError(exc.errno, f"cannot create a KVM VM: {exc}") from exc
        except BaseException:
            if self._own_fd:
                os.close(self.device_fd)
            raise
        self.min_user_address = MIN_USER_ADDRESS
        self.max_user_address = MAX_USER_ADDRESS
        self._lock = threading.Lock()
        self._free: list[tuple[_kvm.Vcpu, bytes]] = []
        self._vcpus: list[_kvm.Vcpu] = []

    def cpuid_leaves(self) -> dict[tuple[int, int], tuple[int, int, int, int]] | None:
        """The filtered CPUID set on every vCPU (see ``cpuid.filter_cpuid``),
        or None on a PVM host: there ring-3 ``cpuid`` is not intercepted and
        the application sees the host's CPU (module docstring, "Limits"), so
        the host's /proc/cpuinfo is the consistent answer."""
        if os.path.exists(PVM_MODULE):
            return None
        return self.cpuid.leaves

    def new_address_space(self) -> KvmAddressSpace:
        """A fresh, empty guest page table."""
        if self._closed:
            raise RuntimeError("platform is closed")
        return KvmAddressSpace(self)

    def new_context(self, placement: object = None) -> KvmContext:
        """A vCPU for the calling thread (reused from released contexts);
        the host schedules vCPU threads, so ``placement`` is unused."""
        with self._lock:
            if self._closed:
                raise RuntimeError("platform is closed")
            if self._free:
                vcpu, initial_fp = self._free.pop()
                vcpu.set_xsave(initial_fp)  # nothing of the last task leaks
                return KvmContext(self, vcpu)
            if len(self._vcpus) >= _kvm.MAX_VCPUS:
                raise RuntimeError(
                    f"the kvm platform runs at most {_kvm.MAX_VCPUS} contexts at once "
                    "(per-vCPU areas in the trampoline's 2 MiB page)"
                )
            vcpu = _kvm.Vcpu(
                self.vm, len(self._vcpus), self.cpuid.rows, self.cpuid.xsave_size, self.cpuid.xcr0
            )
            self._vcpus.append(vcpu)
            self._initial_fp = getattr(self, "_initial_fp", None) or vcpu.get_xsave()
            return KvmContext(self, vcpu)

    def _return_vcpu(self, vcpu: _kvm.Vcpu) -> None:
        with self._lock:
            if self._closed:
                return
            vcpu.reset()
            self._free.append((vcpu, self._initial_fp))

    def close(self) -> None:
        """Close every vCPU, the VM, and /dev/kvm if the platform opened it."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            vcpus, self._vcpus, self._free = self._vcpus, [], []
        for vcpu in vcpus:
            vcpu.close()
        self.vm.close()
        if self._own_fd:
            os.close(self.device_fd)
