"""devpts ends, ioctls, blocking and job control with fake tasks."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from sentry.abi.errors import EAGAIN, EINVAL, EIO, ENOENT, ENOTTY, EPERM, ERESTARTSYS, ESRCH
from sentry.fsimpl.devpts import DevptsFilesystem
from sentry.fsimpl.devpts import termios as tio_abi
from sentry.fsimpl.devpts.fs import O_NOCTTY, MasterFile, ReplicaFile
from sentry.kernel.sessions import SIGTTIN, SIGTTOU, SIGWINCH, controlling_tty, sessions
from sentry.kernel.signals import SIG_IGN, SigAction
from sentry.vfs.context import set_current_task
from sentry.vfs.flags import O_NONBLOCK
from tests.fsimpl.devpts.fakes import FakeCreds, FakeIO, FakeKernel, FakeTask


@pytest.fixture(autouse=True)
def _no_task() -> Iterator[None]:
    yield
    set_current_task(None)


def _open_pair(fs: DevptsFilesystem, flags: int = O_NOCTTY) -> tuple[MasterFile, ReplicaFile]:
    master = fs.ptmx.open(0o2, FakeCreds())
    assert isinstance(master, MasterFile)
    io = FakeIO()
    master.ioctl(tio_abi.TIOCGPTN, 0, io)
    index = io.u32(0)
    io.put_u32(8, 0)
    master.ioctl(tio_abi.TIOCSPTLCK, 8, io)  # unlockpt
    replica = fs.root().lookup(str(index).encode()).open(0o2 | flags, FakeCreds())
    assert isinstance(replica, ReplicaFile)
    return master, replica


def test_ptmx_allocates_the_lowest_free_index_and_lists_it() -> None:
    fs = DevptsFilesystem()
    m0 = fs.ptmx.open(2, FakeCreds())
    m1 = fs.ptmx.open(2, FakeCreds())
    assert isinstance(m0, MasterFile) and isinstance(m1, MasterFile)
    assert (m0.term.index, m1.term.index) == (0, 1)
    assert [d.name for d in fs.root().readdir()] == [b"ptmx", b"0", b"1"]
    m0.release()
    assert [d.name for d in fs.root().readdir()] == [b"ptmx", b"1"]
    with pytest.raises(ENOENT):
        fs.root().lookup(b"0")
    m2 = fs.ptmx.open(2, FakeCreds())
    assert isinstance(m2, MasterFile) and m2.term.index == 0
    st = fs.root().lookup(b"1").stat()
    assert st.rdev >> 8 == 136 and st.uid == 1000


def test_replica_is_locked_until_unlockpt() -> None:
    fs = DevptsFilesystem()
    master = fs.ptmx.open(2, FakeCreds())
    with pytest.raises(EIO):
        fs.root().lookup(b"0").open(2, FakeCreds())
    io = FakeIO()
    master.ioctl(tio_abi.TIOCGPTLCK, 0, io)
    assert io.u32(0) == 1


def test_typing_and_printing_through_the_pair() -> None:
    fs = DevptsFilesystem()
    master, replica = _open_pair(fs)
    master.write(0, b"echo hi\r")
    assert replica.read(0, 100) == b"echo hi\n"
    assert master.read(0, 100) == b"echo hi\r\n"  # the echo
    replica.write(0, b"hi\n")
    assert master.read(0, 100) == b"hi\r\n"


def test_nonblocking_reads_say_eagain() -> None:
    fs = DevptsFilesystem()
    master, replica = _open_pair(fs)
    with pytest.raises(EAGAIN):
        replica.read_stream(10, O_NONBLOCK)
    with pytest.raises(EAGAIN):
        master.read_stream(10, O_NONBLOCK)


def test_a_blocked_read_wakes_on_input_and_gives_up_when_interrupted() -> None:
    fs = DevptsFilesystem()
    master, replica = _open_pair(fs)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(replica.read(0, 100)))
    reader.start()
    master.write(0, b"x\n")
    reader.join(5)
    assert got == [b"x\n"]
    k = FakeKernel()
    t = k.spawn(1)
    t.is_interrupted = True
    set_current_task(t)
    with pytest.raises(ERESTARTSYS):
        replica.read(0, 100)


def test_master_close_hangs_up_the_replica_and_replica_close_gives_master_eio() -> None:
    fs = DevptsFilesystem()
    master, replica = _open_pair(fs)
    replica.release()
    with pytest.raises(EIO):
        master.read(0, 10)
    master2, replica2 = _open_pair(fs)
    master2.release()
    assert replica2.read(0, 10) == b""
    with pytest.raises(EIO):
        replica2.write(0, b"x")


def test_termios_and_window_size_ioctls() -> None:
    fs = DevptsFilesystem()
    master, replica = _open_pair(fs)
    io = FakeIO()
    replica.ioctl(tio_abi.TCGETS, 0, io)
    tio = tio_abi.Termios.unpack(io.copy_in(0, tio_abi.TERMIOS_SIZE))
    assert tio.lflag & tio_abi.ICANON and tio.lflag & tio_abi.ECHO
    tio.lflag &= ~tio_abi.ECHO
    io.copy_out(100, tio.pack())
    replica.ioctl(tio_abi.TCSETS, 100, io)
    master.write(0, b"secret\n")
    assert replica.read(0, 100) == b"secret\n"
    with pytest.raises(EAGAIN):
        master.read_stream(10, O_NONBLOCK)
    io.copy_out(200, tio_abi.WinSize(24, 80).pack())
    master.ioctl(tio_abi.TIOCSWINSZ, 200, io)
    replica.ioctl(tio_abi.TIOCGWINSZ, 300, io)
    assert tio_abi.WinSize.unpack(io.copy_in(300, 8)) == tio_abi.WinSize(24, 80)
    with pytest.raises(EINVAL):
        replica.ioctl(tio_abi.TCFLSH, 7, io)
    with pytest.raises(ENOTTY):
        replica.ioctl(tio_abi.TIOCGPTN, 0, io)  # a master-only request
    with pytest.raises(ENOTTY):
        replica.ioctl(0x1234, 0, io)


def _session() -> tuple[FakeKernel, FakeTask, FakeTask, MasterFile, ReplicaFile, FakeIO]:
    """A shell (1, leader of session 1) and a job (2, group 2) on pts/0."""
    k = FakeKernel()
    shell = k.spawn(1)
    job = k.spawn(2, parent=shell, pgid=2)
    fs = DevptsFilesystem()
    set_current_task(shell)
    master, replica = _open_pair(fs, flags=0)  # without O_NOCTTY: acquires it
    return k, shell, job, master, replica, FakeIO()


def test_open_without_noctty_makes_it_the_session_leaders_terminal() -> None:
    _k, shell, _job, _m, replica, io = _session()
    assert controlling_tty(shell) is replica.term.job
    replica.ioctl(tio_abi.TIOCGSID, 0, io)
    assert io.u32(0) == 1
    replica.ioctl(tio_abi.TIOCGPGRP, 0, io)
    assert io.u32(0) == 1


def test_tiocspgrp_rules_and_isig_to_the_foreground_group() -> None:
    k, shell, _job, master, replica, io = _session()
    io.put_u32(0, 2)
    replica.ioctl(tio_abi.TIOCSPGRP, 0, io)
    # The shell, now in the background, blocks SIGTTOU as shells do around tcsetpgrp.
    shell.signal_mask |= 1 << (SIGTTOU - 1)
    master.write(0, b"\x03")
    assert k.sent == [(2, 2)]  # SIGINT to the job, not the shell
    master.write(0, b"\x1a")
    assert k.sent[-1] == (2, 20)
    io.put_u32(0, 99)
    with pytest.raises(ESRCH):
        replica.ioctl(tio_abi.TIOCSPGRP, 0, io)
    k.spawn(7, sid=7)
    io.put_u32(0, 7)
    with pytest.raises(EPERM):
        replica.ioctl(tio_abi.TIOCSPGRP, 0, io)  # a group of another session
    io.put_u32(0, -1)
    with pytest.raises(EINVAL):
        replica.ioctl(tio_abi.TIOCSPGRP, 0, io)
    io.copy_out(100, tio_abi.WinSize(50, 132).pack())
    replica.ioctl(tio_abi.TIOCSWINSZ, 100, io)
    assert k.sent[-1] == (2, SIGWINCH)


def test_background_read_gets_sigttin_or_eio() -> None:
    k, _shell, job, _master, replica, _io = _session()
    set_current_task(job)  # group 2 while group 1 is in the foreground
    with pytest.raises(ERESTARTSYS):
        replica.read(0, 10)
    assert k.sent == [(2, SIGTTIN)]
    job.sighand.set(SIGTTIN, SigAction(handler=SIG_IGN))
    with pytest.raises(EIO):
        replica.read(0, 10)


def test_background_write_is_allowed_unless_tostop() -> None:
    k, _shell, job, _master, replica, _io = _session()
    set_current_task(job)
    assert replica.write(0, b"bg\n") == 3
    replica.term.ldisc.termios.lflag |= tio_abi.TOSTOP
    with pytest.raises(ERESTARTSYS):
        replica.write(0, b"bg\n")
    assert k.sent == [(2, SIGTTOU)]
    job.signal_mask |= 1 << (SIGTTOU - 1)  # blocked: the write goes through
    assert replica.write(0, b"x") == 1


def test_orphaned_background_group_gets_eio_not_a_stop() -> None:
    k, _shell, job, _master, replica, _io = _session()
    job.parent = None  # reparented out of the session: the group is orphaned
    set_current_task(job)
    with pytest.raises(EIO):
        replica.read(0, 10)
    assert k.sent == []


def test_background_tcsetpgrp_sends_sigttou() -> None:
    k, _shell, job, _master, replica, io = _session()
    set_current_task(job)
    io.put_u32(0, 2)
    with pytest.raises(ERESTARTSYS):
        replica.ioctl(tio_abi.TIOCSPGRP, 0, io)
    assert k.sent == [(2, SIGTTOU)]
    job.parent = None  # orphaned: ENOTTY, not EIO (tiocspgrp)
    with pytest.raises(ENOTTY):
        replica.ioctl(tio_abi.TIOCSPGRP, 0, io)


def test_tiocsctty_rules() -> None:
    k, shell, job, _master, replica, io = _session()
    other = k.spawn(5, sid=5)
    set_current_task(job)
    with pytest.raises(EPERM):  # not a session leader
        replica.ioctl(tio_abi.TIOCSCTTY, 0, io)
    set_current_task(other)
    with pytest.raises(EPERM):  # the terminal is session 1's
        replica.ioctl(tio_abi.TIOCSCTTY, 0, io)
    with pytest.raises(ENOTTY):  # not its terminal
        replica.ioctl(tio_abi.TIOCGPGRP, 0, io)
    other.creds = FakeCreds(admin=True)
    replica.ioctl(tio_abi.TIOCSCTTY, 1, io)  # stolen with CAP_SYS_ADMIN
    assert controlling_tty(other) is replica.term.job
    assert controlling_tty(shell) is None


def test_tiocnotty_by_the_leader_hangs_up_the_foreground_group() -> None:
    k, _shell, _job, _master, replica, io = _session()
    replica.ioctl(tio_abi.TIOCNOTTY, 0, io)
    assert k.sent == [(1, 1), (1, 18)]  # SIGHUP then SIGCONT
    assert 1 not in sessions(k).ctty
    with pytest.raises(ENOTTY):
        replica.ioctl(tio_abi.TIOCNOTTY, 0, io)


def test_session_leader_exit_hangs_up_with_sighup_only() -> None:
    from sentry.kernel.sessions import session_leader_exited

    k, shell, job, _master, replica, io = _session()
    io.put_u32(0, 2)
    replica.ioctl(tio_abi.TIOCSPGRP, 0, io)
    session_leader_exited(job)  # not a leader: nothing
    assert k.sent == []
    session_leader_exited(shell)
    assert k.sent == [(2, 1)]  # SIGHUP to the foreground job, no SIGCONT on exit
    assert controlling_tty(shell) is None
