"""Implements Linux syscall getrandom(2) (drivers/char/random.c)."""

from __future__ import annotations

import os

from sentry.abi import sysno
from sentry.abi.errors import EINVAL
from sentry.kernel import SyscallArgs, Task
from sentry.syscalls.table import syscall

GRND_NONBLOCK = 1
GRND_RANDOM = 2
GRND_INSECURE = 4
#: getrandom returns at most this much per call (MAX_RW_COUNT rounded, INT_MAX cap).
_MAX = (1 << 25) - 1


@syscall(sysno.GETRANDOM, "getrandom")
def sys_getrandom(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall getrandom(2).

    Bytes from the host's CSPRNG (never blocks once booted)."""
    flags = args[2] & 0xFFFFFFFF
    if flags & ~(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) or (
        flags & GRND_INSECURE and flags & GRND_RANDOM
    ):
        raise EINVAL
    n = min(args[1], _MAX)
    t.mm.copy_out(args[0], os.urandom(n))
    return n
