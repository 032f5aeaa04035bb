"""Implements Linux syscalls getuid(2), geteuid(2), getgid(2), getegid(2),
getresuid(2), getresgid(2), getgroups(2), setgroups(2), setuid(2),
setgid(2), setreuid(2), setregid(2), setresuid(2), setresgid(2), setfsuid(2)
and setfsgid(2) (kernel/sys.c, kernel/groups.c, security/commoncap.c)."""

from __future__ import annotations

import struct

from sentry.abi import sysno
from sentry.abi.errors import EINVAL, EPERM
from sentry.kernel import SyscallArgs, Task
from sentry.kernel.creds import CAP_SETGID, CAP_SETUID, Credentials
from sentry.syscalls.table import syscall

NGROUPS_MAX = 65536
_NO_CHANGE = 0xFFFFFFFF


@syscall(sysno.GETUID, "getuid")
def sys_getuid(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall getuid(2)."""
    return t.creds.uid


@syscall(sysno.GETEUID, "geteuid")
def sys_geteuid(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall geteuid(2)."""
    return t.creds.euid


@syscall(sysno.GETGID, "getgid")
def sys_getgid(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall getgid(2)."""
    return t.creds.gid


@syscall(sysno.GETEGID, "getegid")
def sys_getegid(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall getegid(2)."""
    return t.creds.egid


@syscall(sysno.GETRESUID, "getresuid")
def sys_getresuid(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall getresuid(2)."""
    c = t.creds
    for addr, value in zip(args[:3], (c.uid, c.euid, c.suid), strict=True):
        t.mm.copy_out(addr, struct.pack("<I", value))
    return 0


@syscall(sysno.GETRESGID, "getresgid")
def sys_getresgid(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall getresgid(2)."""
    c = t.creds
    for addr, value in zip(args[:3], (c.gid, c.egid, c.sgid), strict=True):
        t.mm.copy_out(addr, struct.pack("<I", value))
    return 0


@syscall(sysno.GETGROUPS, "getgroups")
def sys_getgroups(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall getgroups(2).

    Size 0 asks for the count; a smaller list is EINVAL."""
    size = args[0] & 0xFFFFFFFF
    if size >= 1 << 31:
        raise EINVAL
    groups = t.creds.groups
    if size == 0:
        return len(groups)
    if size < len(groups):
        raise EINVAL
    t.mm.copy_out(args[1], struct.pack(f"<{len(groups)}I", *groups))
    return len(groups)


@syscall(sysno.SETGROUPS, "setgroups")
def sys_setgroups(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall setgroups(2): needs CAP_SETGID."""
    size = args[0] & 0xFFFFFFFF
    if size > NGROUPS_MAX:
        raise EINVAL
    if not t.creds.has_capability(CAP_SETGID):
        raise EPERM
    raw = t.mm.copy_in(args[1], 4 * size)
    groups = tuple(sorted(set(struct.unpack(f"<{size}I", raw))))
    t.creds = _with(t.creds, groups=groups)
    return 0


def _with(c: Credentials, **changes: object) -> Credentials:
    new = c.copy()
    for key, value in changes.items():
        setattr(new, key, value)
    return new


def _fix_caps(old: Credentials, new: Credentials) -> Credentials:
    # security/commoncap.c cap_emulate_setxuid: dropping root from all three
    # uids clears permitted and effective; dropping euid 0 clears effective;
    # gaining euid 0 restores effective from permitted.
    if 0 in (old.uid, old.euid, old.suid) and 0 not in (new.uid, new.euid, new.suid):
        new.permitted_caps = 0
        new.effective_caps = 0
    if old.euid == 0 and new.euid != 0:
        new.effective_caps = 0
    if old.euid != 0 and new.euid == 0:
        new.effective_caps = new.permitted_caps
    return new


def _setres(t: Task, r: int, e: int, s: int, *, gid: bool) -> int:
    c = t.creds
    cur = (c.gid, c.egid, c.sgid) if gid else (c.uid, c.euid, c.suid)
    privileged = t.creds.has_capability(CAP_SETGID if gid else CAP_SETUID)
    wanted = [cur[i] if v == _NO_CHANGE else v for i, v in enumerate((r, e, s))]
    if not privileged:
        for v in (r, e, s):
            if v != _NO_CHANGE and v not in cur:
                raise EPERM
    if gid:
        new = _with(c, gid=wanted[0], egid=wanted[1], sgid=wanted[2], fsgid=wanted[1])
    else:
        new = _fix_caps(c, _with(c, uid=wanted[0], euid=wanted[1], suid=wanted[2], fsuid=wanted[1]))
    t.creds = new
    return 0


@syscall(sysno.SETRESUID, "setresuid")
def sys_setresuid(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall setresuid(2)."""
    return _setres(t, *(a & 0xFFFFFFFF for a in args[:3]), gid=False)


@syscall(sysno.SETRESGID, "setresgid")
def sys_setresgid(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall setresgid(2)."""
    return _setres(t, *(a & 0xFFFFFFFF for a in args[:3]), gid=True)


def _setid(t: Task, value: int, *, gid: bool) -> int:
    # kernel/sys.c __sys_setuid: privileged sets all three; otherwise only the
    # effective id may change, to the real or saved id.
    if value == _NO_CHANGE:
        raise EINVAL
    c = t.creds
    if t.creds.has_capability(CAP_SETGID if gid else CAP_SETUID):
        return _setres(t, value, value, value, gid=gid)
    if value in ((c.gid, c.sgid) if gid else (c.uid, c.suid)):
        return _setres(t, _NO_CHANGE, value, _NO_CHANGE, gid=gid)
    raise EPERM


@syscall(sysno.SETUID, "setuid")
def sys_setuid(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall setuid(2)."""
    return _setid(t, args[0] & 0xFFFFFFFF, gid=False)


@syscall(sysno.SETGID, "setgid")
def sys_setgid(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall setgid(2)."""
    return _setid(t, args[0] & 0xFFFFFFFF, gid=True)


def _setre(t: Task, r: int, e: int, *, gid: bool) -> int:
    # kernel/sys.c __sys_setreuid: the saved id follows the new effective id
    # when the real id is set or the effective id differs from the old real id.
    c = t.creds
    real, eff = (c.gid, c.egid) if gid else (c.uid, c.euid)
    saved = c.sgid if gid else c.suid
    privileged = t.creds.has_capability(CAP_SETGID if gid else CAP_SETUID)
    if not privileged:
        if r != _NO_CHANGE and r not in (real, eff):
            raise EPERM
        if e != _NO_CHANGE and e not in (real, eff, saved):
            raise EPERM
    new_r = real if r == _NO_CHANGE else r
    new_e = eff if e == _NO_CHANGE else e
    new_s = new_e if r != _NO_CHANGE or e not in (_NO_CHANGE, real) else saved
    if gid:
        t.creds = _with(c, gid=new_r, egid=new_e, sgid=new_s, fsgid=new_e)
    else:
        t.creds = _fix_caps(c, _with(c, uid=new_r, euid=new_e, suid=new_s, fsuid=new_e))
    return 0


@syscall(sysno.SETREUID, "setreuid")
def sys_setreuid(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall setreuid(2)."""
    return _setre(t, args[0] & 0xFFFFFFFF, args[1] & 0xFFFFFFFF, gid=False)


@syscall(sysno.SETREGID, "setregid")
def sys_setregid(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall setregid(2)."""
    return _setre(t, args[0] & 0xFFFFFFFF, args[1] & 0xFFFFFFFF, gid=True)


@syscall(sysno.SETFSUID, "setfsuid")
def sys_setfsuid(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall setfsuid(2): always returns the previous fsuid."""
    c = t.creds
    old = c.fsuid
    value = args[0] & 0xFFFFFFFF
    if value != _NO_CHANGE and (
        c.has_capability(CAP_SETUID) or value in (c.uid, c.euid, c.suid, c.fsuid)
    ):
        t.creds = _with(c, fsuid=value)
    return old


@syscall(sysno.SETFSGID, "setfsgid")
def sys_setfsgid(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall setfsgid(2): always returns the previous fsgid."""
    c = t.creds
    old = c.fsgid
    value = args[0] & 0xFFFFFFFF
    if value != _NO_CHANGE and (
        c.has_capability(CAP_SETGID) or value in (c.gid, c.egid, c.sgid, c.fsgid)
    ):
        t.creds = _with(c, fsgid=value)
    return old
