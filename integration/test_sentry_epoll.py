"""epoll under the Sentry with real workloads: Debian's python3 running an
asyncio program (pipes, timers, subprocesses, signal handlers; its
selector is epoll) compared with native, and epoll_wait blocking on a host
FD (stdin) until the test writes to it (the host FD notifier's path).

The differential C programs (integration/syscalls/programs/epoll_*.c,
timerfd.c, signalfd.c) cover the syscalls' semantics and errnos."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from integration._sentry import workdir  # noqa: F401 - fixture
from integration.syscalls import harness

PYTHON3 = "/usr/bin/python3"
BUSYBOX = shutil.which("busybox") or "/bin/busybox"
needs_python = pytest.mark.skipif(
    not os.path.exists(PYTHON3), reason="Debian python3 not installed"
)
needs_busybox = pytest.mark.skipif(
    not os.path.exists(BUSYBOX), reason="busybox-static not installed"
)

ASYNCIO_PROGRAM = r'''
import asyncio, os, signal, sys, time


class _FD:
    def __init__(self, fd):
        self.fd = fd

    def fileno(self):
        return self.fd


class PipeLoop(asyncio.SelectorEventLoop):
    """asyncio's selector loop with an os.pipe() self-pipe instead of
    socket.socketpair(), and SIGCHLD-driven child watching instead of a
    thread per child: runs before sockets and threads exist in the Sentry."""

    def _make_self_pipe(self):
        r, w = os.pipe()
        os.set_blocking(r, False)
        os.set_blocking(w, False)
        self._ssock_fd, self._csock_fd = r, w
        self._csock = _FD(w)  # signal.set_wakeup_fd(self._csock.fileno())
        self._internal_fds += 1
        self._add_reader(r, self._read_from_self)

    def _close_self_pipe(self):
        self._remove_reader(self._ssock_fd)
        os.close(self._ssock_fd)
        os.close(self._csock_fd)
        self._internal_fds -= 1

    def _read_from_self(self):
        while True:
            try:
                data = os.read(self._ssock_fd, 4096)
            except (BlockingIOError, InterruptedError):
                break
            if not data:
                break
            self._process_self_data(data)

    def _write_to_self(self):
        try:
            os.write(self._csock_fd, b"\0")
        except OSError:
            pass


async def main():
    loop = asyncio.get_running_loop()
    print("selector", type(loop._selector).__name__)
    r, w = os.pipe()
    os.set_blocking(r, False)
    got = loop.create_future()
    loop.add_reader(r, lambda: got.set_result(os.read(r, 100)))
    loop.call_later(0.02, os.write, w, b"ping")
    print("pipe", await got)
    loop.remove_reader(r)
    t0 = time.monotonic()
    await asyncio.sleep(0.05)
    print("slept", time.monotonic() - t0 >= 0.05)
    print("gather", await asyncio.gather(*(asyncio.sleep(0.01 * i, result=i) for i in range(5))))
    try:
        await asyncio.wait_for(asyncio.sleep(5), 0.03)
    except asyncio.TimeoutError:
        print("wait_for timeout")
    proc = await asyncio.create_subprocess_exec(
        "BUSYBOX", "tr", "a-z", "A-Z",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate(b"hello asyncio\n" * 2000)
    print("subprocess", proc.returncode, len(out), out[:14])
    proc = await asyncio.create_subprocess_exec(
        "BUSYBOX", "sh", "-c", "echo one; sleep 0.05; echo two; exit 3",
        stdout=asyncio.subprocess.PIPE,
    )
    lines = [line async for line in proc.stdout]
    print("shell", await proc.wait(), lines)
    ev = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, ev.set)
    os.kill(os.getpid(), signal.SIGUSR1)
    await ev.wait()
    print("signal handler ran")
    q = asyncio.Queue()

    async def producer():
        for i in range(3):
            await asyncio.sleep(0.005)
            await q.put(i)

    task = asyncio.create_task(producer())
    print("queue", [await q.get() for _ in range(3)])
    await task


if sys.argv[1:] == ["pipe-loop"]:
    asyncio.set_child_watcher(asyncio.SafeChildWatcher())
    loop = PipeLoop()
    asyncio.get_child_watcher().attach_loop(loop)
    loop.run_until_complete(main())
    loop.close()
else:
    asyncio.run(main())
'''

#: What asyncio's stock loop needs beyond epoll: a socketpair for its
#: self-pipe and a thread per child process (ThreadedChildWatcher).
STOCK_PROBE = (
    "import socket, threading; socket.socketpair(); "
    "t = threading.Thread(target=print); t.start(); t.join()"
)


def _run_both(directory: Path, *args: str) -> None:
    script = directory / "aio.py"
    script.write_text(ASYNCIO_PROGRAM.replace("BUSYBOX", BUSYBOX))
    argv = [PYTHON3, "-I", str(script), *args]
    native = harness.run_native(argv, directory)
    assert native.status == 0, native.stderr.decode()
    sandboxed = harness.run_sentry(argv, directory, extra=["--rw"])
    assert sandboxed.stderr.decode() == native.stderr.decode()
    assert sandboxed.stdout.decode() == native.stdout.decode()
    assert sandboxed.status == 0


@needs_python
@needs_busybox
def test_asyncio_on_a_pipe_self_pipe_matches_native(workdir):  # noqa: F811
    _run_both(workdir, "pipe-loop")


@needs_python
@needs_busybox
def test_stock_asyncio_matches_native(workdir):  # noqa: F811
    probe = harness.run_sentry([PYTHON3, "-I", "-c", STOCK_PROBE], workdir)
    if probe.status != 0:
        pytest.skip(
            "stock asyncio needs socketpair and threads in the Sentry (other branches): "
            + probe.stderr.decode(errors="replace").strip().splitlines()[-1]
        )
    _run_both(workdir)


WAIT_STDIN = r"""
#include <stdio.h>
#include <sys/epoll.h>
#include <unistd.h>

int main(void) {
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 42}, out;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) != 0) { perror("epoll_ctl"); return 1; }
    printf("empty=%d\n", epoll_wait(ep, &out, 1, 0));
    printf("waiting\n");
    fflush(stdout);
    int n = epoll_wait(ep, &out, 1, -1);
    char buf[32];
    ssize_t r = read(0, buf, sizeof buf);
    printf("n=%d data=%llu events=%#x read=%.*s", n, (unsigned long long)out.data.u64,
           out.events, (int)r, buf);
    fflush(stdout);
    n = epoll_wait(ep, &out, 1, -1);
    printf("n=%d events=%#x read=%zd\n", n, out.events, read(0, buf, sizeof buf));
    return 0;
}
"""


def test_epoll_wait_wakes_on_host_stdin(workdir):  # noqa: F811
    """A blocked epoll_wait on a host pipe (stdin) wakes when data arrives,
    and again when the writer hangs up."""
    source = workdir / "wait_stdin.c"
    source.write_text(WAIT_STDIN)
    binary = harness.compile_c(source, workdir, static=True)
    cmd = harness.sentry_command([str(binary)], workdir)
    with subprocess.Popen(
        cmd, cwd=workdir, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        assert proc.stdout.readline() == b"empty=0\n"
        assert proc.stdout.readline() == b"waiting\n"
        proc.stdin.write(b"hello\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == b"n=1 data=42 events=0x1 read=hello\n"
        proc.stdin.close()  # the writer hangs up: EPOLLHUP wakes the second wait
        out = proc.stdout.read()
        proc.wait(timeout=harness.TIMEOUT)
        err = proc.stderr.read() if proc.stderr else b""
    assert out == b"n=1 events=0x10 read=0\n", err.decode()
    assert proc.returncode == 0
