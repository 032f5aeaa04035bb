"""Signal state, siginfo, pending queues, the rt_sigframe layout and the
syscall restart rules, without running a sandbox."""

from __future__ import annotations

import struct
from types import SimpleNamespace

import pytest

from sentry.abi import sysno
from sentry.arch import Registers
from sentry.arch.signal_frame import (
    FP_XSTATE_MAGIC2,
    FRAME_SIZE,
    SIGINFO_OFFSET,
    build_frame,
    fp_image_from_frame,
    parse_ucontext,
)
from sentry.kernel.signal_delivery import (
    EINTR,
    ERESTART_RESTARTBLOCK,
    ERESTARTNOHAND,
    ERESTARTNOINTR,
    ERESTARTSYS,
    _restart_fixup,
)
from sentry.kernel.signals import (
    SA_RESTART,
    SI_USER,
    SIGCHLD,
    SIGRTMIN,
    SIGSEGV,
    SIGTERM,
    SIGUSR1,
    PendingSignals,
    SigAction,
    SigInfo,
    default_action,
)

MASK64 = (1 << 64) - 1


def test_siginfo_layouts() -> None:
    raw = SigInfo.user(SIGUSR1, 42, 1000).pack()
    assert len(raw) == 128
    assert struct.unpack_from("<iii4xiI", raw) == (SIGUSR1, 0, SI_USER, 42, 1000)
    child = SigInfo.child(1, 7, 0, 3).pack()
    assert struct.unpack_from("<iii4xiIi", child) == (SIGCHLD, 0, 1, 7, 0, 3)
    fault = SigInfo.fault(SIGSEGV, 2, 0xDEAD000).pack()
    assert struct.unpack_from("<Q", fault, 16) == (0xDEAD000,)
    back = SigInfo.unpack(raw)
    assert (back.signo, back.code, back.sender_pid) == (SIGUSR1, SI_USER, 42)


def test_standard_signals_do_not_queue_realtime_ones_do() -> None:
    q = PendingSignals()
    assert q.enqueue(SigInfo(SIGUSR1))
    assert not q.enqueue(SigInfo(SIGUSR1))
    for _ in range(3):
        assert q.enqueue(SigInfo(SIGRTMIN + 1))
    got = []
    while (info := q.dequeue(0)) is not None:
        got.append(info.signo)
    assert got == [SIGUSR1, SIGRTMIN + 1, SIGRTMIN + 1, SIGRTMIN + 1]
    assert q.mask == 0


def test_dequeue_respects_the_mask_and_prefers_synchronous_signals() -> None:
    q = PendingSignals()
    q.enqueue(SigInfo(SIGTERM))
    q.enqueue(SigInfo(SIGUSR1))
    q.enqueue(SigInfo(SIGSEGV))
    assert q.dequeue(0).signo == SIGSEGV  # type: ignore[union-attr]
    assert q.dequeue(1 << (SIGUSR1 - 1)).signo == SIGTERM  # type: ignore[union-attr]
    assert q.dequeue(1 << (SIGUSR1 - 1)) is None
    q.discard(1 << (SIGUSR1 - 1))
    assert q.mask == 0 and q.dequeue(0) is None


def test_default_actions() -> None:
    assert default_action(SIGCHLD) == "ignore"
    assert default_action(19) == "stop"
    assert default_action(SIGSEGV) == "core"
    assert default_action(SIGTERM) == "terminate"
    assert default_action(SIGRTMIN + 3) == "terminate"


def _fp_image() -> bytes:
    img = bytearray(832)
    struct.pack_into("<Q", img, 512, 0x7)  # xstate_bv
    img[160:176] = b"\x11" * 16  # xmm0
    return bytes(img)


def test_frame_round_trip() -> None:
    regs = Registers(rax=5, rbx=6, rsp=0x7FFF0000, rip=0x401000, eflags=0x246, r15=9)
    sp = 0x7FFF0000 - 128
    frame = build_frame(
        sp,
        regs,
        restorer=0x402000,
        siginfo=SigInfo(SIGUSR1).pack(),
        old_mask=0x1234,
        altstack=(0, 2, 0),
        fp=_fp_image(),
    )
    assert (frame.frame_addr + 8) % 16 == 0  # as after a call instruction
    assert frame.fpstate_addr % 64 == 0
    assert frame.frame_addr + FRAME_SIZE <= frame.fpstate_addr < sp
    data = frame.data
    assert struct.unpack_from("<Q", data, 0) == (0x402000,)
    assert struct.unpack_from("<i", data, SIGINFO_OFFSET) == (SIGUSR1,)
    ctx = parse_ucontext(data[8:])
    assert ctx.gprs["rax"] == 5 and ctx.gprs["r15"] == 9 and ctx.gprs["rip"] == 0x401000
    assert ctx.mask == 0x1234
    assert ctx.fpstate_addr == frame.fpstate_addr
    fp_raw = data[frame.fpstate_addr - frame.frame_addr :]
    assert struct.unpack_from("<I", fp_raw, 832) == (FP_XSTATE_MAGIC2,)
    restored = fp_image_from_frame(fp_raw)
    assert restored[160:176] == b"\x11" * 16 and len(restored) == 832


def test_corrupt_fpstate_is_refused() -> None:
    good = build_frame(
        0x7FFF0000, Registers(), restorer=1, siginfo=bytes(128), old_mask=0, altstack=(0, 2, 0),
        fp=_fp_image(),
    )  # fmt: skip
    fp_raw = bytearray(good.data[good.fpstate_addr - good.frame_addr :])
    fp_raw[832] ^= 0xFF
    with pytest.raises(ValueError, match="magic2"):
        fp_image_from_frame(bytes(fp_raw))
    fp_raw[464] ^= 0xFF
    with pytest.raises(ValueError, match="software bytes"):
        fp_image_from_frame(bytes(fp_raw))


def _task(errno: int) -> SimpleNamespace:
    regs = Registers(rax=-errno & MASK64, orig_rax=sysno.READ, rip=0x1002)
    return SimpleNamespace(_restart_errno=errno, regs=regs)


@pytest.mark.parametrize(
    ("errno", "handler", "want"),
    [
        (ERESTARTSYS, None, "restart"),
        (ERESTARTSYS, SigAction(handler=0x1000), "eintr"),
        (ERESTARTSYS, SigAction(handler=0x1000, flags=SA_RESTART), "restart"),
        (ERESTARTNOINTR, SigAction(handler=0x1000), "restart"),
        (ERESTARTNOHAND, SigAction(handler=0x1000, flags=SA_RESTART), "eintr"),
        (ERESTARTNOHAND, None, "restart"),
        (ERESTART_RESTARTBLOCK, None, "restart_block"),
        (ERESTART_RESTARTBLOCK, SigAction(handler=0x1000, flags=SA_RESTART), "eintr"),
    ],
)
def test_restart_rules(errno: int, handler: SigAction | None, want: str) -> None:
    t = _task(errno)
    _restart_fixup(t, handler=handler)  # type: ignore[arg-type]
    assert t._restart_errno == 0
    if want == "eintr":
        assert (t.regs.rax, t.regs.rip) == (-EINTR & MASK64, 0x1002)
    elif want == "restart":
        assert (t.regs.rax, t.regs.rip) == (sysno.READ, 0x1000)
    else:
        assert (t.regs.rax, t.regs.rip) == (sysno.RESTART_SYSCALL, 0x1000)
