"""POSIX message queues (Linux ipc/mqueue.c, gVisor ``kernel/mq``).

One ``Registry`` per IPC namespace (per sandbox here) names the queues; the
mqueue file system (``sentry.fsimpl.mqueue``) shows them as files and the
mq_* syscalls (``sentry.syscalls.sys_mq``) reach them through it. What
Linux guarantees and this module keeps:

- messages leave in priority order, FIFO within a priority;
- a sender blocked on a full queue and a receiver blocked on an empty one
  are served in arrival order, and a message handed to a waiting receiver
  never passes through the queue (ipc/mqueue.c pipelined_send and
  pipelined_receive), so the first waiter always wins;
- a blocked call ends with the message, ETIMEDOUT at its absolute
  deadline, or ERESTARTSYS when a signal arrives (wq_sleep);
- one process may register for a notification when the queue goes from
  empty to non-empty with no receiver waiting (__do_notify); it is
  unregistered when sent.

Lock order: a queue's lock, then its wait queue's lock; the registry's
lock is never held while a queue's is taken.
"""

from __future__ import annotations

import heapq
import itertools
import struct
import threading
import time
from typing import Any

from sentry.abi.errors import (
    EAGAIN,
    EBUSY,
    EEXIST,
    EINVAL,
    EMFILE,
    EMSGSIZE,
    ENOENT,
    ENOSPC,
    EOVERFLOW,
    ERESTARTSYS,
    ETIMEDOUT,
)
from sentry.kernel.signals import SigInfo
from sentry.kernel.waiter import Waiter, WaitQueue
from sentry.vfs.context import current_task
from sentry.vfs.inode import POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM, FileImpl, new_anon_dev
from sentry.vfs.stat import S_IFREG, Stat

#: include/uapi/linux/mqueue.h, include/linux/ipc_namespace.h defaults
#: (the /proc/sys/fs/mqueue files).
MQ_PRIO_MAX = 32768
DFLT_QUEUESMAX = 256
DFLT_MSGMAX = 10
DFLT_MSGSIZEMAX = 8192
HARD_MSGMAX = 65536
HARD_MSGSIZEMAX = 16 * 1024 * 1024
#: ipc/mqueue.c: the status line of a queue file is at most this long.
FILENT_SIZE = 80
#: include/uapi/asm-generic/siginfo.h
SI_MESGQ = -3
SIGEV_SIGNAL = 0
SIGEV_NONE = 1
SIGEV_THREAD = 2
#: kernel capability numbers (include/uapi/linux/capability.h).
CAP_SYS_RESOURCE = 24
#: What one message and one priority node cost against RLIMIT_MSGQUEUE
#: (sizeof(struct msg_msg) and sizeof(struct posix_msg_tree_node) on x86_64).
_MSG_OVERHEAD = 48
_NODE_OVERHEAD = 48

#: The longest single host sleep of a blocked call (seconds).
_MAX_SLEEP = 3600.0

#: struct mq_attr: mq_flags, mq_maxmsg, mq_msgsize, mq_curmsgs, __reserved[4].
MQ_ATTR = struct.Struct("<4q32x")


class Limits:
    """The namespace's /proc/sys/fs/mqueue values."""

    queues_max: int
    msg_max: int
    msgsize_max: int
    msg_default: int
    msgsize_default: int

    def __init__(
        self,
        queues_max: int = DFLT_QUEUESMAX,
        msg_max: int = DFLT_MSGMAX,
        msgsize_max: int = DFLT_MSGSIZEMAX,
        msg_default: int = DFLT_MSGMAX,
        msgsize_default: int = DFLT_MSGSIZEMAX,
    ) -> None:
        self.queues_max = queues_max
        self.msg_max = msg_max
        self.msgsize_max = msgsize_max
        self.msg_default = msg_default
        self.msgsize_default = msgsize_default

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Limits) or other.__class__ is not self.__class__:
            return NotImplemented
        return (
            self.queues_max,
            self.msg_max,
            self.msgsize_max,
            self.msg_default,
            self.msgsize_default,
        ) == (
            other.queues_max,
            other.msg_max,
            other.msgsize_max,
            other.msg_default,
            other.msgsize_default,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable and compared by value

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{n}={getattr(self, n)!r}"
            for n in ("queues_max", "msg_max", "msgsize_max", "msg_default", "msgsize_default")
        )
        return f"Limits({fields})"


class Notification:
    """A process's mq_notify registration (``struct sigevent`` subset)."""

    tgid: int
    notify: int  # SIGEV_SIGNAL or SIGEV_NONE
    signo: int
    value: int
    #: The registering process, to send the signal to (a ThreadGroup).
    owner: Any
    #: Its address space when it registered: an execve since (a new mm)
    #: stops the signal, as Linux's notify_self_exec_id check does.
    mm: Any

    def __init__(  # noqa: PLR0917 - positional, as the dataclass's were
        self,
        tgid: int,
        notify: int,
        signo: int = 0,
        value: int = 0,
        owner: Any = None,
        mm: Any = None,
    ) -> None:
        self.tgid = tgid
        self.notify = notify
        self.signo = signo
        self.value = value
        self.owner = owner
        self.mm = mm

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Notification) or other.__class__ is not self.__class__:
            return NotImplemented
        return (
            self.tgid,
            self.notify,
            self.signo,
            self.value,
            self.owner,
            self.mm,
        ) == (
            other.tgid,
            other.notify,
            other.signo,
            other.value,
            other.owner,
            other.mm,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable and compared by value

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{n}={getattr(self, n)!r}" for n in ("tgid", "notify", "signo", "value", "owner", "mm")
        )
        return f"Notification({fields})"


class _Blocked:
    """A sender or receiver asleep in the queue (ipc/mqueue.c ext_wait_queue)."""

    __slots__ = ("message", "ready", "waiter")

    def __init__(self, task: Any, message: tuple[int, bytes] | None) -> None:
        self.waiter = Waiter(task)
        #: (priority, data): what a sender brings, what a receiver is given.
        self.message = message
        self.ready = False


_inos = itertools.count(1)


class Queue:
    """One message queue (``struct mqueue_inode_info``) and its inode's attributes."""

    def __init__(  # noqa: PLR0917
        self, registry: Registry, name: bytes, mode: int, uid: int, gid: int,
        maxmsg: int, msgsize: int,
    ) -> None:  # fmt: skip
        self.registry = registry
        self.name = name
        self.lock = threading.Lock()
        #: Where poll, select and epoll sleep (POLLIN on a message, POLLOUT on room).
        self.wait_queue = WaitQueue()
        self.maxmsg = maxmsg
        self.msgsize = msgsize
        self.ino = next(_inos)
        self.mode = mode & 0o7777
        self.uid = uid
        self.gid = gid
        now = time.time_ns()
        self.atime = self.mtime = self.ctime = now
        self._heap: list[tuple[int, int, bytes]] = []
        self._seq = itertools.count()
        #: Bytes of all queued messages (the QSIZE of the status line).
        self.qsize = 0
        self._senders: list[_Blocked] = []
        self._receivers: list[_Blocked] = []
        self.notification: Notification | None = None
        #: Open descriptions and whether the name is still linked: the
        #: queue is destroyed when both are gone (mqueue_evict_inode).
        self.opens = 0
        self.linked = True
        #: What the queue costs its creator against RLIMIT_MSGQUEUE.
        self.cost = 0
        self.owner_uid = uid

    # -- attributes -----------------------------------------------------------
    @property
    def curmsgs(self) -> int:
        return len(self._heap)

    def stat(self, dev: int) -> Stat:
        """The queue file's attributes (size is FILENT_SIZE, as Linux's i_size)."""
        return Stat(
            dev=dev, ino=self.ino, mode=S_IFREG | self.mode, nlink=1 if self.linked else 0,
            uid=self.uid, gid=self.gid, size=FILENT_SIZE, blksize=4096,
            atime_ns=self.atime, mtime_ns=self.mtime, ctime_ns=self.ctime,
        )  # fmt: skip

    def attr(self) -> tuple[int, int, int]:
        """(mq_maxmsg, mq_msgsize, mq_curmsgs)."""
        with self.lock:
            return self.maxmsg, self.msgsize, len(self._heap)

    def status(self) -> bytes:
        """What a read of the queue file returns (ipc/mqueue.c mqueue_read_file)."""
        with self.lock:
            n = self.notification
            notify = n.notify if n is not None else 0
            signo = n.signo if n is not None and n.notify == SIGEV_SIGNAL else 0
            pid = n.tgid if n is not None else 0
            return (
                f"QSIZE:{self.qsize:<10d} NOTIFY:{notify:<5d} SIGNO:{signo:<5d} "
                f"NOTIFY_PID:{pid:<6d}\n"
            ).encode()

    def touch(self) -> None:
        self.atime = self.mtime = self.ctime = time.time_ns()

    # -- messages ---------------------------------------------------------------
    def _insert(self, prio: int, data: bytes) -> None:
        heapq.heappush(self._heap, (-prio, next(self._seq), data))
        self.qsize += len(data)

    def _take(self) -> tuple[int, bytes]:
        neg, _, data = heapq.heappop(self._heap)
        self.qsize -= len(data)
        return -neg, data

    def send(
        self, data: bytes, prio: int, *, nonblock: bool, deadline: float | None, task: Any
    ) -> None:
        """mq_timedsend once the arguments are checked: EAGAIN, ETIMEDOUT or
        ERESTARTSYS when the queue stays full. ``deadline`` is a
        ``time.monotonic()`` value (None: wait forever)."""
        if len(data) > self.msgsize:
            raise EMSGSIZE
        notify: Notification | None = None
        with self.lock:
            if len(self._heap) < self.maxmsg:
                if self._receivers:
                    receiver = self._receivers.pop(0)
                    receiver.message = (prio, data)
                    receiver.ready = True
                    receiver.waiter.wake()
                else:
                    self._insert(prio, data)
                    if self.notification is not None and len(self._heap) == 1:
                        notify, self.notification = self.notification, None
                self.touch()
                blocked = None
            elif nonblock:
                raise EAGAIN
            else:
                blocked = _Blocked(task, (prio, data))
                self._senders.append(blocked)
        if blocked is None:
            if notify is not None:
                self._deliver(notify, task)
            self.wait_queue.notify(POLLIN | POLLRDNORM)
            return
        self._sleep(blocked, self._senders, deadline)

    def receive(self, *, nonblock: bool, deadline: float | None, task: Any) -> tuple[int, bytes]:
        """mq_timedreceive once the arguments are checked: (priority, data)."""
        with self.lock:
            if self._heap:
                message = self._take()
                # pipelined_receive: a blocked sender's message takes the place.
                if self._senders:
                    sender = self._senders.pop(0)
                    assert sender.message is not None
                    self._insert(*sender.message)
                    sender.ready = True
                    sender.waiter.wake()
                self.touch()
                blocked = None
            elif nonblock:
                raise EAGAIN
            else:
                blocked = _Blocked(task, None)
                self._receivers.append(blocked)
        if blocked is None:
            self.wait_queue.notify(POLLOUT | POLLWRNORM)
            return message
        self._sleep(blocked, self._receivers, deadline)
        assert blocked.message is not None
        return blocked.message

    def _sleep(self, blocked: _Blocked, waiters: list[_Blocked], deadline: float | None) -> None:
        """ipc/mqueue.c wq_sleep: until served, the deadline or a signal."""
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            if timeout is not None:
                # A far-future deadline (tv_sec near LONG_MAX) sleeps in
                # slices a host wait accepts (threading.TIMEOUT_MAX).
                timeout = min(timeout, _MAX_SLEEP)
            interrupted = blocked.waiter.sleep(timeout) if timeout != 0.0 else False
            with self.lock:
                if blocked.ready:
                    return
                if interrupted:
                    waiters.remove(blocked)
                    raise ERESTARTSYS
                if deadline is not None and time.monotonic() >= deadline:
                    waiters.remove(blocked)
                    raise ETIMEDOUT

    def readiness(self, mask: int) -> int:
        """ipc/mqueue.c mqueue_poll_file (the same for every access mode)."""
        ready = 0
        with self.lock:
            if self._heap:
                ready |= POLLIN | POLLRDNORM
            if len(self._heap) < self.maxmsg:
                ready |= POLLOUT | POLLWRNORM
        return ready & mask

    # -- notification -------------------------------------------------------------
    def set_notification(self, tgid: int, notification: Notification | None) -> None:
        """mq_notify: register ``notification`` for process ``tgid``, or
        remove its registration (None). EBUSY if another live process holds it."""
        with self.lock:
            current = self.notification
            if current is not None and _dead(current.owner):
                # The owner exited (Linux drops it when the exiting process
                # closes its descriptors, mqueue_flush_file).
                current = self.notification = None
            if notification is None:
                if current is not None and current.tgid == tgid:
                    self.notification = None
                return
            if current is not None:
                raise EBUSY
            self.notification = notification
            self.atime = self.ctime = time.time_ns()

    def drop_notification(self, tgid: int) -> None:
        """The owner closed the queue (ipc/mqueue.c mqueue_flush_file)."""
        with self.lock:
            if self.notification is not None and self.notification.tgid == tgid:
                self.notification = None

    def _deliver(self, n: Notification, sender: Any) -> None:
        """Send the registered signal, from the sending process (SI_MESGQ)."""
        if n.notify != SIGEV_SIGNAL or not n.signo or n.owner is None or _dead(n.owner):
            return
        leader = getattr(n.owner, "leader", None)
        if n.mm is not None and leader is not None and leader.mm is not n.mm:
            return  # the owner has exec'd a new program since it registered
        pid = getattr(sender, "tgid", 0)
        creds = getattr(sender, "creds", None)
        uid = getattr(creds, "uid", 0)
        info = SigInfo(n.signo, SI_MESGQ, 0, struct.pack("<iIQ", pid, uid, n.value))
        kernel = getattr(sender, "kernel", None)
        if kernel is not None:
            kernel.send_signal(n.owner, n.signo, info)

    # -- life ---------------------------------------------------------------------
    def opened(self) -> None:
        with self.registry.lock:
            self.opens += 1

    def closed(self) -> None:
        with self.registry.lock:
            self.opens -= 1
            self.registry.destroy_if_unused(self)


def _dead(owner: Any) -> bool:
    if owner is None:
        return True
    return bool(getattr(owner, "zombie", False) or not getattr(owner, "tasks", True))


class Registry:
    """The queues of one IPC namespace, by name (ipc_namespace's mq_mnt)."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.lock = threading.Lock()
        self.limits = limits or Limits()
        self.queues: dict[bytes, Queue] = {}
        #: Queues not yet destroyed, unlinked ones still open included.
        self.count = 0
        #: RLIMIT_MSGQUEUE accounting by uid (user_struct.mq_bytes).
        self.bytes_by_uid: dict[int, int] = {}
        #: The mqueue file system showing this registry (set by fsimpl.mqueue).
        self.fs: Any = None
        self.dev = new_anon_dev()

    def lookup(self, name: bytes) -> Queue:
        with self.lock:
            q = self.queues.get(name)
        if q is None:
            raise ENOENT
        return q

    def names(self) -> list[tuple[bytes, Queue]]:
        with self.lock:
            return sorted(self.queues.items())

    def create(
        self, name: bytes, mode: int, creds: Any, attr: tuple[int, int] | None,
        rlimit_msgqueue: int,
    ) -> Queue:  # fmt: skip
        """A new queue (ipc/mqueue.c mqueue_create_attr, mqueue_get_inode):
        ENOSPC past queues_max, EINVAL for sizes out of range (the hard
        limits with CAP_SYS_RESOURCE, else msg_max and msgsize_max), EMFILE
        past the creator's RLIMIT_MSGQUEUE; EEXIST if the name is taken."""
        privileged = creds.has_capability(CAP_SYS_RESOURCE)
        lim = self.limits
        maxmsg, msgsize = attr if attr is not None else (lim.msg_default, lim.msgsize_default)
        with self.lock:
            if name in self.queues:
                raise EEXIST
            if self.count >= lim.queues_max and not privileged:
                raise ENOSPC
            if maxmsg <= 0 or msgsize <= 0:
                raise EINVAL
            if privileged:
                if maxmsg > HARD_MSGMAX or msgsize > HARD_MSGSIZEMAX:
                    raise EINVAL
            elif maxmsg > lim.msg_max or msgsize > lim.msgsize_max:
                raise EINVAL
            if msgsize > ((1 << 64) - 1) // maxmsg:
                raise EOVERFLOW
            cost = maxmsg * (msgsize + _MSG_OVERHEAD) + min(maxmsg, MQ_PRIO_MAX) * _NODE_OVERHEAD
            used = self.bytes_by_uid.get(creds.uid, 0)
            if used + cost > rlimit_msgqueue:
                raise EMFILE
            q = Queue(self, name, mode, creds.fsuid, creds.fsgid, maxmsg, msgsize)
            q.cost = cost
            q.owner_uid = creds.uid
            self.bytes_by_uid[creds.uid] = used + cost
            self.count += 1
            self.queues[name] = q
            return q

    def unlink(self, name: bytes) -> Queue:
        """Remove the name; the queue lives on while descriptions are open."""
        with self.lock:
            q = self.queues.pop(name, None)
            if q is None:
                raise ENOENT
            q.linked = False
            self.destroy_if_unused(q)
            return q

    def destroy_if_unused(self, q: Queue) -> None:
        """mqueue_evict_inode: release the accounting (registry lock held)."""
        if q.linked or q.opens > 0 or q.cost == 0:
            return
        self.count -= 1
        left = self.bytes_by_uid.get(q.owner_uid, 0) - q.cost
        if left > 0:
            self.bytes_by_uid[q.owner_uid] = left
        else:
            self.bytes_by_uid.pop(q.owner_uid, None)
        q.cost = 0


class QueueFile(FileImpl):
    """An open queue (mq_open, or open(2) of a file in the mqueue file system).

    Reading gives the status line; sending and receiving go through the
    mq_* syscalls (``queue``); poll, select and epoll wait on ``wait_queue``.
    """

    def __init__(self, queue: Queue) -> None:
        self.queue = queue
        self._released = False
        queue.opened()

    def read(self, offset: int, length: int) -> bytes:
        data = self.queue.status()
        if offset >= len(data):
            return b""
        self.queue.atime = self.queue.ctime = time.time_ns()
        return data[offset : offset + length]

    def size(self) -> int:
        return FILENT_SIZE

    def readiness(self, mask: int) -> int:
        return self.queue.readiness(mask)

    @property
    def wait_queue(self) -> WaitQueue:
        """Where poll and select sleep for this queue."""
        return self.queue.wait_queue

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        # Linux drops the closing process's notification at every close
        # (mqueue_flush_file); here at the close of the description's last
        # descriptor, and when the owner has exited (set_notification).
        t = current_task()
        if t is not None:
            self.queue.drop_notification(t.tgid)
        self.queue.closed()


def parse_attr(raw: bytes) -> tuple[int, int, int, int]:
    """struct mq_attr: (flags, maxmsg, msgsize, curmsgs)."""
    flags, maxmsg, msgsize, curmsgs = MQ_ATTR.unpack(raw)
    return flags, maxmsg, msgsize, curmsgs


def pack_attr(flags: int, maxmsg: int, msgsize: int, curmsgs: int) -> bytes:
    return MQ_ATTR.pack(flags, maxmsg, msgsize, curmsgs)
