"""Starting the runtime's own helper processes (``pysandbox boot`` and
``pysandbox gofer``).

By default each is a fresh interpreter (``subprocess.Popen`` of
``python -m runtime.cli ...``): about a quarter of a second of Python
start-up and imports before it does anything. A long-lived caller (the
shim) can install a *zygote* (``runtime.zygote``): a process started once
that has imported boot, the gofer and the Sentry, and forks a ready child
for each request, the way Android starts apps. Either way the caller gets a
``Popen``-like object (``pid``, ``poll``, ``wait``, ``kill``,
``returncode``) and ``wait_status`` answers the raw wait status of a
zygote child, which the caller cannot ``waitpid`` for itself.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import gc
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback
from typing import IO, Any, NamedTuple, NoReturn, Protocol

from runtime import importbundle

log = logging.getLogger(__name__)

#: ``subprocess.DEVNULL``. This module is on every sandbox start's critical
#: path (the CLI imports it before it forks boot, which needs it too), and
#: subprocess (with locale and selectors, ~2 ms) is imported only where a
#: new interpreter is started.
_DEVNULL = -3


class Process(Protocol):
    """What callers use of a started helper (a subset of ``Popen``)."""

    pid: int
    returncode: int | None

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def kill(self) -> None: ...


class Forker(Protocol):
    """A zygote as ``spawn_self`` uses it."""

    def spawn(
        self,
        cli_args: list[str],
        *,
        pass_fds: list[int],
        stderr: int | None,
        env: dict[str, str],
        new_session: bool = False,
    ) -> Any: ...


_lock = threading.Lock()
_forker: Forker | None = None
# Zygote children by pid, until their exit status was collected.
_children: dict[int, Any] = {}


def self_command() -> list[str]:
    """How to run this runtime again (the same interpreter and package)."""
    return [sys.executable, "-m", "runtime.cli"]


def install_forker(forker: Forker | None, *, replace: bool = True) -> None:
    """Route later ``spawn_self`` calls through ``forker`` (None: Popen
    again); with ``replace=False`` only if none is installed yet."""
    global _forker
    with _lock:
        if replace or _forker is None:
            _forker = forker


def current_forker() -> Forker | None:
    """The installed forker, if any."""
    with _lock:
        return _forker


def spawn_self(
    cli_args: list[str],
    *,
    pass_fds: list[int],
    stderr: int | IO[bytes] | None,
    env: dict[str, str],
    new_session: bool = False,
) -> Process:
    """Run ``pysandbox CLI_ARGS`` with ``pass_fds`` at the same numbers,
    stdin and stdout on /dev/null, ``stderr`` (None: ours, DEVNULL or an FD)
    and cwd / (in a session of its own with ``new_session``). A zygote forks
    it when one is installed and answers; else a new interpreter starts."""
    with _lock:
        forker = _forker
    if forker is not None and (stderr is None or isinstance(stderr, int)):
        err_fd: int | None
        if stderr is None:
            err_fd = 2
        elif stderr == _DEVNULL:
            err_fd = None
        else:
            err_fd = int(stderr)
        try:
            child = forker.spawn(
                cli_args, pass_fds=pass_fds, stderr=err_fd, env=env, new_session=new_session
            )
        except OSError as exc:
            log.warning("zygote unavailable (%s); starting a new interpreter", exc)
        else:
            with _lock:
                _children[child.pid] = child
            return child
    import subprocess  # only for this fallback: see _DEVNULL

    return subprocess.Popen(
        [*self_command(), *cli_args],
        pass_fds=pass_fds,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        env=env,
        cwd="/",
        start_new_session=new_session,
    )


def wait_status(pid: int, timeout: float | None = None) -> int | None:
    """The raw wait status of zygote child ``pid`` (blocking up to
    ``timeout``), or None if ``pid`` is not one (then ``waitpid`` applies)."""
    with _lock:
        child = _children.get(pid)
    if child is None:
        return None
    child.wait(timeout)
    with _lock:
        _children.pop(pid, None)
    status: int = child.wait_status
    return status


def is_zygote_child(pid: int) -> bool:
    """Whether ``pid`` was forked by the installed zygote (and not collected)."""
    with _lock:
        return pid in _children


#: Where FDs are parked in a child before they move to their numbers.
PARK_FD = 10000
#: Largest spawn request (JSON) a zygote or warm child accepts.
MAX_REQUEST = 1 << 16
MAX_REQUEST_FDS = 250


class SpawnRequest(NamedTuple):
    """What a forked-ahead process (a zygote's child, a warm child) is
    told to become: ``pysandbox ARGS`` with the attached FDs moved to
    ``targets`` and, with ``stderr``, one more attached FD as its FD 2.
    Sent as one JSON packet on a SOCK_SEQPACKET socket, FDs in SCM_RIGHTS."""

    args: list[str]
    targets: list[int]
    env: dict[str, str]
    stderr: bool
    setsid: bool

    def encode(self) -> bytes:
        data = json.dumps(self._asdict()).encode()
        if len(data) > MAX_REQUEST:
            raise OSError("spawn request too large")
        return data

    @classmethod
    def decode(cls, msg: bytes) -> SpawnRequest:
        """Parse and check a request (ValueError/KeyError/TypeError when bad)."""
        raw = json.loads(msg)
        request = cls(
            args=[str(a) for a in raw["args"]],
            targets=[int(t) for t in raw["targets"]],
            env={str(k): str(v) for k, v in raw["env"].items()},
            stderr=bool(raw["stderr"]),
            setsid=bool(raw.get("setsid")),
        )
        targets = request.targets
        if any(t < 3 or t >= PARK_FD for t in targets) or len(set(targets)) != len(targets):
            raise ValueError("bad descriptor numbers")
        return request


def send_with_fds(sock: socket.socket, data: bytes, fds: list[int]) -> None:
    """One packet carrying ``fds`` in SCM_RIGHTS."""
    sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())])


def recv_with_fds(sock: socket.socket) -> tuple[bytes, list[int]]:
    """One packet and the FDs it carried (empty bytes: the peer closed)."""
    msg, ancdata, _flags, _addr = sock.recvmsg(MAX_REQUEST, socket.CMSG_SPACE(MAX_REQUEST_FDS * 4))
    fds: list[int] = []
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            arr = array.array("i")
            arr.frombytes(data[: len(data) - len(data) % arr.itemsize])
            fds.extend(arr)
    return msg, fds


#: Signals whose Python-level handlers a forked child resets.
_RESET_SIGNALS = ("SIGCHLD", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH")


def become(
    args: list[str],
    targets: list[int],
    passed: list[int],
    stderr_fd: int | None,
    env: dict[str, str],
    *,
    new_session: bool = False,
) -> NoReturn:
    """In a freshly forked child: turn into ``pysandbox ARGS`` as a new
    interpreter would be: ``passed`` FDs moved to ``targets``, stdin/stdout
    on /dev/null, ``stderr_fd`` (None: /dev/null) as FD 2, every other FD
    closed, cwd /, ``env``, default signal handling; then the CLI runs and
    the child exits with its status."""
    code = 1
    try:
        if new_session:
            os.setsid()
        signal.set_wakeup_fd(-1)
        for name in _RESET_SIGNALS:
            signal.signal(getattr(signal, name), signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        _drop_log_handlers()
        # The bundle's mapping keeps a descriptor, which the sweep below
        # would close under it. A warm child has imported all it needs by
        # now; anything later is found the normal way.
        importbundle.close()
        parked = [fcntl.fcntl(fd, fcntl.F_DUPFD, PARK_FD) for fd in passed]
        err = fcntl.fcntl(stderr_fd, fcntl.F_DUPFD, PARK_FD) if stderr_fd is not None else -1
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.dup2(err if err >= 0 else null, 2)
        for src, dst in zip(parked, targets, strict=True):
            os.dup2(src, dst)  # inheritable, as Popen's pass_fds
        keep = {0, 1, 2, *targets}
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd not in keep:
                with contextlib.suppress(OSError):
                    os.close(fd)
        os.chdir("/")
        os.environ.clear()
        os.environ.update(env)
        sys.argv = ["pysandbox", *args]
        from runtime.cli.main import main as cli_main

        code = cli_main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        with contextlib.suppress(Exception):
            traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _drop_log_handlers() -> None:
    """Close the parent's log handlers while their FDs are still theirs (a
    handler closed later could close a reused descriptor number)."""
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    for lg in loggers:
        for handler in list(lg.handlers):
            lg.removeHandler(handler)
            with contextlib.suppress(Exception):
                handler.close()


class LocalChild:
    """A child forked by ``LocalForker`` (``Popen``-like, our own child)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self.wait_status = -1

    def _reap(self, flags: int) -> bool:
        if self.returncode is not None:
            return True
        try:
            pid, status = os.waitpid(self.pid, flags)
        except ChildProcessError:
            # Someone else reaped it (a subreaper's sweep): status unknown.
            self.wait_status, self.returncode = 0, 0
            return True
        if pid == 0:
            return False
        self.wait_status = status
        self.returncode = os.waitstatus_to_exitcode(status)
        return True

    def poll(self) -> int | None:
        self._reap(os.WNOHANG)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if timeout is None:
            self._reap(0)
        else:
            deadline = time.monotonic() + timeout
            while not self._reap(os.WNOHANG):
                if time.monotonic() > deadline:
                    import subprocess

                    raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout)
                time.sleep(0.005)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


def flush_std_streams() -> None:
    """Before a fork: what is buffered must not be written twice."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


class LocalForker:
    """Fork the calling process itself (the CLI, which has imported most of
    the runtime already): no new interpreter and pages shared with it. Only
    while the process is single-threaded; otherwise OSError, and
    ``spawn_self`` starts a new interpreter."""

    def spawn(
        self,
        cli_args: list[str],
        *,
        pass_fds: list[int],
        stderr: int | None,
        env: dict[str, str],
        new_session: bool = False,
    ) -> LocalChild:
        if threading.active_count() != 1:
            raise OSError("other threads are running: not forking")
        flush_std_streams()
        gc.freeze()
        pid = os.fork()
        if pid == 0:
            become(cli_args, pass_fds, pass_fds, stderr, env, new_session=new_session)
        return LocalChild(pid)
