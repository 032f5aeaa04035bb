"""The caller's side of the zygote."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time

from runtime.spawn import SpawnRequest, send_with_fds

#: How long a spawn waits for the zygote to finish its imports. A zygote
#: started with the shim is usually ready before the first Create; if not,
#: waiting for it is still quicker than a fresh interpreter.
READY_TIMEOUT = 10.0
_MAX_MESSAGE = 1 << 16
CLOSE_TIMEOUT = 1.0


def launch(*, quiet: bool = False) -> tuple[socket.socket, int]:
    """Start ``python -m runtime.zygote`` in a session of its own; returns
    our end of its socket and its pid (it need not stay our child).
    ``quiet``: its stderr on /dev/null rather than ours (a caller whose
    stderr is a pipe someone reads to the end must not hand it on)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        env = {k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ}
        process = subprocess.Popen(
            [sys.executable, "-m", "runtime.zygote", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL if quiet else None,
            env=env,
            cwd="/",
            start_new_session=True,
        )
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    return ours, process.pid


class ZygoteChild:
    """A forked child, ``Popen``-like. Its exit status arrives on a socket
    of its own, written by the zygote when it reaps the child."""

    def __init__(self, pid: int, status_sock: socket.socket) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self.wait_status = -1
        self._sock = status_sock
        try:
            self._pidfd = os.pidfd_open(pid)
        except OSError:
            self._pidfd = -1

    def _collect(self, timeout: float | None) -> bool:
        if self.returncode is not None:
            return True
        ready, _, _ = select.select([self._sock], [], [], timeout)
        if not ready:
            return False
        data = self._sock.recv(_MAX_MESSAGE)
        if data:
            self.wait_status = int(json.loads(data)["status"])
            self.returncode = os.waitstatus_to_exitcode(self.wait_status)
        else:
            # The zygote died before reaping it: the child was re-parented
            # and its status is lost; report it like a SIGKILL.
            self.wait_status = signal.SIGKILL
            self.returncode = -signal.SIGKILL
        self._sock.close()
        if self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1
        return True

    def poll(self) -> int | None:
        self._collect(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._collect(timeout):
            raise subprocess.TimeoutExpired(f"zygote child {self.pid}", timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is not None or self._pidfd < 0:
            return
        try:
            signal.pidfd_send_signal(self._pidfd, sig)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class _Pid:
    """A process that may not be our child, through a pidfd (poll, wait, kill)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._fd = os.pidfd_open(pid)
        self._gone = False

    def poll(self) -> int | None:
        """None while it runs, 0 once it is gone (its status is its parent's)."""
        if not self._gone:
            ready, _, _ = select.select([self._fd], [], [], 0)
            self._gone = bool(ready)
        return 0 if self._gone else None

    def wait(self, timeout: float | None = None) -> int:
        ready, _, _ = select.select([self._fd], [], [], timeout)
        if not ready:
            raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0)
        self._gone = True
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)  # if it is our child after all
        return 0

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(self._fd, signal.SIGKILL)

    def close(self) -> None:
        os.close(self._fd)


class Zygote:
    """Start one with ``Zygote.start()`` (or ``adopt`` one a parent started
    and handed over); ``spawn`` forks children from it."""

    def __init__(self, sock: socket.socket, pid: int) -> None:
        self._sock = sock
        self.process = _Pid(pid)
        self._lock = threading.Lock()
        self._ready = False

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    def start(cls) -> Zygote:
        """Start the zygote process (it imports in the background)."""
        sock, pid = launch()
        return cls(sock, pid)

    @classmethod
    def adopt(cls, fd: int, pid: int) -> Zygote:
        """Take over a zygote started by another process (``launch``) whose
        socket is ``fd`` here."""
        return cls(socket.socket(fileno=fd), pid)

    def _await_ready(self) -> None:
        if self._ready:
            return
        ready, _, _ = select.select([self._sock], [], [], READY_TIMEOUT)
        if not ready:
            raise OSError(f"zygote not ready within {READY_TIMEOUT:.0f}s")
        data = self._sock.recv(_MAX_MESSAGE)
        if data != b'{"ready": true}':
            raise OSError(f"zygote failed to start: {data[:200]!r}")
        self._ready = True

    def spawn(
        self,
        cli_args: list[str],
        *,
        pass_fds: list[int],
        stderr: int | None,
        env: dict[str, str],
        new_session: bool = False,
    ) -> ZygoteChild:
        """Fork ``pysandbox CLI_ARGS`` with ``pass_fds`` at the same numbers
        and ``stderr`` (None: /dev/null) as its FD 2. OSError if the zygote
        cannot (the caller then starts a fresh interpreter)."""
        status_ours, status_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            fds = [*pass_fds, status_theirs.fileno()]
            if stderr is not None:
                fds.append(stderr)
            request = SpawnRequest(
                args=cli_args,
                targets=pass_fds,
                env=env,
                stderr=stderr is not None,
                setsid=new_session,
            ).encode()
            with self._lock:
                if self.process.poll() is not None:
                    raise OSError("zygote exited")
                self._await_ready()
                send_with_fds(self._sock, request, fds)
                deadline = time.monotonic() + READY_TIMEOUT
                ready, _, _ = select.select([self._sock], [], [], READY_TIMEOUT)
                if not ready or time.monotonic() > deadline:
                    raise OSError("zygote did not answer")
                reply = json.loads(self._sock.recv(_MAX_MESSAGE) or b"{}")
        except BaseException:
            status_ours.close()
            raise
        finally:
            status_theirs.close()
        if "pid" not in reply:
            status_ours.close()
            raise OSError(f"zygote cannot fork: {reply.get('error', 'connection closed')}")
        return ZygoteChild(int(reply["pid"]), status_ours)

    def close(self) -> None:
        """Stop the zygote (its children live on). Idempotent.

        A zygote still importing has no children and is killed at once;
        a ready one leaves when it sees its socket close."""
        if self._sock.fileno() < 0:
            return
        self._sock.close()
        if not self._ready:
            self.process.kill()
        try:
            self.process.wait(CLOSE_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.close()
