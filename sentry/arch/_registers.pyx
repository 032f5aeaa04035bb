# cython: language_level=3
"""x86_64 general registers: a Cython wrapper around Linux ``struct user_regs_struct``.

This is the register file the Sentry keeps for every task and hands to
``Context.switch``; the platforms copy ``regs`` to and from the host with
PTRACE_GETREGS/SETREGS (ptrace) or KVM_GET/SET_REGS (kvm) without a Python
round trip per register. Attribute names and layout are Linux's
(arch/x86/include/asm/user_64.h); values are unsigned 64-bit integers and
setters accept any int in [-2**63, 2**64) (negative values wrap, so
``regs.rax = -errno`` works).
"""

from libc.string cimport memcmp, memcpy, memset

#: Flat (ring 3) selectors Linux gives 64-bit user code
#: (arch/x86/include/asm/segment.h: __USER_CS = 6*8+3, __USER_DS = 5*8+3).
USER_CS = 0x33
USER_DS = 0x2B
#: IF (interrupts enabled) and the always-one reserved bit 1.
DEFAULT_EFLAGS = 0x202

FIELDS = (
    "r15",
    "r14",
    "r13",
    "r12",
    "rbp",
    "rbx",
    "r11",
    "r10",
    "r9",
    "r8",
    "rax",
    "rcx",
    "rdx",
    "rsi",
    "rdi",
    "orig_rax",
    "rip",
    "cs",
    "eflags",
    "rsp",
    "ss",
    "fs_base",
    "gs_base",
    "ds",
    "es",
    "fs",
    "gs",
)

cdef unsigned long long _u64(object value) except? 0:
    if not isinstance(value, int):
        raise TypeError(f"register value must be int, not {type(value).__name__}")
    if value < -(1 << 63) or value >= (1 << 64):
        raise OverflowError(f"register value {value:#x} does not fit in 64 bits")
    return <unsigned long long>(value & 0xFFFFFFFFFFFFFFFF)


cdef class Registers:
    """The general registers of one x86_64 thread.

    ``Registers()`` is a valid user-mode state: every register zero, cs/ss the
    64-bit user selectors, eflags 0x202. Keyword arguments set fields:
    ``Registers(rip=0x400000, rsp=0x7ff000)``.
    """

    def __init__(self, **fields):
        memset(&self.regs, 0, sizeof(self.regs))
        self.regs.cs = USER_CS
        self.regs.ss = USER_DS
        self.regs.eflags = DEFAULT_EFLAGS
        for name, value in fields.items():
            if name not in FIELDS:
                raise AttributeError(f"Registers has no register {name!r}")
            setattr(self, name, value)

    def copy(self):
        """An independent copy (for fork, signal frames, ptrace snapshots)."""
        cdef Registers other = Registers.__new__(Registers)
        memcpy(&other.regs, &self.regs, sizeof(self.regs))
        return other

    def load(self, Registers other):
        """Overwrite every register with ``other``'s (in place, no allocation)."""
        memcpy(&self.regs, &other.regs, sizeof(self.regs))

    def to_bytes(self):
        """The raw ``struct user_regs_struct`` (216 bytes), e.g. for a core dump or NT_PRSTATUS."""
        return (<char *>&self.regs)[:sizeof(self.regs)]

    @staticmethod
    def from_bytes(data):
        """Inverse of ``to_bytes``."""
        cdef const unsigned char[:] view = data
        cdef Registers r = Registers.__new__(Registers)
        if view.shape[0] != sizeof(r.regs):
            raise ValueError(f"user_regs_struct is {sizeof(r.regs)} bytes, got {view.shape[0]}")
        memcpy(&r.regs, &view[0], sizeof(r.regs))
        return r

    def syscall_args(self):
        """The six system call arguments in x86_64 order (rdi rsi rdx r10 r8 r9)."""
        return (self.regs.rdi, self.regs.rsi, self.regs.rdx,
                self.regs.r10, self.regs.r8, self.regs.r9)

    def as_dict(self):
        """``{name: value}`` for every register, in ``FIELDS`` order."""
        return {name: getattr(self, name) for name in FIELDS}

    def __eq__(self, other):
        if not isinstance(other, Registers):
            return NotImplemented
        return memcmp(&self.regs, &(<Registers>other).regs, sizeof(self.regs)) == 0

    __hash__ = None

    def __repr__(self):
        return "Registers(" + ", ".join(
            f"{name}={getattr(self, name):#x}" for name in FIELDS) + ")"

    def __reduce__(self):
        return (Registers.from_bytes, (self.to_bytes(),))

    @property
    def r15(self):
        return self.regs.r15

    @r15.setter
    def r15(self, value):
        self.regs.r15 = _u64(value)

    @property
    def r14(self):
        return self.regs.r14

    @r14.setter
    def r14(self, value):
        self.regs.r14 = _u64(value)

    @property
    def r13(self):
        return self.regs.r13

    @r13.setter
    def r13(self, value):
        self.regs.r13 = _u64(value)

    @property
    def r12(self):
        return self.regs.r12

    @r12.setter
    def r12(self, value):
        self.regs.r12 = _u64(value)

    @property
    def rbp(self):
        return self.regs.rbp

    @rbp.setter
    def rbp(self, value):
        self.regs.rbp = _u64(value)

    @property
    def rbx(self):
        return self.regs.rbx

    @rbx.setter
    def rbx(self, value):
        self.regs.rbx = _u64(value)

    @property
    def r11(self):
        return self.regs.r11

    @r11.setter
    def r11(self, value):
        self.regs.r11 = _u64(value)

    @property
    def r10(self):
        return self.regs.r10

    @r10.setter
    def r10(self, value):
        self.regs.r10 = _u64(value)

    @property
    def r9(self):
        return self.regs.r9

    @r9.setter
    def r9(self, value):
        self.regs.r9 = _u64(value)

    @property
    def r8(self):
        return self.regs.r8

    @r8.setter
    def r8(self, value):
        self.regs.r8 = _u64(value)

    @property
    def rax(self):
        return self.regs.rax

    @rax.setter
    def rax(self, value):
        self.regs.rax = _u64(value)

    @property
    def rcx(self):
        return self.regs.rcx

    @rcx.setter
    def rcx(self, value):
        self.regs.rcx = _u64(value)

    @property
    def rdx(self):
        return self.regs.rdx

    @rdx.setter
    def rdx(self, value):
        self.regs.rdx = _u64(value)

    @property
    def rsi(self):
        return self.regs.rsi

    @rsi.setter
    def rsi(self, value):
        self.regs.rsi = _u64(value)

    @property
    def rdi(self):
        return self.regs.rdi

    @rdi.setter
    def rdi(self, value):
        self.regs.rdi = _u64(value)

    @property
    def orig_rax(self):
        return self.regs.orig_rax

    @orig_rax.setter
    def orig_rax(self, value):
        self.regs.orig_rax = _u64(value)

    @property
    def rip(self):
        return self.regs.rip

    @rip.setter
    def rip(self, value):
        self.regs.rip = _u64(value)

    @property
    def cs(self):
        return self.regs.cs

    @cs.setter
    def cs(self, value):
        self.regs.cs = _u64(value)

    @property
    def eflags(self):
        return self.regs.eflags

    @eflags.setter
    def eflags(self, value):
        self.regs.eflags = _u64(value)

    @property
    def rsp(self):
        return self.regs.rsp

    @rsp.setter
    def rsp(self, value):
        self.regs.rsp = _u64(value)

    @property
    def ss(self):
        return self.regs.ss

    @ss.setter
    def ss(self, value):
        self.regs.ss = _u64(value)

    @property
    def fs_base(self):
        return self.regs.fs_base

    @fs_base.setter
    def fs_base(self, value):
        self.regs.fs_base = _u64(value)

    @property
    def gs_base(self):
        return self.regs.gs_base

    @gs_base.setter
    def gs_base(self, value):
        self.regs.gs_base = _u64(value)

    @property
    def ds(self):
        return self.regs.ds

    @ds.setter
    def ds(self, value):
        self.regs.ds = _u64(value)

    @property
    def es(self):
        return self.regs.es

    @es.setter
    def es(self, value):
        self.regs.es = _u64(value)

    @property
    def fs(self):
        return self.regs.fs

    @fs.setter
    def fs(self, value):
        self.regs.fs = _u64(value)

    @property
    def gs(self):
        return self.regs.gs

    @gs.setter
    def gs(self, value):
        self.regs.gs = _u64(value)
