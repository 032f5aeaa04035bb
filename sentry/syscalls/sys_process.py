"""Implements Linux syscalls getpid(2), getppid(2), gettid(2), exit(2),
exit_group(2), set_tid_address(2), set_robust_list(2), get_robust_list(2),
rseq(2), arch_prctl(2) and prctl(2) (kernel/exit.c, kernel/sys.c,
arch/x86/kernel/process_64.c)."""

from __future__ import annotations

from sentry.abi import sysno
from sentry.abi.errors import EINVAL, ENOSYS, EPERM, ESRCH
from sentry.kernel import ExitStatus, SyscallArgs, Task, TaskExit
from sentry.syscalls._util import U32, U64, s32
from sentry.syscalls.table import Support, syscall

ARCH_SET_GS = 0x1001
ARCH_SET_FS = 0x1002
ARCH_GET_FS = 0x1003
ARCH_GET_GS = 0x1004

#: arch/x86/include/asm/page_64_types.h TASK_SIZE_MAX (47-bit user space).
TASK_SIZE_MAX = (1 << 47) - 4096

PR_SET_PDEATHSIG = 1
PR_GET_PDEATHSIG = 2
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_GET_KEEPCAPS = 7
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_GET_NAME = 16
PR_GET_SECCOMP = 21
PR_CAPBSET_READ = 23
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_GET_THP_DISABLE = 42
PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
TASK_COMM_LEN = 16
CAP_SYS_PTRACE = 19


@syscall(sysno.GETPID, "getpid")
def sys_getpid(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall getpid(2): the thread group id in the sandbox's PID namespace."""
    return t.tgid


@syscall(sysno.GETPPID, "getppid")
def sys_getppid(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall getppid(2): 0 for the sandbox's init, as in a PID namespace."""
    return t.ppid()


@syscall(sysno.GETTID, "gettid")
def sys_gettid(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall gettid(2)."""
    return t.tid


@syscall(sysno.EXIT, "exit")
def sys_exit(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall exit(2).

    Ends the calling thread; the last thread ends the process (its
    clear_child_tid word and robust futexes are handled by the exit path,
    ``sentry.kernel.robust_futex``)."""
    raise TaskExit(ExitStatus(code=args[0] & 0xFF), group=False)


@syscall(sysno.EXIT_GROUP, "exit_group")
def sys_exit_group(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall exit_group(2): every thread of the process ends."""
    raise TaskExit(ExitStatus(code=args[0] & 0xFF), group=True)


@syscall(sysno.SET_TID_ADDRESS, "set_tid_address")
def sys_set_tid_address(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall set_tid_address(2): remembered for exit; returns the tid."""
    t.clear_child_tid = args[0]
    return t.tid


@syscall(
    sysno.SET_ROBUST_LIST,
    "set_robust_list",
    Support.FULL,
    "walked at thread exit and exec: FUTEX_OWNER_DIED set, one waiter woken",
)
def sys_set_robust_list(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall set_robust_list(2).

    The head size must be sizeof(struct robust_list_head)."""
    if args[1] != 24:
        raise EINVAL
    t.robust_list = (args[0], args[1])
    return 0


@syscall(sysno.GET_ROBUST_LIST, "get_robust_list")
def sys_get_robust_list(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall get_robust_list(2) (kernel/futex/syscalls.c):
    the caller's list (pid 0) or another thread's; a thread of another
    process needs the same real uid or CAP_SYS_PTRACE (a simplified
    ptrace_may_access)."""
    pid = s32(args[0])
    target = t if pid == 0 else t.kernel.tasks.get(pid)
    if target is None or pid < 0:
        raise ESRCH
    if target.thread_group is not t.thread_group and not (
        t.creds.has_capability(CAP_SYS_PTRACE) or t.creds.uid == target.creds.uid
    ):
        raise EPERM
    t.mm.copy_out(args[1], U64.pack(target.robust_list[0]))
    t.mm.copy_out(args[2], U64.pack(target.robust_list[1]))
    return 0


@syscall(
    sysno.RSEQ,
    "rseq",
    Support.ERROR,
    "ENOSYS: restartable sequences are not offered; glibc falls back",
)
def sys_rseq(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall rseq(2).

    Refused with ENOSYS on purpose (glibc then skips rseq)."""
    raise ENOSYS


@syscall(sysno.ARCH_PRCTL, "arch_prctl", Support.PARTIAL, "ARCH_SET/GET_FS and ARCH_SET/GET_GS")
def sys_arch_prctl(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall arch_prctl(2) (arch/x86/kernel/process_64.c do_arch_prctl_64)."""
    code, addr = args[0] & 0xFFFFFFFF, args[1]
    regs = t.regs
    if code == ARCH_SET_FS:
        if addr >= TASK_SIZE_MAX:
            raise EPERM
        regs.fs_base = addr
        return 0
    if code == ARCH_SET_GS:
        if addr >= TASK_SIZE_MAX:
            raise EPERM
        regs.gs_base = addr
        return 0
    if code == ARCH_GET_FS:
        t.mm.copy_out(addr, U64.pack(regs.fs_base))
        return 0
    if code == ARCH_GET_GS:
        t.mm.copy_out(addr, U64.pack(regs.gs_base))
        return 0
    raise EINVAL


@syscall(
    sysno.PRCTL,
    "prctl",
    Support.PARTIAL,
    "PR_SET/GET_NAME, PR_SET/GET_PDEATHSIG, PR_SET/GET_DUMPABLE, PR_SET/GET_KEEPCAPS, "
    "PR_SET/GET_NO_NEW_PRIVS, PR_SET/GET_CHILD_SUBREAPER, PR_GET_SECCOMP, PR_CAPBSET_READ; "
    "others EINVAL",
)
def sys_prctl(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall prctl(2) (kernel/sys.c)."""
    option, arg2 = s32(args[0]), args[1]
    state = t.prctl_state
    if option == PR_SET_NAME:
        t.comm = _comm_in(t, arg2)
        return 0
    if option == PR_GET_NAME:
        raw = t.comm.encode()[: TASK_COMM_LEN - 1]
        t.mm.copy_out(arg2, raw + bytes(TASK_COMM_LEN - len(raw)))
        return 0
    if option == PR_SET_PDEATHSIG:
        if not 0 <= arg2 <= 64:
            raise EINVAL
        state["pdeathsig"] = arg2
        return 0
    if option == PR_GET_PDEATHSIG:
        t.mm.copy_out(arg2, U32.pack(state.get("pdeathsig", 0)))
        return 0
    if option == PR_GET_DUMPABLE:
        return state.get("dumpable", 1)
    if option == PR_SET_DUMPABLE:
        if arg2 not in (0, 1):
            raise EINVAL
        state["dumpable"] = arg2
        return 0
    if option == PR_GET_KEEPCAPS:
        return state.get("keepcaps", 0)
    if option == PR_SET_KEEPCAPS:
        if arg2 not in (0, 1):
            raise EINVAL
        state["keepcaps"] = arg2
        return 0
    if option == PR_SET_NO_NEW_PRIVS:
        if arg2 != 1 or any(args[2:5]):
            raise EINVAL
        state["no_new_privs"] = 1
        return 0
    if option == PR_GET_NO_NEW_PRIVS:
        return state.get("no_new_privs", 0)
    if option == PR_GET_SECCOMP:
        return 0
    if option == PR_CAPBSET_READ:
        if arg2 > 40:
            raise EINVAL
        return t.creds.bounding_caps >> arg2 & 1
    if option == PR_GET_THP_DISABLE:
        return 0
    if option == PR_SET_CHILD_SUBREAPER:
        t.thread_group.child_subreaper = bool(arg2)
        return 0
    if option == PR_GET_CHILD_SUBREAPER:
        t.mm.copy_out(arg2, U32.pack(int(t.thread_group.child_subreaper)))
        return 0
    raise EINVAL


def _comm_in(t: Task, addr: int) -> str:
    # kernel/sys.c PR_SET_NAME: strncpy_from_user of TASK_COMM_LEN - 1 bytes.
    raw = b""
    for i in range(TASK_COMM_LEN - 1):
        byte = t.mm.copy_in(addr + i, 1)
        if byte == b"\0":
            break
        raw += byte
    return raw.decode(errors="replace")
