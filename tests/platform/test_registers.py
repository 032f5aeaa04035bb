"""sentry.arch.Registers: layout, defaults, conversions and bad input."""

from __future__ import annotations

import copy
import pickle

import pytest

from sentry.arch import FIELDS, Registers

# Linux arch/x86/include/asm/user_64.h order.
LINUX_ORDER = [
    "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx",
    "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base",
    "ds", "es", "fs", "gs",
]  # fmt: skip


def test_layout_matches_linux() -> None:
    assert list(FIELDS) == LINUX_ORDER
    r = Registers()
    for i, name in enumerate(FIELDS):
        setattr(r, name, i + 1)
    raw = r.to_bytes()
    assert len(raw) == 27 * 8
    assert [int.from_bytes(raw[i * 8 : i * 8 + 8], "little") for i in range(27)] == list(
        range(1, 28)
    )


def test_defaults_are_valid_user_mode() -> None:
    r = Registers()
    assert (r.cs, r.ss, r.eflags) == (0x33, 0x2B, 0x202)
    assert all(getattr(r, n) == 0 for n in FIELDS if n not in ("cs", "ss", "eflags"))


def test_keyword_construction_and_copy() -> None:
    r = Registers(rip=0x401000, rsp=0x7FF000)
    c = r.copy()
    assert c == r and c is not r
    c.rax = 5
    assert r.rax == 0 and c != r
    assert copy.copy(r) == r
    assert pickle.loads(pickle.dumps(r)) == r
    other = Registers()
    other.load(r)
    assert other == r


def test_negative_values_wrap_and_bad_values_are_rejected() -> None:
    r = Registers()
    r.rax = -2
    assert r.rax == 0xFFFFFFFFFFFFFFFE
    r.rax = (1 << 64) - 1
    with pytest.raises(OverflowError):
        r.rax = 1 << 64
    with pytest.raises(OverflowError):
        r.rbx = -(1 << 63) - 1
    with pytest.raises(TypeError):
        r.rcx = "1"  # type: ignore[assignment]
    with pytest.raises(AttributeError):
        Registers(eax=1)
    with pytest.raises(ValueError):
        Registers.from_bytes(b"\0" * 10)


def test_syscall_args_order_and_repr() -> None:
    r = Registers(rdi=1, rsi=2, rdx=3, r10=4, r8=5, r9=6, rcx=99)
    assert r.syscall_args() == (1, 2, 3, 4, 5, 6)
    assert "rdi=0x1" in repr(r)
    assert r.as_dict()["r10"] == 4
    with pytest.raises(TypeError):
        hash(r)
