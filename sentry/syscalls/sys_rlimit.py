"""Implements Linux syscalls getrlimit(2), setrlimit(2) and prlimit64(2)
(kernel/sys.c do_prlimit)."""

from __future__ import annotations

import struct

from sentry.abi import sysno
from sentry.abi.errors import EINVAL, EPERM, ESRCH
from sentry.kernel import SyscallArgs, Task
from sentry.kernel.creds import CAP_SYS_RESOURCE
from sentry.kernel.rlimits import RLIM_NLIMITS, RLIMIT_NOFILE
from sentry.syscalls._util import s32
from sentry.syscalls.table import syscall

RLIMIT = struct.Struct("<QQ")
#: fs/file.c sysctl_nr_open: the highest RLIMIT_NOFILE hard limit.
NR_OPEN = 1 << 20


def _target(t: Task, pid: int) -> Task:
    if pid in (0, t.tgid):
        return t
    other = t.kernel.tasks.get(pid)
    if other is None:
        raise ESRCH
    return other


def _set(t: Task, target: Task, res: int, soft: int, hard: int) -> None:
    if soft > hard:
        raise EINVAL
    _, old_hard = target.rlimits.get(res)
    if hard > old_hard and not t.creds.has_capability(CAP_SYS_RESOURCE):
        raise EPERM
    if res == RLIMIT_NOFILE and hard > NR_OPEN:
        raise EPERM
    target.rlimits.set(res, soft, hard)


@syscall(sysno.GETRLIMIT, "getrlimit")
def sys_getrlimit(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall getrlimit(2)."""
    res = args[0] & 0xFFFFFFFF
    if res >= RLIM_NLIMITS:
        raise EINVAL
    t.mm.copy_out(args[1], RLIMIT.pack(*t.rlimits.get(res)))
    return 0


@syscall(sysno.SETRLIMIT, "setrlimit")
def sys_setrlimit(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall setrlimit(2)."""
    res = args[0] & 0xFFFFFFFF
    if res >= RLIM_NLIMITS:
        raise EINVAL
    soft, hard = RLIMIT.unpack(t.mm.copy_in(args[1], RLIMIT.size))
    _set(t, t, res, soft, hard)
    return 0


@syscall(sysno.PRLIMIT64, "prlimit64")
def sys_prlimit64(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall prlimit64(2): the old limit is read before the new one is set."""
    pid, res, new_addr, old_addr = s32(args[0]), args[1] & 0xFFFFFFFF, args[2], args[3]
    if res >= RLIM_NLIMITS:
        raise EINVAL
    target = _target(t, pid)
    new = RLIMIT.unpack(t.mm.copy_in(new_addr, RLIMIT.size)) if new_addr else None
    old = target.rlimits.get(res)
    if new is not None:
        _set(t, target, res, *new)
    if old_addr:
        t.mm.copy_out(old_addr, RLIMIT.pack(*old))
    return 0
