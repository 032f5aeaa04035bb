"""Unix sockets in process, without tasks (non-blocking paths, readiness,
wake-ups, descriptor lifetimes). Blocking and signals are covered by the
differential programs under integration/syscalls."""

from __future__ import annotations

import pytest

from sentry.abi.errors import EAGAIN, ECONNRESET, ENOTCONN, EPIPE
from sentry.abi.socket import MSG_PEEK, MSG_TRUNC, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_STREAM
from sentry.socket.socket import Control
from sentry.socket.unix.endpoint import UnixSocket, socketpair
from sentry.vfs.file import FileDescription
from sentry.vfs.flags import O_RDONLY
from sentry.vfs.inode import POLLHUP, POLLIN, POLLOUT, FileImpl


class _Kernel:
    """Stands for the kernel a Unix namespace belongs to."""


class _Tracked(FileImpl):
    def __init__(self) -> None:
        self.released = False

    def release(self) -> None:
        self.released = True


def _send(sock: UnixSocket, data: bytes, control: Control | None = None) -> int:
    return sock.sendmsg(None, data, 0, None, control or Control(), True)


def test_stream_pair_moves_bytes_and_reports_readiness() -> None:
    a, b = socketpair(_Kernel(), SOCK_STREAM, None)
    assert b.readiness(POLLIN | POLLOUT) == POLLOUT
    assert _send(a, b"hello") == 5
    assert b.readiness(POLLIN) == POLLIN
    assert b.readable_now() == 5
    assert b.recvmsg(None, 3, MSG_PEEK, True).data == b"hel"
    assert b.recvmsg(None, 10, 0, True).data == b"hello"
    with pytest.raises(EAGAIN):
        b.recvmsg(None, 10, 0, True)


def test_writes_wake_the_readers_queue() -> None:
    a, b = socketpair(_Kernel(), SOCK_STREAM, None)
    woken = []
    b.wait_queue.add(lambda: woken.append(True), POLLIN)
    _send(a, b"x")
    assert woken == [True]


def test_a_full_buffer_refuses_non_blocking_writers() -> None:
    a, b = socketpair(_Kernel(), SOCK_STREAM, None)
    total = 0
    with pytest.raises(EAGAIN):
        while True:
            total += _send(a, b"z" * 65536)
    assert total >= a.sndbuf
    assert not a.readiness(POLLOUT) & POLLOUT
    while b.readable_now():
        b.recvmsg(None, 1 << 20, 0, True)
    assert a.readiness(POLLOUT) & POLLOUT


def test_close_with_unread_data_resets_the_peer_then_eof() -> None:
    a, b = socketpair(_Kernel(), SOCK_STREAM, None)
    _send(a, b"unread by b")
    _send(b, b"unread by a")
    a.release()
    assert b.recvmsg(None, 100, 0, True).data == b"unread by b"
    with pytest.raises(ECONNRESET):
        b.recvmsg(None, 100, 0, True)
    assert b.recvmsg(None, 100, 0, True).data == b""
    assert b.readiness(POLLIN) & POLLHUP
    with pytest.raises(EPIPE):
        _send(b, b"x")


def test_passed_descriptions_are_released_when_the_message_is_dropped() -> None:
    a, b = socketpair(_Kernel(), SOCK_STREAM, None)
    impl = _Tracked()
    desc = FileDescription(impl, O_RDONLY)
    desc.inc_ref()  # the sender's FD
    desc.inc_ref()  # the reference the message holds
    _send(a, b"fd", Control([desc]))
    desc.dec_ref()  # the sender closes its FD
    assert not impl.released
    b.release()  # never read: the queued message goes with the socket
    assert impl.released


def test_received_rights_come_with_the_data_that_carried_them() -> None:
    a, b = socketpair(_Kernel(), SOCK_STREAM, None)
    desc = FileDescription(_Tracked(), O_RDONLY)
    desc.inc_ref()
    _send(a, b"aa")
    _send(a, b"bb", Control([desc]))
    _send(a, b"cc")
    got = b.recvmsg(None, 100, 0, True)
    assert got.data == b"aabb"
    assert got.control is not None and got.control.rights == [desc]
    assert b.recvmsg(None, 100, 0, True).data == b"cc"


def test_datagrams_keep_boundaries_and_report_truncation() -> None:
    a, b = socketpair(_Kernel(), SOCK_DGRAM, None)
    _send(a, b"first message")
    _send(a, b"2nd")
    got = b.recvmsg(None, 5, MSG_TRUNC, True)
    assert (got.data, got.length, bool(got.flags & MSG_TRUNC)) == (b"first", 13, True)
    assert b.recvmsg(None, 100, 0, True).data == b"2nd"


def test_seqpacket_needs_a_connection() -> None:
    lone = UnixSocket(_Kernel(), SOCK_SEQPACKET)
    with pytest.raises(ENOTCONN):
        _send(lone, b"x")
    with pytest.raises(ENOTCONN):
        lone.recvmsg(None, 1, 0, True)
