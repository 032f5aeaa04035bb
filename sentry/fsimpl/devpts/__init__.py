"""devpts: Unix 98 pseudo-terminals and the N_TTY line discipline.

Modules: ``termios`` (the ABI structures and ioctl numbers), ``ldisc`` (the
line discipline, sans I/O), ``terminal`` (one pty pair: queues, blocking,
ioctls), ``fs`` (the file system: ptmx and pts/N), ``console`` (a container's
terminal: a pts/N whose master end is a host pty, pumped by two threads).

Lock order: a Terminal's condition, then the kernel's session table lock
(taken by TIOCSCTTY); signals are sent with neither held.
"""

from sentry.fsimpl.devpts.fs import DevptsFilesystem
from sentry.fsimpl.devpts.terminal import Terminal

__all__ = ["DevptsFilesystem", "Terminal"]
