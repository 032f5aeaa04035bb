"""Tasks, thread groups, credentials, namespaces, rlimits, clocks, signals and
the syscall dispatcher (gVisor ``pkg/sentry/kernel``).

The Kernel is given its platform, MemoryFile, VFS and syscall table by the
composition root (``sentry/__main__.py``, later ``runtime/boot``).

Lock order: Kernel ``tree_lock`` (process tree, pending signals, stops),
then the Kernel lock, then a task's state, then ``mm`` (see sentry.mm).
Waiting (``waiter``, ``epoll``, ``fdnotifier``): an epoll instance's ``mtx``
(outer instance first), then a file's own lock (and ``tree_lock`` for a
signalfd's readiness), then wait-queue locks, then an epoll ready-list lock
(a leaf: wake callbacks take nothing else); the host FD notifier's lock is
a leaf too.
"""

from sentry.kernel.creds import Credentials
from sentry.kernel.exit import ExitStatus, SentryBug, TaskExit
from sentry.kernel.kernel import Kernel, ProcessSpec
from sentry.kernel.rlimits import RLimits
from sentry.kernel.syscall_table import SyscallArgs, SyscallTable
from sentry.kernel.task import Task
from sentry.kernel.uts import UTSNamespace

__all__ = [
    "Credentials",
    "ExitStatus",
    "Kernel",
    "ProcessSpec",
    "RLimits",
    "SentryBug",
    "SyscallArgs",
    "SyscallTable",
    "Task",
    "TaskExit",
    "UTSNamespace",
]
