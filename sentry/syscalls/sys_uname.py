"""Implements Linux syscalls uname(2), sethostname(2) and setdomainname(2)
(kernel/sys.c)."""

from __future__ import annotations

from sentry.abi import sysno
from sentry.abi.errors import EINVAL, EPERM
from sentry.kernel import SyscallArgs, Task
from sentry.kernel.creds import CAP_SYS_ADMIN
from sentry.kernel.uts import UTS_FIELD_LEN
from sentry.syscalls.table import syscall


def _field(value: str) -> bytes:
    raw = value.encode()[: UTS_FIELD_LEN - 1]
    return raw + bytes(UTS_FIELD_LEN - len(raw))


@syscall(sysno.UNAME, "uname")
def sys_uname(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall uname(2).

    ``struct new_utsname`` from the sandbox's UTS namespace."""
    uts = t.kernel.uts
    data = b"".join(
        _field(v)
        for v in (uts.sysname, uts.hostname, uts.release, uts.version, uts.machine, uts.domainname)
    )
    t.mm.copy_out(args[0], data)
    return 0


def _name_arg(t: Task, args: SyscallArgs) -> str:
    length = args[1]
    if length >= 1 << 63 or length > UTS_FIELD_LEN - 1:
        raise EINVAL
    if not t.creds.has_capability(CAP_SYS_ADMIN):
        raise EPERM
    return t.mm.copy_in(args[0], length).split(b"\0", 1)[0].decode(errors="surrogateescape")


@syscall(sysno.SETHOSTNAME, "sethostname")
def sys_sethostname(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall sethostname(2): changes the sandbox's hostname only."""
    t.kernel.uts.hostname = _name_arg(t, args)
    return 0


@syscall(sysno.SETDOMAINNAME, "setdomainname")
def sys_setdomainname(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall setdomainname(2): changes the sandbox's domain name only."""
    t.kernel.uts.domainname = _name_arg(t, args)
    return 0
