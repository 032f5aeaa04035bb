"""Implements Linux syscalls getpgrp(2), getpgid(2), setpgid(2), getsid(2),
setsid(2), getpriority(2), setpriority(2), personality(2), capget(2) and
capset(2) (kernel/sys.c, kernel/capability.c, kernel/exec_domain.c)."""

from __future__ import annotations

import struct

from sentry.abi import sysno
from sentry.abi.errors import EACCES, EFAULT, EINVAL, EPERM, ESRCH
from sentry.kernel import SyscallArgs, Task
from sentry.kernel.creds import CAP_SYS_NICE
from sentry.kernel.sessions import pgrp_session, sessions
from sentry.syscalls._util import s32
from sentry.syscalls.table import Support, syscall

PRIO_PROCESS = 0
PRIO_PGRP = 1
PRIO_USER = 2
#: kernel/capability.c: the versions capget/capset accept.
_LINUX_CAPABILITY_VERSION_1 = 0x19980330
_LINUX_CAPABILITY_VERSION_2 = 0x20071026
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_PERSONALITY_QUERY = 0xFFFFFFFF


def _task(t: Task, pid: int) -> Task:
    if pid == 0:
        return t
    other = t.kernel.tasks.get(pid)
    if other is None:
        raise ESRCH
    return other


@syscall(sysno.GETPGRP, "getpgrp")
def sys_getpgrp(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall getpgrp(2)."""
    return t.pgid


@syscall(sysno.GETPGID, "getpgid")
def sys_getpgid(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall getpgid(2)."""
    pid = s32(args[0])
    if pid < 0:
        raise ESRCH
    return _task(t, pid).pgid


def _thread_group(t: Task) -> list[Task]:
    return [x for x in list(t.kernel.tasks.values()) if x.tgid == t.tgid] or [t]


@syscall(
    sysno.SETPGID,
    "setpgid",
    Support.PARTIAL,
    "EACCES for a child that has exec'd needs the task to record it (did_exec)",
)
def sys_setpgid(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall setpgid(2).

    kernel/sys.c: the target is the caller or one of its children (ESRCH),
    a child in the caller's session (EPERM) that has not exec'd yet (EACCES),
    never a session leader (EPERM); joining an existing group requires it
    to be in the caller's session (EPERM)."""
    pid, pgid = s32(args[0]), s32(args[1])
    if pgid < 0:
        raise EINVAL
    target = _task(t, pid)
    if target.tgid != t.tgid:
        parent = target.parent
        if parent is None or parent.tgid != t.tgid:
            raise ESRCH
        if target.sid != t.sid:
            raise EPERM
        if getattr(target, "did_exec", False):
            raise EACCES
    pgid = pgid or target.tgid
    if target.sid == target.tgid:
        raise EPERM
    if pgid != target.tgid and pgrp_session(t.kernel, pgid) != t.sid:
        raise EPERM
    for x in _thread_group(target):
        x.pgid = pgid
    return 0


@syscall(sysno.GETSID, "getsid")
def sys_getsid(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall getsid(2)."""
    pid = s32(args[0])
    if pid < 0:
        raise ESRCH
    return _task(t, pid).sid


@syscall(sysno.SETSID, "setsid")
def sys_setsid(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall setsid(2).

    EPERM when a process group with the caller's id exists (kernel/sys.c
    ksys_setsid); the new session has no controlling terminal."""
    if pgrp_session(t.kernel, t.tgid) is not None:
        raise EPERM
    table = sessions(t.kernel)
    with table.lock:
        table.ctty.pop(t.tgid, None)
    for x in _thread_group(t):
        x.sid = x.pgid = t.tgid
    return t.tgid


@syscall(sysno.GETPRIORITY, "getpriority", Support.PARTIAL, "PRIO_PROCESS only; nice is recorded")
def sys_getpriority(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall getpriority(2): returns 20 - nice, as the raw syscall does."""
    which, who = s32(args[0]), s32(args[1])
    if which not in (PRIO_PROCESS, PRIO_PGRP, PRIO_USER):
        raise EINVAL
    if which != PRIO_PROCESS:
        return 20 - t.nice
    return 20 - _task(t, who).nice


@syscall(sysno.SETPRIORITY, "setpriority", Support.PARTIAL, "PRIO_PROCESS only; nice is recorded")
def sys_setpriority(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall setpriority(2): lowering nice needs CAP_SYS_NICE."""
    which, who, nice = s32(args[0]), s32(args[1]), s32(args[2])
    if which not in (PRIO_PROCESS, PRIO_PGRP, PRIO_USER):
        raise EINVAL
    target = _task(t, who) if which == PRIO_PROCESS else t
    nice = max(-20, min(19, nice))
    if nice < target.nice and not t.creds.has_capability(CAP_SYS_NICE):
        raise EPERM
    target.nice = nice
    return 0


@syscall(
    sysno.PERSONALITY, "personality", Support.PARTIAL, "recorded; personality flags have no effect"
)
def sys_personality(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall personality(2): returns the old persona; any new one is recorded, as
    Linux does (kernel/exec_domain.c)."""
    persona = args[0] & 0xFFFFFFFF
    old = t.personality
    if persona != _PERSONALITY_QUERY:
        t.personality = persona
    return old


_HEADER = struct.Struct("<Ii")
_DATA = struct.Struct("<III")


@syscall(sysno.CAPGET, "capget")
def sys_capget(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall capget(2).

    An unknown version is answered with the preferred one and EINVAL."""
    version, pid = _HEADER.unpack(t.mm.copy_in(args[0], _HEADER.size))
    if version not in (
        _LINUX_CAPABILITY_VERSION_1,
        _LINUX_CAPABILITY_VERSION_2,
        _LINUX_CAPABILITY_VERSION_3,
    ):
        t.mm.copy_out(args[0], _HEADER.pack(_LINUX_CAPABILITY_VERSION_3, pid))
        if args[1]:
            raise EINVAL
        return 0
    if pid < 0:
        raise EINVAL
    target = _task(t, pid)
    if not args[1]:
        return 0
    c = target.creds
    words = 1 if version == _LINUX_CAPABILITY_VERSION_1 else 2
    out = b"".join(
        _DATA.pack(
            c.effective_caps >> (32 * i) & 0xFFFFFFFF,
            c.permitted_caps >> (32 * i) & 0xFFFFFFFF,
            0,
        )
        for i in range(words)
    )
    t.mm.copy_out(args[1], out)
    return 0


@syscall(sysno.CAPSET, "capset", Support.PARTIAL, "effective and permitted sets; no inheritable")
def sys_capset(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall capset(2).

    Only the caller; new sets must be subsets of permitted."""
    version, pid = _HEADER.unpack(t.mm.copy_in(args[0], _HEADER.size))
    if version not in (_LINUX_CAPABILITY_VERSION_2, _LINUX_CAPABILITY_VERSION_3):
        t.mm.copy_out(args[0], _HEADER.pack(_LINUX_CAPABILITY_VERSION_3, pid))
        raise EINVAL
    if pid not in (0, t.tid):
        raise EPERM
    if not args[1]:
        raise EFAULT
    raw = t.mm.copy_in(args[1], 2 * _DATA.size)
    (e0, p0, _i0), (e1, p1, _i1) = _DATA.unpack(raw[:12]), _DATA.unpack(raw[12:])
    effective, permitted = e0 | e1 << 32, p0 | p1 << 32
    c = t.creds
    if permitted & ~c.permitted_caps or effective & ~permitted:
        raise EPERM
    new = c.copy()
    new.effective_caps, new.permitted_caps = effective, permitted
    t.creds = new
    return 0
