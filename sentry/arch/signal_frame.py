"""The x86_64 rt_sigframe (arch/x86/include/asm/sigframe.h, signal.c,
uapi/asm/sigcontext.h): what a handler finds on its stack and what
rt_sigreturn(2) reads back.

Layout, from the frame address (``rsp`` when the handler starts, so that
``rsp + 8`` is 16-byte aligned as after a call)::

    0    pretcode         the SA_RESTORER trampoline the handler returns to
    8    struct ucontext  uc_flags, uc_link, uc_stack (24), uc_mcontext
                          (struct sigcontext, 256), uc_sigmask (8)
    312  siginfo_t        128 bytes
    ...  XSAVE image      64-byte aligned above the frame, followed by
                          FP_XSTATE_MAGIC2; sigcontext.fpstate points at it
"""

from __future__ import annotations

import struct

from sentry.arch._registers import Registers

#: uapi/asm/sigcontext.h: fx_sw_reserved magic values.
FP_XSTATE_MAGIC1 = 0x46505853
FP_XSTATE_MAGIC2 = 0x46505845
#: uapi/asm/ucontext.h
UC_FP_XSTATE = 0x1
UC_SIGCONTEXT_SS = 0x2
UC_STRICT_RESTORE_SS = 0x4

#: struct sigcontext_64: r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp,
#: rip, eflags; cs, gs, fs, ss (u16); err, trapno, oldmask, cr2, fpstate;
#: reserved1[8].
SIGCONTEXT = struct.Struct("<18Q4H5Q64x")
_GPRS = (
    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
    "rdi", "rsi", "rbp", "rbx", "rdx", "rax", "rcx", "rsp", "rip", "eflags",
)  # fmt: skip
UCONTEXT_HEAD = struct.Struct("<QQQi4xQ")  # uc_flags, uc_link, ss_sp, ss_flags, ss_size
SIGSET = struct.Struct("<Q")

UC_OFFSET = 8
MCONTEXT_OFFSET = UC_OFFSET + UCONTEXT_HEAD.size  # 48
SIGMASK_OFFSET = MCONTEXT_OFFSET + SIGCONTEXT.size  # 304
SIGINFO_OFFSET = SIGMASK_OFFSET + 8  # 312
FRAME_SIZE = SIGINFO_OFFSET + 128  # 440
#: x86_64 ABI red zone below rsp that a frame must not clobber.
REDZONE = 128

#: Flags an application may restore through rt_sigreturn
#: (arch/x86/kernel/signal.c FIX_EFLAGS: AC OF DF TF SF ZF AF PF CF RF).
FIX_EFLAGS = 0x40000 | 0x800 | 0x400 | 0x100 | 0x80 | 0x40 | 0x10 | 0x4 | 0x1 | 0x10000


class BuiltFrame:
    """Where the frame goes and the bytes to write there."""

    __slots__ = ("data", "fpstate_addr", "frame_addr")

    frame_addr: int
    data: bytes
    fpstate_addr: int

    def __init__(
        self,
        frame_addr: int,
        data: bytes,
        fpstate_addr: int,
    ) -> None:
        self.frame_addr = frame_addr
        self.data = data
        self.fpstate_addr = fpstate_addr

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{n}={getattr(self, n)!r}" for n in ("frame_addr", "data", "fpstate_addr")
        )
        return f"BuiltFrame({fields})"


def fp_image_for_frame(fp: bytes) -> bytes:
    """The XSAVE image as the signal frame holds it: fx_sw_reserved says
    MAGIC1 with the sizes, and MAGIC2 follows the image
    (arch/x86/kernel/fpu/signal.c save_sw_bytes)."""
    image = bytearray(fp)
    xfeatures = struct.unpack_from("<Q", image, 512)[0] if len(image) >= 520 else 0x3
    struct.pack_into("<IIQI", image, 464, FP_XSTATE_MAGIC1, len(image) + 4, xfeatures, len(image))
    return bytes(image) + struct.pack("<I", FP_XSTATE_MAGIC2)


def build_frame(
    sp: int,
    regs: Registers,
    *,
    restorer: int,
    siginfo: bytes,
    old_mask: int,
    altstack: tuple[int, int, int],
    fp: bytes,
) -> BuiltFrame:
    """Lay out an rt_sigframe below ``sp`` (already past the red zone or at
    the top of the alternate stack). ``altstack`` is (sp, flags, size) of
    the sigaltstack to save in uc_stack."""
    fpimg = fp_image_for_frame(fp)
    fp_addr = (sp - len(fpimg)) & ~63
    frame = ((fp_addr - FRAME_SIZE) & ~15) - 8
    data = bytearray(fp_addr + len(fpimg) - frame)
    struct.pack_into("<Q", data, 0, restorer)
    ss_sp, ss_flags, ss_size = altstack
    UCONTEXT_HEAD.pack_into(
        data,
        UC_OFFSET,
        UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS,
        0,
        ss_sp,
        ss_flags,
        ss_size,
    )
    gprs = [getattr(regs, name) for name in _GPRS]
    SIGCONTEXT.pack_into(
        data, MCONTEXT_OFFSET, *gprs, regs.cs, 0, 0, regs.ss, 0, 0, old_mask, 0, fp_addr
    )
    SIGSET.pack_into(data, SIGMASK_OFFSET, old_mask)
    data[SIGINFO_OFFSET : SIGINFO_OFFSET + 128] = siginfo
    off = fp_addr - frame
    data[off : off + len(fpimg)] = fpimg
    return BuiltFrame(frame, bytes(data), fp_addr)


class RestoredContext:
    """What rt_sigreturn reads back from a ucontext."""

    __slots__ = ("altstack", "fpstate_addr", "gprs", "mask")

    gprs: dict[str, int]
    mask: int
    altstack: tuple[int, int, int]
    fpstate_addr: int

    def __init__(
        self,
        gprs: dict[str, int],
        mask: int,
        altstack: tuple[int, int, int],
        fpstate_addr: int,
    ) -> None:
        self.gprs = gprs
        self.mask = mask
        self.altstack = altstack
        self.fpstate_addr = fpstate_addr

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{n}={getattr(self, n)!r}" for n in ("gprs", "mask", "altstack", "fpstate_addr")
        )
        return f"RestoredContext({fields})"


def parse_ucontext(raw: bytes) -> RestoredContext:
    """Parse ``struct ucontext`` (``raw`` starts at uc_flags)."""
    _flags, _link, ss_sp, ss_flags, ss_size = UCONTEXT_HEAD.unpack_from(raw, 0)
    values = SIGCONTEXT.unpack_from(raw, UCONTEXT_HEAD.size)
    gprs = dict(zip(_GPRS, values[:18], strict=True))
    fpstate = values[18 + 4 + 4]
    (mask,) = SIGSET.unpack_from(raw, UCONTEXT_HEAD.size + SIGCONTEXT.size)
    return RestoredContext(gprs, mask, (ss_sp, ss_flags, ss_size), fpstate)


UCONTEXT_SIZE = UCONTEXT_HEAD.size + SIGCONTEXT.size + 8


def fp_image_from_frame(raw: bytes) -> bytes:
    """Check the software-reserved bytes of a saved XSAVE image and return
    the image (without MAGIC2) for ``Context.set_fp_state``; ValueError if
    the application corrupted it (Linux then falls back to init state; the
    caller decides)."""
    magic1, _ext, _xfeatures, size = struct.unpack_from("<IIQI", raw, 464)
    if magic1 != FP_XSTATE_MAGIC1 or size > len(raw) - 4 or size < 576:
        raise ValueError("bad fpstate software bytes")
    (magic2,) = struct.unpack_from("<I", raw, size)
    if magic2 != FP_XSTATE_MAGIC2:
        raise ValueError("bad fpstate magic2")
    return raw[:size]
