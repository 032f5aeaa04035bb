"""Implements Linux syscalls reboot(2), kexec_load(2), kexec_file_load(2),
mount(2), umount2(2), ptrace(2), init_module(2), finit_module(2),
delete_module(2), swapon(2), swapoff(2), pivot_root(2), chroot(2), acct(2)
and iopl(2)/ioperm(2) by refusing them with EPERM.

These would act on the machine, not on the sandbox; the Sentry answers them
itself and does nothing on the host (gVisor refuses most of them too)."""

from __future__ import annotations

from sentry.abi import sysno
from sentry.abi.errors import EPERM
from sentry.kernel import SyscallArgs, Task
from sentry.syscalls.table import Handler, Support, syscall

_REFUSED = {
    sysno.REBOOT: "reboot",
    sysno.KEXEC_LOAD: "kexec_load",
    sysno.KEXEC_FILE_LOAD: "kexec_file_load",
    sysno.MOUNT: "mount",
    sysno.UMOUNT2: "umount2",
    sysno.PTRACE: "ptrace",
    sysno.INIT_MODULE: "init_module",
    sysno.FINIT_MODULE: "finit_module",
    sysno.DELETE_MODULE: "delete_module",
    sysno.SWAPON: "swapon",
    sysno.SWAPOFF: "swapoff",
    sysno.PIVOT_ROOT: "pivot_root",
    sysno.CHROOT: "chroot",
    sysno.ACCT: "acct",
    sysno.IOPL: "iopl",
    sysno.IOPERM: "ioperm",
}


def _refuser(name: str) -> Handler:
    def sys_refused(t: Task, args: SyscallArgs) -> int:
        raise EPERM

    sys_refused.__name__ = f"sys_{name}"
    sys_refused.__doc__ = (
        f"Implements Linux syscall {name}(2) by refusing it with EPERM; the host is not touched."
    )
    return sys_refused


for _nr, _name in _REFUSED.items():
    syscall(
        _nr, _name, Support.ERROR, "EPERM: refused inside the sandbox; nothing happens on the host"
    )(_refuser(_name))
