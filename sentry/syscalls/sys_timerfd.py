"""Implements Linux syscalls timerfd_create(2), timerfd_settime(2) and
timerfd_gettime(2) (fs/timerfd.c)."""

from __future__ import annotations

from sentry.abi import sysno
from sentry.abi.errors import EINVAL, EPERM
from sentry.kernel import SyscallArgs, Task
from sentry.kernel.clocks import CLOCK_BOOTTIME_ALARM, CLOCK_REALTIME_ALARM
from sentry.kernel.timerfd import TFD_SETTIME_FLAGS, TIMERFD_CLOCKS, TimerFD, new_timerfd
from sentry.syscalls._fileargs import nofile_limit
from sentry.syscalls._util import TIMESPEC, ns_timespec, s32, timespec_ns
from sentry.syscalls.table import Support, syscall
from sentry.vfs.flags import O_CLOEXEC, O_NONBLOCK

TFD_CLOEXEC = O_CLOEXEC
TFD_NONBLOCK = O_NONBLOCK
ITIMERSPEC_SIZE = 2 * TIMESPEC.size


@syscall(
    sysno.TIMERFD_CREATE,
    "timerfd_create",
    Support.PARTIAL,
    "CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME; the *_ALARM clocks are EPERM "
    "(no CAP_WAKE_ALARM in the sandbox)",
)
def sys_timerfd_create(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall timerfd_create(2)."""
    clock, flags = s32(args[0]), args[1] & 0xFFFFFFFF
    alarm = clock in (CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM)
    if flags & ~(TFD_CLOEXEC | TFD_NONBLOCK) or (clock not in TIMERFD_CLOCKS and not alarm):
        raise EINVAL
    if alarm:
        raise EPERM
    desc = new_timerfd(t.kernel, clock, flags)
    return int(t.fd_table.install(desc, cloexec=bool(flags & TFD_CLOEXEC), limit=nofile_limit(t)))


def _timerfd(t: Task, fd: int) -> TimerFD:
    impl = t.fd_table.get(fd).impl
    if not isinstance(impl, TimerFD):
        raise EINVAL  # fs/timerfd.c timerfd_fget
    return impl


def _itimerspec(interval_ns: int, value_ns: int) -> bytes:
    return ns_timespec(interval_ns) + ns_timespec(value_ns)


@syscall(
    sysno.TIMERFD_SETTIME,
    "timerfd_settime",
    Support.PARTIAL,
    "TFD_TIMER_CANCEL_ON_SET accepted; never cancels (the sandbox cannot set the clock)",
)
def sys_timerfd_settime(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall timerfd_settime(2)."""
    fd, flags, new_addr, old_addr = s32(args[0]), s32(args[1]), args[2], args[3]
    raw = t.mm.copy_in(new_addr, ITIMERSPEC_SIZE)
    if flags & ~TFD_SETTIME_FLAGS:
        raise EINVAL
    interval_ns = timespec_ns(raw[: TIMESPEC.size])
    value_ns = timespec_ns(raw[TIMESPEC.size :])
    timer = _timerfd(t, fd)
    old_value, old_interval = timer.settime(flags, value_ns, interval_ns)
    if old_addr:
        t.mm.copy_out(old_addr, _itimerspec(old_interval, old_value))
    return 0


@syscall(sysno.TIMERFD_GETTIME, "timerfd_gettime")
def sys_timerfd_gettime(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall timerfd_gettime(2): the time left and the interval."""
    value, interval = _timerfd(t, s32(args[0])).gettime()
    t.mm.copy_out(args[1], _itimerspec(interval, value))
    return 0
