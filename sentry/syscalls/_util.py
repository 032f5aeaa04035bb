"""Small helpers shared by handlers: argument decoding and struct layouts."""

from __future__ import annotations

import struct

from sentry.abi.errors import EINVAL

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
