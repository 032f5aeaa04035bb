"""HostConsole: a devpts Terminal whose master is a real host pty.

The host pty is made with os.openpty(); the test holds its master (as the
shim or a console socket's owner would) and reads the sandbox side through
a ReplicaFile of the Terminal. Every wait is on data arriving (select) or
on the console's own drain/close.
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import termios
from collections.abc import Iterator

import pytest

from sentry.fsimpl.devpts.console import HostConsole
from sentry.fsimpl.devpts.fs import DevptsFilesystem, ReplicaFile
from sentry.fsimpl.devpts.termios import WinSize
from sentry.vfs.flags import O_RDWR
from tests.fsimpl.devpts.fakes import FakeKernel

SIGHUP, SIGINT, SIGWINCH = 1, 2, 28


def _read_until(fd: int, marker: bytes, timeout: float = 10.0) -> bytes:
    seen = b""
    while marker not in seen:
        ready, _, _ = select.select([fd], [], [], timeout)
        assert ready, f"timed out waiting for {marker!r}; got {seen!r}"
        seen += os.read(fd, 4096)
    return seen


class _Setup:
    def __init__(self) -> None:
        self.master, replica = os.openpty()
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.devpts = DevptsFilesystem()
        self.term = self.devpts.allocate()
        self.console = HostConsole(replica, self.term, self.devpts)
        self.kernel = FakeKernel()
        leader = self.kernel.spawn(7)
        self.term.job.attach(self.kernel, leader.sid, leader.pgid)
        self.console.start()
        self.replica = ReplicaFile(self.term, O_RDWR)


@pytest.fixture
def setup() -> Iterator[_Setup]:
    s = _Setup()
    yield s
    s.replica.release()
    s.console.close()
    os.close(s.master)


def test_host_pty_is_raw_and_the_sandbox_line_discipline_does_the_work(setup: _Setup) -> None:
    attrs = termios.tcgetattr(setup.master)
    assert not attrs[1] & termios.OPOST
    assert not attrs[3] & (termios.ICANON | termios.ECHO | termios.ISIG)
    assert setup.term.winsize == WinSize(24, 80)  # the host pty's size to begin with
    os.write(setup.master, b"hi\r")
    # ICRNL and canonical mode of the Sentry's ldisc; echo comes back with ONLCR.
    assert setup.replica.read_stream(100, 0) == b"hi\n"
    assert _read_until(setup.master, b"hi\r\n") == b"hi\r\n"
    setup.replica.write_stream(b"out\n", 0)
    assert _read_until(setup.master, b"out\r\n") == b"out\r\n"


def test_ctrl_c_is_a_signal_for_the_sandbox_foreground_group(setup: _Setup) -> None:
    os.write(setup.master, b"\x03")
    assert _read_until(setup.master, b"^C") == b"^C"  # ECHOCTL
    assert setup.kernel.sent == [(7, SIGINT)]


def test_resizes_from_the_control_api_and_from_the_host(setup: _Setup) -> None:
    assert setup.console.resize(50, 132)
    assert setup.term.winsize == WinSize(50, 132)
    raw = fcntl.ioctl(setup.master, termios.TIOCGWINSZ, bytes(8))
    assert struct.unpack("HHHH", raw)[:2] == (50, 132)  # both ends agree
    assert not setup.console.resize(50, 132)  # same size: no SIGWINCH
    assert not setup.console.host_resized()  # the host pty did not change since
    fcntl.ioctl(setup.master, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 90, 0, 0))
    assert setup.console.host_resized()
    assert setup.term.winsize == WinSize(30, 90)
    assert setup.kernel.sent == [(7, SIGWINCH), (7, SIGWINCH)]


def test_the_host_master_closing_hangs_up_the_sandbox_terminal() -> None:
    s = _Setup()
    try:
        os.close(s.master)
        # The sandbox side reads end of file once the hang-up is through.
        assert s.replica.read_stream(100, 0) == b""
        assert (7, SIGHUP) in s.kernel.sent
        assert s.term.hung_up
    finally:
        s.replica.release()


def test_last_sandbox_close_writes_out_and_closes_the_host_side() -> None:
    s = _Setup()
    try:
        s.replica.write_stream(b"bye\n", 0)
        assert s.console.drain(10.0)
        s.replica.release()
        seen = b""
        while True:
            ready, _, _ = select.select([s.master], [], [], 10.0)
            assert ready, seen
            try:
                chunk = os.read(s.master, 4096)
            except OSError:  # EIO: the console closed its replica
                break
            seen += chunk
        assert seen == b"bye\r\n"
        assert s.term.index not in s.devpts.terminals  # the pts index is free again
    finally:
        s.console.close()
        os.close(s.master)
