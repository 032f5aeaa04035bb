"""Hand-assembled x86_64 snippets for the platform tests (no assembler needed).

Each helper returns the bytes of one instruction; encodings are from the
Intel SDM vol. 2 and were checked against ``objdump -d``.
"""

from __future__ import annotations

import struct

SYSCALL = b"\x0f\x05"
INT3 = b"\xcc"
UD2 = b"\x0f\x0b"
HLT = b"\xf4"
CLI = b"\xfa"
NOP = b"\x90"
JMP_SELF = b"\xeb\xfe"

_REG32 = {"eax": 0, "ecx": 1, "edx": 2, "ebx": 3, "esp": 4, "ebp": 5, "esi": 6, "edi": 7}
_REG64 = {
    "rax": 0, "rcx": 1, "rdx": 2, "rbx": 3, "rsp": 4, "rbp": 5, "rsi": 6, "rdi": 7,
    "r8": 8, "r9": 9, "r10": 10, "r11": 11, "r12": 12, "r13": 13, "r14": 14, "r15": 15,
}  # fmt: skip


def mov_imm32(reg: str, value: int) -> bytes:
    """``mov r32, imm32`` (zero-extends into the 64-bit register)."""
    n = _REG64[reg]
    prefix = b"\x41" if n >= 8 else b""
    return prefix + bytes([0xB8 + (n & 7)]) + struct.pack("<I", value & 0xFFFFFFFF)


def mov_imm64(reg: str, value: int) -> bytes:
    """``movabs r64, imm64``."""
    n = _REG64[reg]
    rex = 0x48 | (1 if n >= 8 else 0)
    return bytes([rex, 0xB8 + (n & 7)]) + struct.pack("<Q", value & 0xFFFFFFFFFFFFFFFF)


def _rex_rm(op: bytes, reg: str, base: str) -> bytes:
    r, b = _REG64[reg], _REG64[base]
    if b & 7 in (4, 5):
        raise ValueError("rsp/rbp/r12/r13 bases need SIB/disp encodings")
    rex = 0x48 | (4 if r >= 8 else 0) | (1 if b >= 8 else 0)
    return bytes([rex]) + op + bytes([((r & 7) << 3) | (b & 7)])


def load(reg: str, base: str) -> bytes:
    """``mov reg, [base]``."""
    return _rex_rm(b"\x8b", reg, base)


def store(base: str, reg: str) -> bytes:
    """``mov [base], reg``."""
    return _rex_rm(b"\x89", reg, base)


def mov_reg(dst: str, src: str) -> bytes:
    """``mov dst, src`` (64-bit)."""
    d, s = _REG64[dst], _REG64[src]
    rex = 0x48 | (4 if s >= 8 else 0) | (1 if d >= 8 else 0)
    return bytes([rex, 0x89, 0xC0 | ((s & 7) << 3) | (d & 7)])


def jmp_reg(reg: str) -> bytes:
    """``jmp reg``."""
    n = _REG64[reg]
    return (b"\x41" if n >= 8 else b"") + bytes([0xFF, 0xE0 | (n & 7)])


def call_reg(reg: str) -> bytes:
    """``call reg``."""
    n = _REG64[reg]
    return (b"\x41" if n >= 8 else b"") + bytes([0xFF, 0xD0 | (n & 7)])


def div_ecx_by_zero() -> bytes:
    """``xor ecx, ecx; div ecx``: a #DE; returns (prefix, faulting instruction)."""
    return b"\x31\xc9" + b"\xf7\xf1"


def movq_xmm0_from(reg: str) -> bytes:
    """``movq xmm0, r64``."""
    n = _REG64[reg]
    return b"\x66" + bytes([0x48 | (1 if n >= 8 else 0)]) + b"\x0f\x6e" + bytes([0xC0 | (n & 7)])


def movq_to_from_xmm0(reg: str) -> bytes:
    """``movq r64, xmm0``."""
    n = _REG64[reg]
    return b"\x66" + bytes([0x48 | (1 if n >= 8 else 0)]) + b"\x0f\x7e" + bytes([0xC0 | (n & 7)])


def load_fs0(reg: str) -> bytes:
    """``mov reg, fs:[0]`` (reads through the hardware fs base)."""
    n = _REG64[reg]
    rex = 0x48 | (4 if n >= 8 else 0)
    return b"\x64" + bytes([rex, 0x8B, 0x04 | ((n & 7) << 3), 0x25]) + b"\0\0\0\0"


def jmp_back(to_offset: int, here: int) -> bytes:
    """A short ``jmp`` from offset ``here`` (of the jmp itself) back to ``to_offset``."""
    rel = to_offset - (here + 2)
    if not -128 <= rel < 0:
        raise ValueError("jmp_back is for short backward jumps")
    return b"\xeb" + struct.pack("<b", rel)
