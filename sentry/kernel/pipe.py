"""Pipes and FIFOs (Linux fs/pipe.c and fs/fifo.c semantics, gVisor
``kernel/pipe``).

A ``Pipe`` is a bounded byte buffer shared by its read and write ends. Both
pipe(2) descriptors and the opens of a FIFO inode are ``PipeImpl`` ends of
one ``Pipe``. What Linux guarantees and this module keeps:

- writes of at most PIPE_BUF bytes are atomic: they wait until the whole
  write fits (pipe(7)); longer writes may be split and interleave;
- a read returns what is there (at most the count) and blocks only on an
  empty pipe with a writer; with no writer left it returns 0 (EOF);
- writing with no reader left fails with EPIPE (the syscall layer raises
  SIGPIPE for write-family calls, fs/pipe.c pipe_write);
- O_NONBLOCK gives EAGAIN instead of blocking, or a partial count for a
  long write that made progress;
- a blocked read or write is interruptible (ERESTARTSYS; a write that made
  progress returns its count).

Blocking sleeps on the pipe's wait queue (``sentry.kernel.waiter``), which
every state change notifies; nothing polls.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from sentry.abi.errors import EAGAIN, EBADF, EBUSY, EINVAL, ENXIO, EPERM, EPIPE, ERESTARTSYS
from sentry.kernel.waiter import WaitQueue, wait_for
from sentry.vfs.context import current_task
from sentry.vfs.file import FileDescription
from sentry.vfs.flags import O_ACCMODE, O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY
from sentry.vfs.inode import (
    POLLERR,
    POLLHUP,
    POLLIN,
    POLLOUT,
    POLLRDNORM,
    POLLWRNORM,
    FileImpl,
    new_anon_dev,
)
from sentry.vfs.stat import S_IFIFO, Stat

#: include/uapi/linux/limits.h: writes up to this size are atomic.
PIPE_BUF = 4096
PAGE_SIZE = 4096
#: fs/pipe.c: PIPE_DEF_BUFFERS (16) pages.
DEFAULT_CAPACITY = 16 * PAGE_SIZE
#: fs/pipe.c pipe_max_size default (/proc/sys/fs/pipe-max-size).
MAX_CAPACITY = 1 << 20

_READABLE = POLLIN | POLLRDNORM
_WRITABLE = POLLOUT | POLLWRNORM

#: The anonymous file system pipe(2) inodes belong to (fs/pipe.c pipefs).
PIPEFS_DEV = new_anon_dev()
_pipe_ino = itertools.count(1)


class Pipe:
    """The shared buffer and the counts of open read and write ends."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.lock = threading.Lock()
        self.queue = WaitQueue()
        #: Runs of pages: [data, offset of data[0] in its page, pages].
        self.runs: deque[list[Any]] = deque()
        #: Pages in use.
        self.used = 0
        #: Bytes held (FIONREAD).
        self.size = 0
        #: Pages the pipe may fill (fs/pipe.c pipe->max_usage; F_SETPIPE_SZ).
        self.max_usage = capacity // PAGE_SIZE
        self.readers = 0
        self.writers = 0
        # How many read/write opens there ever were (fs/fifo.c r_counter,
        # w_counter): a FIFO open waits for the partner count to move.
        self.r_counter = 0
        self.w_counter = 0
        self.ino = next(_pipe_ino)
        #: Called when the last end closes (a FifoTable forgets the pipe).
        self.on_idle: Callable[[Pipe], None] | None = None

    # -- ends --------------------------------------------------------------------
    def open_end(self, flags: int) -> PipeImpl:
        """A new end for ``flags`` (O_RDONLY, O_WRONLY or O_RDWR), counted at once."""
        acc = flags & O_ACCMODE
        reads, writes = acc in (O_RDONLY, O_RDWR), acc in (O_WRONLY, O_RDWR)
        with self.lock:
            if reads:
                self.readers += 1
                self.r_counter += 1
            if writes:
                self.writers += 1
                self.w_counter += 1
        self.queue.notify(_READABLE | _WRITABLE)  # FIFO opens waiting for a partner
        return PipeImpl(self, reads=reads, writes=writes)

    def close_end(self, reads: bool, writes: bool) -> None:
        with self.lock:
            if reads:
                self.readers -= 1
            if writes:
                self.writers -= 1
            idle = self.readers == 0 and self.writers == 0
            if idle:
                # fs/pipe.c free_pipe_info: a FIFO nobody holds open loses its data.
                self.runs.clear()
                self.size = self.used = 0
        if idle and self.on_idle is not None:
            self.on_idle(self)
        # Readers see EOF or HUP, writers EPIPE or ERR.
        self.queue.notify(_READABLE | _WRITABLE | POLLHUP | POLLERR)

    # -- data --------------------------------------------------------------------
    # Linux keeps a ring of page buffers (struct pipe_buffer); the pipe is
    # full when ``max_usage`` pages are in use, a small write merges into
    # the last page only if it fits behind that page's data, and a write of
    # at most PIPE_BUF bytes is never split (fs/pipe.c pipe_write). To copy
    # less, consecutive pages written by one write are one "run" here:
    # [data, off, npages], where ``off`` is where data[0] sits in its page.
    # Every page of a run but the last is full, as in Linux, so counting
    # pages gives the same full/ready answers as Linux's ring. ``data`` is
    # the written bytes themselves (no copy), a memoryview of their unread
    # rest after a partial read, or a bytearray once small writes merge in.

    def _full(self) -> bool:
        return self.used >= self.max_usage

    def read(self, n: int, nonblock: bool, task: Any) -> bytes:
        """pipe_read: up to ``n`` bytes from as many buffers as hold them; b"" at EOF."""
        if n == 0:
            return b""
        # Data is usually there: take it before building the waiting machinery.
        got = self._take(n)
        if got is not None:
            return got
        queues = ((self.queue, _READABLE | POLLHUP),)
        return wait_for(lambda: self._take(n), queues, task, nonblock=nonblock) or b""

    def _take(self, n: int) -> bytes | None:
        """One try of ``read``: up to ``n`` bytes, b"" at EOF, None if it must wait."""
        with self.lock:
            runs = self.runs
            if not runs:
                return b"" if self.writers == 0 else None
            was_full = self.used >= self.max_usage
            first = runs[0]
            data = first[0]
            if len(data) <= n and len(runs) == 1:  # the common case: take it all
                runs.popleft()
                self.used -= first[2]
                self.size -= len(data)
                out: bytes | bytearray | memoryview = data
            else:
                buf = bytearray()
                while runs and len(buf) < n:
                    run = runs[0]
                    data = run[0]
                    take = n - len(buf)
                    if len(data) <= take:
                        buf += data
                        runs.popleft()
                        self.used -= run[2]
                    else:
                        buf += data[:take]
                        if isinstance(data, bytearray):
                            del data[:take]
                        else:  # bytes as written: keep a view of the rest
                            run[0] = memoryview(data)[take:]
                        # Pages read to their end are released.
                        released, run[1] = divmod(run[1] + take, PAGE_SIZE)
                        run[2] -= released
                        self.used -= released
                self.size -= len(buf)
                out = buf
        if was_full or not runs:
            self.queue.notify(_WRITABLE)
        return bytes(out)

    def write(self, data: bytes, nonblock: bool, task: Any) -> int:
        """pipe_write: all of ``data`` unless non-blocking, interrupted or
        the readers went away (then the count so far, or the error)."""
        total = len(data)
        if total == 0:
            return 0
        written = 0
        first = True

        def attempt() -> int | None:
            nonlocal written, first
            with self.lock:
                if self.readers == 0:
                    if written:
                        return written
                    raise EPIPE
                runs = self.runs
                before = written
                if first:
                    first = False
                    # Merge the sub-page remainder into the last page if it fits.
                    chars = total & (PAGE_SIZE - 1)
                    if chars and runs:
                        last = runs[-1]
                        end = last[1] + len(last[0]) - (last[2] - 1) * PAGE_SIZE
                        if end + chars <= PAGE_SIZE:
                            if not isinstance(last[0], bytearray):
                                # Grows in place from now on (small writes).
                                last[0] = bytearray(last[0])
                            last[0] += data[:chars]
                            written = chars
                free = self.max_usage - self.used
                if written < total and free > 0:
                    # Kept as the immutable bytes the syscall copied in (a
                    # whole write is that very object, not a copy); a
                    # reader taking it all returns it as is.
                    chunk = bytes(data[written : written + free * PAGE_SIZE])
                    pages = (len(chunk) + PAGE_SIZE - 1) // PAGE_SIZE
                    runs.append([chunk, 0, pages])
                    self.used += pages
                    written += len(chunk)
                self.size += written - before
            if written > before:
                self.queue.notify(_READABLE)
            return written if written == total else None

        try:
            result = wait_for(
                attempt, ((self.queue, _WRITABLE | POLLERR),), task, nonblock=nonblock
            )
        except (EAGAIN, ERESTARTSYS):
            if written:
                return written
            raise
        assert result is not None
        return result

    def readiness(self, mask: int, reads: bool, writes: bool, w_seen: int) -> int:
        """fs/pipe.c pipe_poll for an end that reads and/or writes."""
        ready = 0
        with self.lock:
            if reads:
                if self.runs:
                    ready |= _READABLE
                # A FIFO reader sees HUP only once a writer came and went.
                if self.writers == 0 and self.w_counter != w_seen:
                    ready |= POLLHUP
            if writes:
                if not self._full():
                    ready |= _WRITABLE
                if self.readers == 0:
                    ready |= POLLERR
        return ready & (mask | POLLERR | POLLHUP)

    # -- FIFO opens ------------------------------------------------------------------
    def open_fifo(self, flags: int) -> PipeImpl:
        """fs/fifo.c fifo_open: O_RDWR never blocks; a reader waits for a writer
        and a writer for a reader unless O_NONBLOCK (then a writer without a
        reader gets ENXIO)."""
        acc = flags & O_ACCMODE
        nonblock = bool(flags & O_NONBLOCK)
        if acc == O_WRONLY and nonblock:
            with self.lock:
                if self.readers == 0:
                    raise ENXIO
        end = self.open_end(flags)
        if acc == O_RDWR:
            return end
        if nonblock:
            with self.lock:
                if acc == O_RDONLY and self.writers == 0:
                    # fs/pipe.c fifo_open: suppress POLLHUP until a writer was seen.
                    end.w_seen = self.w_counter
            return end
        task = current_task()
        if acc == O_RDONLY:
            counter = self.w_counter if self.writers else self.w_counter + 1

            def partner() -> bool | None:
                return True if self.w_counter >= counter else None

        else:
            counter = self.r_counter if self.readers else self.r_counter + 1

            def partner() -> bool | None:
                return True if self.r_counter >= counter else None

        try:
            wait_for(partner, ((self.queue, _READABLE | _WRITABLE),), task)
        except BaseException:
            end.release()
            raise
        return end

    def stat(self) -> Stat:
        """fstat on a pipe(2) end (fs/pipe.c get_pipe_inode: S_IFIFO | 0600)."""
        return Stat(dev=PIPEFS_DEV, ino=self.ino, mode=S_IFIFO | 0o600, blksize=4096)


class PipeImpl(FileImpl):
    """One open end of a pipe (a description's view of it)."""

    seekable = False

    def __init__(self, pipe: Pipe, *, reads: bool, writes: bool) -> None:
        self.pipe = pipe
        self.reads = reads
        self.writes = writes
        #: fs/pipe.c f_version: the writer count a FIFO reader saw at open.
        self.w_seen = 0
        self._released = False

    def read_stream(self, length: int, flags: int) -> bytes:
        if not self.reads:
            raise EBADF
        return self.pipe.read(length, bool(flags & O_NONBLOCK), current_task())

    def write_stream(self, data: bytes, flags: int) -> int:
        if not self.writes:
            raise EBADF
        return self.pipe.write(data, bool(flags & O_NONBLOCK), current_task())

    def read(self, offset: int, length: int) -> bytes:
        return self.read_stream(length, 0)

    def write(self, offset: int, data: bytes) -> int:
        return self.write_stream(data, 0)

    def pipe_size(self) -> int:
        """F_GETPIPE_SZ: the capacity in bytes."""
        return self.pipe.max_usage * PAGE_SIZE

    def set_pipe_size(self, size: int, privileged: bool) -> int:
        """F_SETPIPE_SZ (fs/pipe.c pipe_set_size, round_pipe_size): a power
        of two of at least a page; EBUSY if the data would not fit, EPERM
        beyond pipe-max-size without CAP_SYS_RESOURCE. Returns the size."""
        if size > 1 << 31:
            raise EINVAL
        size = PAGE_SIZE if size < PAGE_SIZE else 1 << (size - 1).bit_length()
        if size > MAX_CAPACITY and not privileged:
            raise EPERM
        pipe = self.pipe
        with pipe.lock:
            if pipe.used > size // PAGE_SIZE:
                raise EBUSY
            pipe.max_usage = size // PAGE_SIZE
        pipe.queue.notify(_WRITABLE)
        return size

    def readable_now(self) -> int:
        """FIONREAD (fs/pipe.c pipe_ioctl)."""
        with self.pipe.lock:
            return self.pipe.size

    def readiness(self, mask: int) -> int:
        return self.pipe.readiness(mask, self.reads, self.writes, self.w_seen)

    @property
    def wait_queue(self) -> WaitQueue:
        """Where poll and select sleep for this end."""
        return self.pipe.queue

    def release(self) -> None:
        if not self._released:
            self._released = True
            self.pipe.close_end(self.reads, self.writes)


def new_pipe(flags: int) -> tuple[FileDescription, FileDescription]:
    """The read and write descriptions of a fresh pipe(2); ``flags`` may hold
    O_NONBLOCK (O_CLOEXEC is the FD table's business)."""
    pipe = Pipe()
    status = flags & O_NONBLOCK
    name = f"pipe:[{pipe.ino}]"
    read_end = FileDescription(
        pipe.open_end(O_RDONLY), O_RDONLY | status, name=name, stat=pipe.stat
    )
    write_end = FileDescription(
        pipe.open_end(O_WRONLY), O_WRONLY | status, name=name, stat=pipe.stat
    )
    return read_end, write_end


class FifoTable:
    """The pipes of FIFOs whose inode cannot hold one (host files reached
    through the gofer): keyed by the inode's identity, dropped when the last
    end closes (as Linux frees inode->i_pipe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pipes: dict[object, Pipe] = {}

    def open(self, key: object, flags: int) -> PipeImpl:
        """fifo_open on the pipe of ``key`` (made if nobody has it open)."""
        with self._lock:
            pipe = self._pipes.get(key)
            if pipe is None:
                pipe = Pipe()
                pipe.on_idle = lambda p, key=key: self._forget(key, p)
                self._pipes[key] = pipe
        return pipe.open_fifo(flags)

    def _forget(self, key: object, pipe: Pipe) -> None:
        with self._lock:
            if self._pipes.get(key) is pipe and pipe.readers == 0 and pipe.writers == 0:
                del self._pipes[key]

    def __len__(self) -> int:
        return len(self._pipes)
