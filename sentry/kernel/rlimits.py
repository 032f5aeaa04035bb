"""Resource limits (include/uapi/asm-generic/resource.h, kernel/sys.c)."""

from __future__ import annotations

import resource

RLIMIT_CPU = 0
RLIMIT_FSIZE = 1
RLIMIT_DATA = 2
RLIMIT_STACK = 3
RLIMIT_CORE = 4
RLIMIT_RSS = 5
RLIMIT_NPROC = 6
RLIMIT_NOFILE = 7
RLIMIT_MEMLOCK = 8
RLIMIT_AS = 9
RLIMIT_LOCKS = 10
RLIMIT_SIGPENDING = 11
RLIMIT_MSGQUEUE = 12
RLIMIT_NICE = 13
RLIMIT_RTPRIO = 14
RLIMIT_RTTIME = 15
RLIM_NLIMITS = 16

RLIM_INFINITY = (1 << 64) - 1

#: Linux's defaults for a new init (include/asm-generic/resource.h INIT_RLIMITS).
_LINUX_DEFAULTS: dict[int, tuple[int, int]] = {
    RLIMIT_STACK: (8 << 20, RLIM_INFINITY),
    RLIMIT_CORE: (0, RLIM_INFINITY),
    RLIMIT_NOFILE: (1024, 4096),
    RLIMIT_MEMLOCK: (8 << 20, 8 << 20),
    RLIMIT_SIGPENDING: (0, 0),
    RLIMIT_MSGQUEUE: (819200, 819200),
}


def _from_host(value: int) -> int:
    return RLIM_INFINITY if value == resource.RLIM_INFINITY else value


class RLimits:
    """A task's limits as (soft, hard) pairs; ``RLIM_INFINITY`` is unlimited."""

    def __init__(self, limits: dict[int, tuple[int, int]] | None = None) -> None:
        self._limits = [(RLIM_INFINITY, RLIM_INFINITY)] * RLIM_NLIMITS
        for res, pair in (limits if limits is not None else _LINUX_DEFAULTS).items():
            self._limits[res] = pair

    @classmethod
    def from_host(cls) -> RLimits:
        """The limits of the Sentry process itself (what ``runsc do`` passes on)."""
        out: dict[int, tuple[int, int]] = {}
        for res in range(RLIM_NLIMITS):
            try:
                soft, hard = resource.getrlimit(res)
            except (ValueError, OSError):
                continue
            out[res] = (_from_host(soft), _from_host(hard))
        return cls(out)

    def get(self, res: int) -> tuple[int, int]:
        """(soft, hard) of resource ``res`` (the caller checked the range)."""
        return self._limits[res]

    def set(self, res: int, soft: int, hard: int) -> None:
        """Replace one limit (the caller checked permissions)."""
        self._limits[res] = (soft, hard)

    def soft(self, res: int) -> int:
        """The soft limit of ``res``."""
        return self._limits[res][0]

    def copy(self) -> RLimits:
        """An independent copy (fork)."""
        new = RLimits({})
        new._limits = list(self._limits)
        return new
