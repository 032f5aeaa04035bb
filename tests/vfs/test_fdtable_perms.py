"""FD table allocation and inheritance; DAC permission rules."""

from __future__ import annotations

import pytest

from sentry.abi.errors import EACCES, EBADF, EMFILE, EPERM
from sentry.vfs import FDTable, FileDescription, FileImpl
from sentry.vfs.creds import (
    CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH,
    MAY_EXEC,
    MAY_READ,
    MAY_WRITE,
    may_access,
)
from sentry.vfs.flags import O_CREAT, O_RDONLY, O_RDWR, O_WRONLY
from tests.vfs.fakes import FakeCreds


class CountingImpl(FileImpl):
    released = 0

    def release(self) -> None:
        self.released += 1


def desc() -> FileDescription:
    return FileDescription(CountingImpl(), O_RDONLY)


def test_lowest_free_and_limit():
    t = FDTable()
    d = desc()
    assert [t.install(d) for _ in range(3)] == [0, 1, 2]
    t.close(1)
    assert t.install(d) == 1
    assert t.install(d, min_fd=10) == 10
    with pytest.raises(EMFILE):
        t.install(d, limit=3)
    with pytest.raises(EBADF):
        t.close(7)
    with pytest.raises(EBADF):
        t.get(7)


def test_refcount_release_on_last_close():
    t = FDTable()
    d = desc()
    a = t.install(d)
    b = t.install(d)
    t.close(a)
    assert d.impl.released == 0  # type: ignore[attr-defined]
    t.close(b)
    assert d.impl.released == 1  # type: ignore[attr-defined]


def test_fork_and_close_on_exec():
    t = FDTable()
    d = desc()
    t.install(d)
    t.install(d, cloexec=True)
    child = t.fork()
    child.close_on_exec()
    assert child.fds() == [0]
    assert t.fds() == [0, 1]
    t.install_at(0, desc())  # replaces fd 0 in the parent only
    assert child.get(0) is d
    t.close_range(0, 10)
    assert t.fds() == []
    child.close_all()
    assert d.impl.released == 1  # type: ignore[attr-defined]


def test_dac_owner_group_other_no_fallthrough():
    owner = FakeCreds(uid=1, gid=1)
    member = FakeCreds(uid=2, gid=9, groups=(5,))
    other = FakeCreds(uid=3, gid=3)
    mode = 0o0460  # owner r, group rw, other none
    assert may_access(owner, mode, 1, 5, MAY_READ)
    assert not may_access(owner, mode, 1, 5, MAY_WRITE)  # owner class wins even if group allows
    assert may_access(member, mode, 1, 5, MAY_READ | MAY_WRITE)  # supplementary group
    assert not may_access(other, mode, 1, 5, MAY_READ)


def test_capabilities_override():
    root = FakeCreds(uid=0, gid=0, caps=frozenset({CAP_DAC_OVERRIDE}))
    assert may_access(root, 0o000, 1, 1, MAY_READ | MAY_WRITE)
    assert not may_access(root, 0o644, 1, 1, MAY_EXEC)  # no x bit anywhere
    assert may_access(root, 0o100, 1, 1, MAY_EXEC)
    reader = FakeCreds(uid=5, caps=frozenset({CAP_DAC_READ_SEARCH}))
    assert may_access(reader, 0o000, 1, 1, MAY_READ)
    assert not may_access(reader, 0o000, 1, 1, MAY_WRITE)
    assert may_access(reader, 0o040000, 1, 1, MAY_EXEC)  # search a directory


def test_open_and_namespace_permissions(vfs, fs, root_creds, user_creds):
    f = vfs.open_path(fs, b"/secret", O_CREAT | O_WRONLY, 0o600, root_creds)
    with pytest.raises(EACCES):
        vfs.open_path(fs, b"/secret", O_RDONLY, 0, user_creds)
    with pytest.raises(EACCES):
        vfs.open_path(fs, b"/new", O_CREAT | O_RDWR, 0o644, user_creds)  # / is 0755 root
    with pytest.raises(EACCES):
        vfs.unlink(fs, None, b"/secret", user_creds)
    with pytest.raises(EPERM):
        vfs.chmod(vfs.resolve(fs, b"/secret", user_creds), 0o777, user_creds)
    with pytest.raises(EPERM):
        vfs.chown(vfs.resolve(fs, b"/secret", user_creds), 1000, -1, user_creds)
    with pytest.raises(EACCES):
        vfs.check_exec(user_creds, vfs.resolve(fs, b"/secret", user_creds))
    assert f is not None


def test_sticky_directory(vfs, fs, root_creds, user_creds):
    vfs.mkdir(fs, None, b"/tmp", 0o777, root_creds)
    vfs.chmod(vfs.resolve(fs, b"/tmp", root_creds), 0o1777, root_creds)
    vfs.open_path(fs, b"/tmp/roots", O_CREAT | O_WRONLY, 0o666, root_creds)
    vfs.open_path(fs, b"/tmp/mine", O_CREAT | O_WRONLY, 0o666, user_creds)
    with pytest.raises(EPERM):
        vfs.unlink(fs, None, b"/tmp/roots", user_creds)
    vfs.unlink(fs, None, b"/tmp/mine", user_creds)


def test_close_during_an_operation_defers_release():
    import threading

    started, finish = threading.Event(), threading.Event()

    class SlowImpl(CountingImpl):
        seekable = False

        def read(self, offset: int, length: int) -> bytes:
            started.set()
            finish.wait(5)
            return b"x"

    t = FDTable()
    d = FileDescription(SlowImpl(), O_RDONLY)
    fd = t.install(d)
    out: list[bytes] = []
    th = threading.Thread(target=lambda: out.append(t.get(fd).read(1)))
    th.start()
    started.wait(5)
    t.close(fd)
    assert d.impl.released == 0  # type: ignore[attr-defined]
    finish.set()
    th.join(5)
    assert out == [b"x"]
    assert d.impl.released == 1  # type: ignore[attr-defined]
