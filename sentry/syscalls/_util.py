"""Small helpers shared by handlers: argument decoding and struct layouts."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from sentry.abi.errors import EINVAL
from sentry.kernel.signals import UNBLOCKABLE

TIMESPEC = struct.Struct("<qq")
TIMEVAL = struct.Struct("<qq")
U32 = struct.Struct("<I")
U64 = struct.Struct("<Q")
I32 = struct.Struct("<i")

NSEC_PER_SEC = 1_000_000_000


def s32(value: int) -> int:
    """The low 32 bits of a register as a signed int (C ``int`` arguments)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def s64(value: int) -> int:
    """A register as a signed 64-bit value."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value & (1 << 63) else value


def timespec_ns(raw: bytes) -> int:
    """A ``struct timespec`` as nanoseconds; EINVAL when invalid (timespec64_valid)."""
    sec, nsec = TIMESPEC.unpack(raw)
    if sec < 0 or not 0 <= nsec < NSEC_PER_SEC:
        raise EINVAL
    return sec * NSEC_PER_SEC + nsec


def ns_timespec(ns: int) -> bytes:
    """Nanoseconds as a ``struct timespec``."""
    return TIMESPEC.pack(*divmod(ns, NSEC_PER_SEC))


#: sizeof(sigset_t) the kernel accepts from the rt_* and *pwait calls.
SIGSET_SIZE = 8


def with_temporary_sigmask(
    t: Any, addr: int, size: int, body: Callable[[], int], interrupted: type[Exception]
) -> int:
    """Run ``body`` with the signal mask at ``addr`` (ppoll, pselect6,
    epoll_pwait; no mask when ``addr`` is 0).

    The old mask comes back when the call returns, except when a signal
    interrupted it (``interrupted``: the call's EINTR or restart code): then
    it is restored only after that signal's delivery (the handler runs with
    the temporary mask and its frame carries the old one; kernel/signal.c
    set_user_sigmask, restore_saved_sigmask_unless)."""
    if not addr:
        return body()
    if size != SIGSET_SIZE:
        raise EINVAL
    mask = int.from_bytes(t.mm.copy_in(addr, SIGSET_SIZE), "little")
    old = t.signal_mask
    t.signal_mask = mask & ~UNBLOCKABLE
    try:
        result = body()
    except interrupted:
        t.saved_mask = old
        raise
    except BaseException:
        t.signal_mask = old
        raise
    t.signal_mask = old
    return result
