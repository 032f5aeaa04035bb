"""Unit tests of the pipe buffer, wait queues, poll_files and eventfd,
driven by host threads (no sandboxed task): blocking, wake-ups,
interruption, PIPE_BUF atomicity and the error paths."""

from __future__ import annotations

import threading
import time

import pytest

from sentry.abi.errors import (
    EAGAIN,
    EBUSY,
    EINVAL,
    ENXIO,
    EPERM,
    EPIPE,
    ERESTARTNOHAND,
    ERESTARTSYS,
)
from sentry.kernel.eventfd import new_eventfd
from sentry.kernel.pipe import PIPE_BUF, FifoTable, Pipe, PipeImpl, new_pipe
from sentry.kernel.polling import poll_files
from sentry.kernel.waiter import WaitQueue, wait_for
from sentry.vfs.context import set_current_task
from sentry.vfs.flags import O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY
from sentry.vfs.inode import POLLERR, POLLHUP, POLLIN, POLLOUT


@pytest.fixture(autouse=True)
def no_current_task():
    """Descriptions block on the thread's current task: make sure an earlier
    test that ran a Task on this thread did not leave one behind."""
    set_current_task(None)
    yield
    set_current_task(None)


class FakeTask:
    """The part of Task that blocking uses: block/wake/interrupted."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.stop = False

    def interrupted(self) -> bool:
        return self.stop

    def block(self, timeout: float | None) -> bool:
        if self.stop:
            return True
        self._event.wait(timeout)
        self._event.clear()
        return self.stop

    def wake(self) -> None:
        self._event.set()

    def interrupt(self) -> None:
        self.stop = True
        self._event.set()


def later(delay: float, fn, *args) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        fn(*args)

    th = threading.Thread(target=run)
    th.start()
    return th


def ends(pipe: Pipe):
    return pipe.open_end(O_RDONLY), pipe.open_end(O_WRONLY)


def test_read_returns_what_is_there_and_eof_after_last_writer():
    pipe = Pipe()
    r, w = ends(pipe)
    assert pipe.write(b"hello", False, None) == 5
    assert pipe.read(3, False, None) == b"hel"
    assert r.readable_now() == 2
    assert pipe.read(100, False, None) == b"lo"
    w.release()
    assert pipe.read(100, False, None) == b""


def test_blocked_read_is_woken_by_a_writer_promptly():
    pipe = Pipe()
    ends(pipe)
    start = time.monotonic()
    th = later(0.05, pipe.write, b"x", False, None)
    assert pipe.read(10, False, FakeTask()) == b"x"
    th.join()
    # Woken by the notification, not by some polling period.
    assert time.monotonic() - start < 1.0


def test_blocked_read_interrupted_gives_erestartsys():
    pipe = Pipe()
    ends(pipe)
    task = FakeTask()
    th = later(0.05, task.interrupt)
    with pytest.raises(ERESTARTSYS):
        pipe.read(10, False, task)
    th.join()


def test_nonblocking_read_and_write():
    pipe = Pipe()
    ends(pipe)
    with pytest.raises(EAGAIN):
        pipe.read(1, True, None)
    big = b"a" * 200_000
    assert pipe.write(big, True, None) == 65536  # partial: the pipe holds 16 pages
    with pytest.raises(EAGAIN):
        pipe.write(b"b", True, None)


def test_small_write_is_atomic_and_never_split():
    pipe = Pipe()
    ends(pipe)
    pipe.write(b"a" * (65536 - 100), True, None)
    # 100 bytes free in the last page but PIPE_BUF does not fit: all or nothing.
    with pytest.raises(EAGAIN):
        pipe.write(b"b" * PIPE_BUF, True, None)
    assert pipe.size == 65536 - 100


def test_concurrent_writers_do_not_interleave_small_writes():
    pipe = Pipe()
    ends(pipe)
    chunks = {c: bytes([c]) * PIPE_BUF for c in b"abcd"}

    def writer(c: int) -> None:
        for _ in range(50):
            pipe.write(chunks[c], False, None)

    threads = [threading.Thread(target=writer, args=(c,)) for c in chunks]
    for th in threads:
        th.start()
    got = bytearray()
    while len(got) < 4 * 50 * PIPE_BUF:
        got += pipe.read(PIPE_BUF * 3, False, FakeTask())
    for th in threads:
        th.join()
    for i in range(0, len(got), PIPE_BUF):
        block = got[i : i + PIPE_BUF]
        assert block == bytes([block[0]]) * PIPE_BUF


def test_large_blocking_write_completes_with_a_reader():
    pipe = Pipe()
    ends(pipe)
    data = bytes(range(256)) * 4000  # ~1 MB
    result: list[int] = []
    th = threading.Thread(target=lambda: result.append(pipe.write(data, False, FakeTask())))
    th.start()
    got = bytearray()
    while len(got) < len(data):
        got += pipe.read(1 << 20, False, FakeTask())
    th.join()
    assert result == [len(data)] and bytes(got) == data


def test_write_without_reader_is_epipe_and_partial_write_keeps_its_count():
    pipe = Pipe()
    r, _ = ends(pipe)
    r.release()
    with pytest.raises(EPIPE):
        pipe.write(b"x", False, None)
    pipe2 = Pipe()
    r2, _ = ends(pipe2)
    th = later(0.05, r2.release)
    # 100 KB: 64 KB go in, then the reader leaves: the count so far.
    assert pipe2.write(b"z" * 100_000, False, FakeTask()) == 65536
    th.join()


def test_interrupted_write_returns_partial_count():
    pipe = Pipe()
    ends(pipe)
    task = FakeTask()
    th = later(0.05, task.interrupt)
    assert pipe.write(b"z" * 100_000, False, task) == 65536
    th.join()
    task2 = FakeTask()
    th = later(0.05, task2.interrupt)
    with pytest.raises(ERESTARTSYS):
        pipe.write(b"y", False, task2)
    th.join()


def test_readiness_of_each_end():
    pipe = Pipe()
    r, w = ends(pipe)
    assert r.readiness(POLLIN) == 0
    assert w.readiness(POLLOUT) == POLLOUT
    pipe.write(b"x", False, None)
    assert r.readiness(POLLIN) == POLLIN
    w.release()
    assert r.readiness(POLLIN) & POLLHUP
    pipe3 = Pipe()
    r3, w3 = ends(pipe3)
    r3.release()
    assert w3.readiness(POLLOUT) & POLLERR


def test_poll_files_wakes_on_write_and_times_out():
    read_end, write_end = new_pipe(0)
    task = FakeTask()
    start = time.monotonic()
    assert poll_files(task, [(read_end, POLLIN)], start + 0.05, ERESTARTNOHAND) == [0]
    assert time.monotonic() - start >= 0.05
    th = later(0.05, write_end.write, b"x")
    assert poll_files(task, [(read_end, POLLIN)], None, ERESTARTNOHAND) == [POLLIN]
    th.join()
    assert poll_files(task, [(None, POLLIN)], None, ERESTARTNOHAND)[0] != 0  # POLLNVAL


def test_poll_files_interrupted():
    read_end, _ = new_pipe(0)
    task = FakeTask()
    th = later(0.05, task.interrupt)
    with pytest.raises(ERESTARTNOHAND):
        poll_files(task, [(read_end, POLLIN)], None, ERESTARTNOHAND)
    th.join()


def test_pipe_descriptions_honour_o_nonblock():
    read_end, write_end = new_pipe(O_NONBLOCK)
    with pytest.raises(EAGAIN):
        read_end.read(1)
    assert write_end.write(b"abc") == 3
    assert read_end.read(10) == b"abc"
    assert read_end.stat().type == 0o010000


def test_fifo_open_rules_and_table_forgets_idle_pipes():
    table = FifoTable()
    with pytest.raises(ENXIO):
        table.open("k", O_WRONLY | O_NONBLOCK)
    reader = table.open("k", O_RDONLY | O_NONBLOCK)
    writer = table.open("k", O_WRONLY | O_NONBLOCK)
    assert len(table) == 1
    rw = table.open("k", O_RDWR)
    for end in (reader, writer, rw):
        end.release()
    assert len(table) == 0


def test_blocking_fifo_reader_open_waits_for_a_writer():
    table = FifoTable()
    opened: list[object] = []
    th = threading.Thread(target=lambda: opened.append(table.open("f", O_RDONLY)))
    th.start()
    time.sleep(0.05)
    assert not opened  # still waiting for a writer
    writer = table.open("f", O_WRONLY)
    th.join(5)
    assert opened and writer is not None


def test_wait_for_deadline_and_queue_remove():
    q = WaitQueue()
    assert wait_for(lambda: None, [(q, POLLIN)], None, deadline=time.monotonic() + 0.02) is None
    assert len(q) == 0  # entries removed on the way out


def test_eventfd_counter_semaphore_and_errors():
    efd = new_eventfd(3, O_NONBLOCK)
    assert int.from_bytes(efd.read(8), "little") == 3
    with pytest.raises(EAGAIN):
        efd.read(8)
    with pytest.raises(EINVAL):
        efd.read(4)
    with pytest.raises(EINVAL):
        efd.write((2**64 - 1).to_bytes(8, "little"))
    efd.write((2**64 - 2).to_bytes(8, "little"))
    with pytest.raises(EAGAIN):
        efd.write((1).to_bytes(8, "little"))
    sem = new_eventfd(2, 1)  # EFD_SEMAPHORE
    assert [int.from_bytes(sem.read(8), "little") for _ in range(2)] == [1, 1]
    th = later(0.05, sem.write, (5).to_bytes(8, "little"))
    assert int.from_bytes(sem.read(8), "little") == 1  # blocked, then woken
    th.join()


def test_set_pipe_size_rounds_refuses_and_grows():
    _, write_end = new_pipe(O_NONBLOCK)
    impl = write_end.impl
    assert isinstance(impl, PipeImpl)
    assert impl.set_pipe_size(5000, False) == 8192
    assert impl.set_pipe_size(0, False) == 4096
    with pytest.raises(EPERM):
        impl.set_pipe_size((1 << 20) + 1, False)
    assert impl.set_pipe_size((1 << 20) + 1, True) == 1 << 21
    impl.set_pipe_size(8192, False)
    write_end.write(b"x" * 8192)
    with pytest.raises(EBUSY):
        impl.set_pipe_size(4096, False)
    with pytest.raises(EINVAL):
        impl.set_pipe_size((1 << 31) + 1, True)


def test_poll_files_on_a_host_fd_together_with_a_sentry_pipe():
    import os

    from sentry.fsimpl.host import HostFile

    hr, hw = os.pipe()
    host_read = HostFile(hr)
    read_end, write_end = new_pipe(0)
    task = FakeTask()
    try:
        th = later(0.05, os.write, hw, b"h")
        files = [(host_read, POLLIN), (read_end, POLLIN)]
        assert poll_files(task, files, None, ERESTARTNOHAND) == [POLLIN, 0]
        th.join()
        os.read(hr, 1)
        # The Sentry pipe wakes the host-FD wait through its eventfd.
        th = later(0.05, write_end.write, b"s")
        assert poll_files(task, files, None, ERESTARTNOHAND) == [0, POLLIN]
        th.join()
        read_end.read(1)
        th = later(0.05, task.interrupt)
        with pytest.raises(ERESTARTNOHAND):
            poll_files(task, files, None, ERESTARTNOHAND)
        th.join()
    finally:
        host_read.impl.release()
        os.close(hw)


def test_partial_reads_of_a_big_write_and_merged_small_writes() -> None:
    p = Pipe()
    p.open_end(O_RDWR)
    big = bytes(range(256)) * 64  # 16 KiB: kept as written, read in pieces
    assert p.write(big, False, None) == len(big)
    assert p.read(1000, False, None) == big[:1000]
    assert p.read(5000, False, None) == big[1000:6000]
    assert p.write(b"tail", False, None) == 4  # merges behind the last page's data
    assert p.write(b"!", False, None) == 1
    assert p.read(1 << 20, False, None) == big[6000:] + b"tail!"
    assert p.size == 0 and p.used == 0


def test_reads_and_writes_of_every_shape_keep_one_byte_stream() -> None:
    """Whole writes, partial reads (a view of the rest kept), small writes
    merged into the last page, a read taking a lone buffer whole, and a
    write larger than the pipe: one byte stream, consistent counts, the
    writer woken."""
    pipe = Pipe()
    pipe.readers = pipe.writers = 1
    woken: list[int] = []
    pipe.queue.add(lambda: woken.append(1), POLLOUT)
    assert pipe.write(b"0123456789", True, None) == 10
    assert (pipe.size, pipe.used) == (10, 1)
    assert pipe.read(4, True, None) == b"0123"  # partial
    assert pipe.write(b"abc", True, None) == 3  # merges into the page
    assert (pipe.size, pipe.used) == (9, 1)
    assert pipe.read(100, True, None) == b"456789abc"  # one buffer, whole
    assert (pipe.size, pipe.used) == (0, 0) and woken
    big = bytes(range(256)) * 300  # 76,800 bytes: more than the 64 KiB capacity
    assert pipe.write(big, True, None) == 65536  # only what fits
    assert pipe.read(1 << 20, True, None) == big[:65536]
    with pytest.raises(EAGAIN):
        pipe.read(10, True, None)
    pipe.readers = 0
    with pytest.raises(EPIPE):
        pipe.write(b"x", True, None)  # no reader
