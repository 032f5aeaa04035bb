"""devfs devices, procfs views of sandbox tasks, host-FD stdio files."""

from __future__ import annotations

import os
import pty

import pytest

from sentry.abi.errors import EACCES, EBADF, ENOENT, ENOSPC, ENOTTY, ENXIO, ESPIPE
from sentry.fsimpl.host import TCGETS, TIOCGWINSZ, HostFile
from sentry.vfs.flags import O_DIRECTORY, O_RDONLY, O_RDWR, O_WRONLY
from tests.vfs.fakes import FakeCreds, FakeMM, FakeTask


def open_(t, path, flags=O_RDONLY):
    f = t.kernel.vfs.open_path(t.fs, path, flags, 0, t.creds)
    f.inc_ref()
    return f


def test_dev_null_zero_full_random(sandbox):
    assert open_(sandbox, b"/dev/null", O_RDWR).read(10) == b""
    assert open_(sandbox, b"/dev/null", O_RDWR).write(b"xyz") == 3
    assert open_(sandbox, b"/dev/zero").read(4) == b"\0\0\0\0"
    full = open_(sandbox, b"/dev/full", O_RDWR)
    assert full.read(2) == b"\0\0"
    with pytest.raises(ENOSPC):
        full.write(b"x")
    a, b = open_(sandbox, b"/dev/urandom").read(16), open_(sandbox, b"/dev/random").read(16)
    assert len(a) == len(b) == 16 and a != b
    assert open_(sandbox, b"/dev/null").stat().rdev == os.makedev(1, 3)


def test_dev_tty_without_terminal_is_enxio(sandbox):
    with pytest.raises(ENXIO):
        open_(sandbox, b"/dev/tty", O_RDWR)


def test_dev_stdout_reaches_fd_1(sandbox):
    r, w = os.pipe()
    sandbox.fd_table.install_at(1, HostFile(w))
    f = open_(sandbox, b"/dev/stdout", O_WRONLY)
    assert f.write(b"hello") == 5
    assert os.read(r, 5) == b"hello"
    os.close(r)


def test_proc_self_and_pid_dirs(sandbox):
    other = FakeTask(sandbox.kernel, sandbox.fs, FakeCreds(uid=7, gid=8), tid=42, tgid=42)
    sandbox.kernel.tasks[42] = other
    vfs = sandbox.kernel.vfs
    assert vfs.readlink(vfs.resolve(sandbox.fs, b"/proc/self", sandbox.creds, follow=False)) == b"1"
    status = open_(sandbox, b"/proc/42/status").read(4096).decode()
    assert "Pid:\t42" in status and "Uid:\t7\t7\t7\t7" in status
    d = open_(sandbox, b"/proc", O_RDONLY | O_DIRECTORY)
    names = d.getdents(4096, lambda e, _: e.name + b" ").split()
    assert b"1" in names and b"42" in names
    with pytest.raises(ENOENT):
        vfs.resolve(sandbox.fs, b"/proc/999", sandbox.creds)
    with pytest.raises(EACCES):
        open_(sandbox, b"/proc/self/status", O_WRONLY)


def test_proc_cmdline_from_task_memory(sandbox):
    mm = FakeMM()
    addr = mm.alloc(b"prog\0-x\0")
    mm.arg_start, mm.arg_end = addr, addr + 8  # type: ignore[attr-defined]
    sandbox.mm = mm
    assert open_(sandbox, b"/proc/self/cmdline").read(100) == b"prog\0-x\0"


def test_proc_fd_links_and_mounts(sandbox):
    f = open_(sandbox, b"/etc/hostname")
    fd = sandbox.fd_table.install(f)
    vfs = sandbox.kernel.vfs
    link = vfs.resolve(sandbox.fs, b"/proc/self/fd/%d" % fd, sandbox.creds, follow=False)
    assert vfs.readlink(link) == b"/etc/hostname"
    assert open_(sandbox, b"/proc/self/fd/%d" % fd).read(100) == b"sandbox\n"
    mounts = open_(sandbox, b"/proc/mounts").read(4096).decode().splitlines()
    expected = ["/", "/dev", "/dev/shm", "/dev/pts", "/proc", "/sys", "/tmp"]
    assert [m.split()[1] for m in mounts] == expected
    assert open_(sandbox, b"/proc/self/cwd/etc/hostname").read(100) == b"sandbox\n"


def test_host_file_pipe_and_tty():
    r, w = os.pipe()
    hf = HostFile(w)
    hf.inc_ref()
    assert hf.writable and not hf.readable
    assert hf.write(b"abc") == 3
    with pytest.raises(EBADF):
        hf.read(1)
    with pytest.raises(ESPIPE):
        hf.seek(0, 0)
    with pytest.raises(ENOTTY):
        hf.ioctl(TCGETS, 0, FakeMM())
    rf = HostFile(r)
    rf.inc_ref()
    assert rf.readable_now() == 3
    assert rf.read(10) == b"abc"
    hf.dec_ref()
    assert rf.read(10) == b""  # writer closed
    rf.dec_ref()
    with pytest.raises(OSError):
        os.fstat(r)  # released with the description

    master, slave = pty.openpty()
    tf = HostFile(slave)
    mm = FakeMM()
    buf = mm.alloc(64)
    assert tf.ioctl(TCGETS, buf, mm) == 0
    assert tf.ioctl(TIOCGWINSZ, buf, mm) == 0
    os.close(master)


def test_openat2_resolve_restrictions(sandbox):
    from sentry.abi.errors import ELOOP, EXDEV
    from sentry.vfs.walk import (
        RESOLVE_BENEATH,
        RESOLVE_NO_MAGICLINKS,
        RESOLVE_NO_XDEV,
    )

    vfs, fs, c = sandbox.kernel.vfs, sandbox.fs, sandbox.creds
    f = open_(sandbox, b"/etc/hostname")
    fd = sandbox.fd_table.install(f)
    with pytest.raises(ELOOP):
        vfs.open_path(fs, b"/proc/self/fd/%d" % fd, O_RDONLY, 0, c, resolve=RESOLVE_NO_MAGICLINKS)
    with pytest.raises(EXDEV):
        vfs.open_path(fs, b"/proc/self/status", O_RDONLY, 0, c, resolve=RESOLVE_NO_XDEV)
    with pytest.raises(EXDEV):
        vfs.open_path(fs, b"..", O_RDONLY, 0, c, start=vfs.resolve(fs, b"/proc", c),
                      resolve=RESOLVE_NO_XDEV)  # fmt: skip
    etc = vfs.resolve(fs, b"/etc", c)
    assert vfs.open_path(fs, b"hostname", O_RDONLY, 0, c, start=etc, resolve=RESOLVE_BENEATH)
    with pytest.raises(EXDEV):
        vfs.open_path(fs, b"../bin", O_RDONLY, 0, c, start=etc, resolve=RESOLVE_BENEATH)


def test_blocked_host_read_gives_way_to_interruption():
    import threading

    from sentry.abi.errors import ERESTARTSYS
    from sentry.vfs import set_current_task

    class Task:
        """What a blocking read uses of a task: block, wake, interrupted."""

        stop = threading.Event()
        woken = threading.Event()

        def interrupted(self) -> bool:
            return self.stop.is_set()

        def block(self, timeout: float | None) -> bool:
            if self.interrupted():
                return True
            self.woken.wait(timeout)
            self.woken.clear()
            return self.interrupted()

        def wake(self) -> None:
            self.woken.set()

        def notify_signal(self) -> None:
            self.stop.set()
            self.woken.set()

    r, w = os.pipe()
    f = HostFile(r)
    f.inc_ref()
    task = Task()
    result: list[object] = []

    def reader() -> None:
        set_current_task(task)
        try:
            result.append(f.read(10))
        except ERESTARTSYS as exc:
            result.append(exc)

    th = threading.Thread(target=reader)
    th.start()
    os.write(w, b"data")
    th.join(5)
    assert result == [b"data"]
    th = threading.Thread(target=reader)
    th.start()
    task.notify_signal()
    th.join(5)
    assert not th.is_alive() and isinstance(result[1], ERESTARTSYS)
    os.close(w)
    f.dec_ref()


def test_proc_sys_and_version(sandbox):
    from types import SimpleNamespace

    sandbox.kernel.uts = SimpleNamespace(hostname="box", release="4.4.0", version="#7")
    assert open_(sandbox, b"/proc/sys/kernel/hostname").read(100) == b"box\n"
    assert open_(sandbox, b"/proc/sys/kernel/osrelease").read(100) == b"4.4.0\n"
    assert open_(sandbox, b"/proc/version").read(100).startswith(b"Linux version 4.4.0 ")
    with pytest.raises(ENOENT):
        open_(sandbox, b"/proc/sys/kernel/nothing")


def test_proc_fdinfo_and_limits(sandbox):
    f = open_(sandbox, b"/etc/hostname")
    f.read(3)
    fd = sandbox.fd_table.install(f, cloexec=True)
    info = open_(sandbox, b"/proc/self/fdinfo/%d" % fd).read(200).decode()
    assert info.startswith("pos:\t3\nflags:\t02")
    limits = open_(sandbox, b"/proc/self/limits").read(4096).decode()
    assert limits.splitlines()[0].split() == ["Limit", "Soft", "Limit", "Hard", "Limit", "Units"]
    assert "Max open files" in limits


def test_sysfs_cpu_files_are_read_only(sandbox):
    from sentry.abi.errors import EROFS

    online = open_(sandbox, b"/sys/devices/system/cpu/online").read(100)
    assert online == (
        b"0\n"
        if len(os.sched_getaffinity(0)) == 1
        else b"0-%d\n" % (len(os.sched_getaffinity(0)) - 1)
    )
    with pytest.raises(EROFS):
        sandbox.kernel.vfs.mkdir(sandbox.fs, None, b"/sys/x", 0o755, sandbox.creds)


def test_proc_of_an_exiting_task_does_not_crash(sandbox):
    gone = FakeTask(sandbox.kernel, sandbox.fs, FakeCreds(), tid=9, tgid=9)
    gone.mm = None  # type: ignore[assignment]
    gone.fs = None  # type: ignore[assignment]
    gone.fd_table = None  # type: ignore[assignment]
    sandbox.kernel.tasks[9] = gone
    assert b"Pid:\t9" in open_(sandbox, b"/proc/9/status").read(4096)
    assert open_(sandbox, b"/proc/9/maps").read(100) == b""
    assert open_(sandbox, b"/proc/9/cmdline").read(100) == b""
    vfs = sandbox.kernel.vfs
    with pytest.raises(ENOENT):
        vfs.readlink(vfs.resolve(sandbox.fs, b"/proc/9/cwd", sandbox.creds, follow=False))
    d = open_(sandbox, b"/proc/9/fd", O_RDONLY | O_DIRECTORY)
    assert d.getdents(4096, lambda e, _: e.name + b" ") == b". .. "


def test_dev_tty_reopens_the_given_terminal():
    from sentry.fsimpl.devfs import DevFilesystem
    from sentry.vfs import FSContext, VirtualFilesystem

    master, slave = pty.openpty()
    try:
        vfs = VirtualFilesystem()
        root = vfs.root_of(vfs.new_root_mount(DevFilesystem(tty_fd=slave)))
        fs = FSContext(root, root)
        creds = FakeCreds.root()
        for name in (b"/tty", b"/console"):
            f = vfs.open_path(fs, name, O_RDWR, 0, creds)
            f.inc_ref()
            assert f.write(b"hi") == 2
            assert os.read(master, 10) == b"hi"
            mm = FakeMM()
            assert f.ioctl(TCGETS, mm.alloc(64), mm) == 0
            f.dec_ref()
    finally:
        os.close(master)
        os.close(slave)


def test_readiness_for_poll(sandbox):
    from sentry.vfs.inode import POLLHUP, POLLIN, POLLOUT

    f = open_(sandbox, b"/etc/hostname")
    assert f.readiness(POLLIN | POLLOUT) == POLLIN | POLLOUT  # regular files: always ready
    r, w = os.pipe()
    rf, wf = HostFile(r), HostFile(w)
    rf.inc_ref()
    wf.inc_ref()
    assert rf.readiness(POLLIN) == 0
    assert wf.readiness(POLLOUT) == POLLOUT
    os.write(w, b"x")
    assert rf.readiness(POLLIN) == POLLIN
    wf.dec_ref()
    assert rf.readiness(POLLIN) & POLLHUP
    rf.dec_ref()
