"""sentry.hostsys wrappers: they do what the man page says and raise OSError."""

from __future__ import annotations

import errno
import mmap
import os
import signal
import threading

import pytest

from sentry.hostsys import fs, mm, proc
from sentry.hostsys import ptrace as hptrace


def test_memfd_mmap_mprotect_munmap() -> None:
    fd = mm.memfd_create("hostsys-test")
    try:
        os.ftruncate(fd, 8192)
        addr = mm.mmap(0, 8192, mm.PROT_READ | mm.PROT_WRITE, mm.MAP_SHARED, fd, 0)
        try:
            hptrace.process_vm_writev(os.getpid(), addr, b"hello")
            assert os.pread(fd, 5, 0) == b"hello"
            assert hptrace.process_vm_readv(os.getpid(), addr, 5) == b"hello"
            mm.mprotect(addr, 4096, mm.PROT_READ)
        finally:
            mm.munmap(addr, 8192)
        with pytest.raises(OSError) as exc:
            hptrace.process_vm_readv(os.getpid(), addr, 5)
        assert exc.value.errno == errno.EFAULT
    finally:
        os.close(fd)
    with pytest.raises(OSError) as exc:
        mm.mmap(0, 4096, mm.PROT_READ, mm.MAP_SHARED, 9999, 0)
    assert exc.value.errno == errno.EBADF
    with pytest.raises(ValueError):
        mm.mmap(0, 0, mm.PROT_READ, mm.MAP_PRIVATE | mm.MAP_ANONYMOUS)


def test_openat2_resolve_beneath(tmp_path) -> None:
    (tmp_path / "inside").write_text("x")
    (tmp_path / "link").symlink_to("/etc/passwd")
    dirfd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fd = fs.openat2(dirfd, "inside", os.O_RDONLY, resolve=fs.RESOLVE_BENEATH)
        assert os.get_inheritable(fd) is False
        os.close(fd)
        for path in ("../etc/passwd", "link", "/etc/passwd"):
            with pytest.raises(OSError) as exc:
                fs.openat2(dirfd, path, os.O_RDONLY, resolve=fs.RESOLVE_BENEATH)
            assert exc.value.errno == errno.EXDEV
        with pytest.raises(FileNotFoundError):
            fs.openat2(dirfd, "missing", os.O_RDONLY)
        with pytest.raises(ValueError):
            fs.openat2(dirfd, "a\0b", os.O_RDONLY)
    finally:
        os.close(dirfd)


def test_affinity_and_getcpu() -> None:
    allowed = proc.sched_getaffinity(0)
    assert allowed
    cpu = min(allowed)

    def pinned() -> None:
        proc.sched_setaffinity(0, [cpu])
        assert proc.sched_getaffinity(0) == {cpu}
        assert proc.getcpu() == cpu

    t = threading.Thread(target=pinned)
    t.start()
    t.join()
    with pytest.raises(ValueError):
        proc.sched_setaffinity(0, [])
    with pytest.raises(ValueError):
        proc.sched_setaffinity(0, [1 << 20])


def test_sigprocmask_is_per_thread() -> None:
    bit = 1 << (signal.SIGUSR2 - 1)
    seen: list[int] = []

    def worker() -> None:
        old = proc.sigprocmask(proc.SIG_BLOCK, bit)
        seen.append(proc.sigprocmask(proc.SIG_SETMASK, old) & bit)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [bit]
    assert proc.sigprocmask(proc.SIG_BLOCK, 0) & bit == 0


def test_prctl_and_seccomp_in_a_child() -> None:
    # A filter that returns EPERM for getcwd (79) and allows the rest.
    prog = [
        (0x20, 0, 0, 0),
        (0x15, 0, 1, 79),
        (0x06, 0, 0, proc.SECCOMP_RET_ERRNO | errno.EPERM),
        (0x06, 0, 0, proc.SECCOMP_RET_ALLOW),
    ]
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 1
        try:
            proc.prctl(proc.PR_SET_NO_NEW_PRIVS, 1)
            proc.seccomp_set_filter(prog)
            try:
                os.getcwd()
            except PermissionError:
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with pytest.raises(ValueError):
        proc.seccomp_set_filter([])
    with pytest.raises(OSError) as exc:
        proc.prctl(0x7FFFFFFF)
    assert exc.value.errno == errno.EINVAL


def test_tgkill_gettid_waitpid() -> None:
    assert hptrace.gettid() == threading.get_native_id()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        signal.pause()
        os._exit(0)
    hptrace.tgkill(pid, pid, signal.SIGKILL)
    got, status = hptrace.waitpid(pid, 0)
    assert got == pid and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    with pytest.raises(ChildProcessError):
        hptrace.waitpid(pid, 0)
    child = os.fork()
    if child == 0:  # pragma: no cover - child
        os._exit(7)
    assert hptrace.waitid(hptrace.P_PID, child, hptrace.WEXITED) == (child, 1, 7)  # CLD_EXITED
    with pytest.raises(ChildProcessError):
        hptrace.waitid(hptrace.P_PID, child, hptrace.WEXITED | hptrace.WNOHANG)
    with pytest.raises(ProcessLookupError):
        hptrace.tgkill(pid, pid, 0)


def test_ptrace_peek_of_a_traced_child() -> None:
    import ctypes

    buf = mmap.mmap(-1, 4096)
    buf[0:8] = (0x1122334455667788).to_bytes(8, "little")
    addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            hptrace.ptrace(hptrace.PTRACE_TRACEME, 0)
        except OSError:
            os._exit(99)
        os.kill(os.getpid(), signal.SIGSTOP)
        os._exit(0)
    try:
        _, status = hptrace.waitpid(pid, hptrace.WALL)
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 99:
            pytest.skip("ptrace(PTRACE_TRACEME) is not permitted here (Yama, seccomp?)")
        assert os.WIFSTOPPED(status) and os.WSTOPSIG(status) == signal.SIGSTOP
        # fork copied this page: the child has the same bytes at the same address.
        word = hptrace.ptrace(hptrace.PTRACE_PEEKDATA, pid, addr)
        assert word == 0x1122334455667788
        assert hptrace.ptrace_getsigmask(pid) == 0
        with pytest.raises(OSError) as exc:
            hptrace.ptrace(hptrace.PTRACE_PEEKDATA, pid, 8)
        assert exc.value.errno in (errno.EIO, errno.EFAULT)
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass  # already reaped (the skip path)


def test_spawn_stub_reports_exec_failure() -> None:
    fd = mm.memfd_create("not-executable")
    try:
        with pytest.raises(OSError):
            hptrace.spawn_stub(fd, fd, 3)  # an empty memfd is not an executable
        with pytest.raises(ValueError):
            hptrace.spawn_stub(3, 4, 3)
    finally:
        os.close(fd)
