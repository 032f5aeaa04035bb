"""Implements Linux syscalls mq_open(2), mq_unlink(2), mq_timedsend(2),
mq_timedreceive(2), mq_notify(2) and mq_getsetattr(2) (ipc/mqueue.c).

The queues are ``sentry.kernel.mq`` objects of the sandbox's one IPC
namespace (``kernel.mq_registry``), shown by ``sentry.fsimpl.mqueue``.
Names reach the kernel without glibc's leading '/'. Queue descriptors are
always close-on-exec, as Linux's do_mq_open makes them.
"""

from __future__ import annotations

import struct
import time

from sentry.abi import sysno
from sentry.abi.errors import EBADF, EINVAL, EMSGSIZE, ENOENT, ENOSYS, EPERM
from sentry.fsimpl.mqueue import check_name, open_queue, queue_of
from sentry.kernel import SyscallArgs, Task
from sentry.kernel.clocks import CLOCK_REALTIME, now_ns
from sentry.kernel.mq import (
    MQ_ATTR,
    MQ_PRIO_MAX,
    SIGEV_NONE,
    SIGEV_SIGNAL,
    SIGEV_THREAD,
    Notification,
    Registry,
)
from sentry.kernel.rlimits import RLIMIT_MSGQUEUE
from sentry.kernel.signals import NSIG
from sentry.syscalls._fileargs import get_file, nofile_limit, read_path, s32, vfs_of
from sentry.syscalls._util import TIMESPEC, timespec_ns
from sentry.syscalls.table import Support, syscall
from sentry.vfs.flags import O_CREAT, O_NONBLOCK

#: struct sigevent head: sigev_value, sigev_signo, sigev_notify.
_SIGEVENT = struct.Struct("<Qii")
#: fs/namei.c CAP_FOWNER (the sticky-bit override).
CAP_FOWNER = 3


def _registry(t: Task) -> Registry:
    registry: Registry = t.kernel.mq_registry
    return registry


def _deadline(t: Task, addr: int) -> float | None:
    """An absolute CLOCK_REALTIME timeout as a ``time.monotonic()`` deadline;
    EINVAL when invalid (ipc/mqueue.c prepare_timeout)."""
    if not addr:
        return None
    abs_ns = timespec_ns(t.mm.copy_in(addr, TIMESPEC.size))
    return time.monotonic() + (abs_ns - now_ns(CLOCK_REALTIME)) / 1e9


@syscall(
    sysno.MQ_OPEN,
    "mq_open",
    Support.FULL,
    "queue sizes checked against /proc/sys/fs/mqueue (msg_max 10, msgsize_max 8192, "
    "queues_max 256) without CAP_SYS_RESOURCE; RLIMIT_MSGQUEUE gives EMFILE",
)
def sys_mq_open(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall mq_open(2)."""
    name = read_path(t, args[0])
    if not name:
        raise ENOENT  # fs/namei.c getname
    flags = s32(args[1])
    mode = args[2] & 0o7777
    attr = None
    if args[3]:
        # Copied (EFAULT) whether or not it is used, as Linux does.
        _, maxmsg, msgsize, _ = MQ_ATTR.unpack(t.mm.copy_in(args[3], MQ_ATTR.size))
        if flags & O_CREAT:
            attr = (maxmsg, msgsize)
    vfs_of(t)
    desc = open_queue(
        _registry(t), name, flags, mode & ~t.fs.umask, t.creds, attr,
        int(t.rlimits.soft(RLIMIT_MSGQUEUE)),
    )  # fmt: skip
    try:
        return int(t.fd_table.install(desc, cloexec=True, limit=nofile_limit(t)))
    except BaseException:
        desc.impl.release()
        raise


@syscall(sysno.MQ_UNLINK, "mq_unlink")
def sys_mq_unlink(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall mq_unlink(2): vfs_unlink in the mqueue root,
    which is sticky (mode 1777): only the queue's owner (or CAP_FOWNER)
    may remove it (EPERM, which glibc reports as EACCES)."""
    name = read_path(t, args[0])
    if not name:
        raise ENOENT
    check_name(name)
    registry = _registry(t)
    queue = registry.lookup(name)
    creds = t.creds
    # fs/namei.c may_delete on the root directory (mode 1777, owned by
    # root): write and search are granted to all, the sticky bit decides.
    if creds.fsuid not in (queue.uid, 0) and not creds.has_capability(CAP_FOWNER):
        raise EPERM
    registry.unlink(name)
    return 0


@syscall(sysno.MQ_TIMEDSEND, "mq_timedsend")
def sys_mq_timedsend(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall mq_timedsend(2), in Linux's order of checks:
    the timeout, the priority, the descriptor, its access mode, the size."""
    deadline = _deadline(t, args[4])
    prio = args[3] & 0xFFFFFFFF
    if prio >= MQ_PRIO_MAX:
        raise EINVAL
    desc = get_file(t, args[0])
    queue = queue_of(desc)
    if not desc.writable:
        raise EBADF
    length = args[2]
    if length > queue.msgsize:
        raise EMSGSIZE
    data = t.mm.copy_in(args[1], length)
    queue.send(data, prio, nonblock=bool(desc.flags & O_NONBLOCK), deadline=deadline, task=t)
    return 0


@syscall(sysno.MQ_TIMEDRECEIVE, "mq_timedreceive")
def sys_mq_timedreceive(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall mq_timedreceive(2): the message's length.
    EMSGSIZE when the buffer is smaller than the queue's mq_msgsize."""
    deadline = _deadline(t, args[4])
    desc = get_file(t, args[0])
    queue = queue_of(desc)
    if not desc.readable:
        raise EBADF
    if args[2] < queue.msgsize:
        raise EMSGSIZE
    prio, data = queue.receive(nonblock=bool(desc.flags & O_NONBLOCK), deadline=deadline, task=t)
    # The message is gone even if the copy faults (ipc/mqueue.c store_msg).
    if args[3]:
        t.mm.copy_out(args[3], struct.pack("<I", prio))
    t.mm.copy_out(args[1], data)
    return len(data)


@syscall(
    sysno.MQ_NOTIFY,
    "mq_notify",
    Support.PARTIAL,
    "SIGEV_SIGNAL (SI_MESGQ, sender's pid and uid) and SIGEV_NONE; SIGEV_THREAD "
    "(a netlink socket) is ENOSYS; a registration ends when its owner exits or closes "
    "the description's last descriptor (Linux: any descriptor)",
)
def sys_mq_notify(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall mq_notify(2)."""
    notification = None
    if args[1]:
        value, signo, notify = _SIGEVENT.unpack(t.mm.copy_in(args[1], _SIGEVENT.size))
        if notify not in (SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD):
            raise EINVAL
        if notify == SIGEV_SIGNAL and not 0 <= signo <= NSIG:
            raise EINVAL
        if notify == SIGEV_THREAD:
            raise ENOSYS("mq_notify: SIGEV_THREAD needs netlink sockets")
        notification = Notification(
            t.tgid, notify, signo if notify == SIGEV_SIGNAL else 0, value, t.thread_group, t.mm
        )
    queue = queue_of(get_file(t, args[0]))
    queue.set_notification(t.tgid, notification)
    return 0


@syscall(sysno.MQ_GETSETATTR, "mq_getsetattr")
def sys_mq_getsetattr(t: Task, args: SyscallArgs) -> int:
    """Implements Linux syscall mq_getsetattr(2): only O_NONBLOCK can change."""
    new = None
    if args[1]:
        new = MQ_ATTR.unpack(t.mm.copy_in(args[1], MQ_ATTR.size))
        if new[0] & ~O_NONBLOCK:
            raise EINVAL
    desc = get_file(t, args[0])
    queue = queue_of(desc)
    maxmsg, msgsize, curmsgs = queue.attr()
    old = MQ_ATTR.pack(desc.flags & O_NONBLOCK, maxmsg, msgsize, curmsgs)
    if new is not None:
        desc.set_status_flags((desc.flags & ~O_NONBLOCK) | (new[0] & O_NONBLOCK))
        queue.atime = queue.ctime = time.time_ns()
    if args[2]:
        t.mm.copy_out(args[2], old)
    return 0
