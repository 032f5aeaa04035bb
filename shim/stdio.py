"""A process's stdio as containerd describes it: FIFOs, loggers, files, none.

URIs (reference §4.1; containerd pkg/process/io.go createIO): the scheme of
``stdout`` decides; empty or ``fifo`` = named pipes the client created,
``binary://path?k=v`` = a logging binary, ``file:///path`` = append to a
file; all three empty = /dev/null. FIFO semantics (§4.2): output FIFOs are
opened with a keep-alive reader so writes never see EPIPE when the client
detaches; the shim holds its own writer on the stdin FIFO so the container's
stdin stays open until ``CloseIO`` (and the client) closes it. With a
terminal (§4.3) there is no stderr; the pty master is copied both ways.

Copies run in plain threads (blocking read/write on pipes; one per stream),
never on the event loop. The container always gets pipe or file
descriptors, never the client's FIFOs: the shim stays the only reader.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import select
import signal
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from runtime.console import set_window_size
from runtime.spec import ConsoleSize
from shim import reaper
from shim.backend import ProcessIO

log = logging.getLogger("pysandbox.shim.stdio")

_CHUNK = 32768
LOGGER_READY_TIMEOUT = 10.0
LOGGER_STOP_TIMEOUT = 12.0  # containerd io_util.go: SIGTERM, 12 s, SIGKILL


class StdioError(Exception):
    """A stdio URI cannot be used."""


@dataclass(frozen=True)
class StdioSpec:
    """The three URIs and the terminal flag of one process (Create/Exec)."""

    stdin: str = ""
    stdout: str = ""
    stderr: str = ""
    terminal: bool = False

    @property
    def is_null(self) -> bool:
        return not (self.stdin or self.stdout or self.stderr)


def _close(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


@dataclass
class _Copy:
    """One copy thread: ``src`` → every fd in ``dsts``."""

    src: int
    dsts: list[int]
    name: str
    wake: tuple[int, int] | None = None
    done: threading.Event = field(default_factory=threading.Event)
    on_eof: list[int] = field(default_factory=list)

    started: bool = False

    def start(self) -> None:
        self.started = True
        threading.Thread(target=self._run, name=f"stdio {self.name}", daemon=True).start()

    def _run(self) -> None:
        try:
            while True:
                if self.wake is not None:
                    ready, _, _ = select.select([self.src, self.wake[0]], [], [])
                    if self.wake[0] in ready and self.src not in ready:
                        return
                try:
                    data = os.read(self.src, _CHUNK)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    # EIO: the pty's replica side is closed (pty(7)).
                    if exc.errno != errno.EIO:
                        log.warning("stdio %s: read: %s", self.name, exc)
                    return
                if not data:
                    return
                for dst in list(self.dsts):
                    try:
                        _write_all(dst, data)
                    except OSError as exc:
                        log.debug("stdio %s: write: %s", self.name, exc)
                        self.dsts.remove(dst)
        finally:
            for fd in self.on_eof:
                _close(fd)
            self.done.set()

    def stop(self) -> None:
        if self.wake is not None:
            with contextlib.suppress(OSError):
                os.write(self.wake[1], b"x")


class _Logger:
    """A ``binary://`` logging process (containerd runtime/v2/logging)."""

    def __init__(self, uri: urllib.parse.SplitResult, container_id: str, namespace: str) -> None:
        path = urllib.parse.unquote(uri.path)
        if uri.netloc or not os.path.isabs(path):
            raise StdioError(
                f"binary log URI needs an absolute path (binary:///path): {uri.geturl()}"
            )
        args: list[str] = []
        for key, values in urllib.parse.parse_qs(uri.query, keep_blank_values=True).items():
            args += [key, values[0]]
        self.out_r, self.out_w = os.pipe2(os.O_CLOEXEC)
        self.err_r, self.err_w = os.pipe2(os.O_CLOEXEC)
        ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
        # fds 3, 4, 5 in the logger: stdout, stderr, "ready" (binary.go
        # NewBinaryIO). posix_spawn's dup2 actions do the remapping without
        # running Python in the child (the shim has threads); the sources are
        # first moved to fds >= 10 so no dup2 onto 3..5 clobbers another source.
        high = [
            fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (self.out_r, self.err_r, ready_w)
        ]
        try:
            actions: list[tuple[Any, ...]] = [
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
                *(
                    (os.POSIX_SPAWN_DUP2, fd, target)
                    for fd, target in zip(high, (3, 4, 5), strict=True)
                ),
            ]
            pid = os.posix_spawn(
                path,
                [path, *args],
                {"CONTAINER_ID": container_id, "CONTAINER_NAMESPACE": namespace},
                file_actions=actions,
                setsid=True,
            )
        except OSError as exc:
            for fd in (self.out_r, self.out_w, self.err_r, self.err_w, ready_r):
                _close(fd)
            raise StdioError(f"cannot start logging binary {path}: {exc.strerror}") from None
        finally:
            _close(ready_w)
            for fd in high:
                _close(fd)
        self.process = _Child(pid)
        _close(self.out_r)
        _close(self.err_r)
        try:
            ready, _, _ = select.select([ready_r], [], [], LOGGER_READY_TIMEOUT)
            if not ready:
                self.stop()
                raise StdioError(f"logging binary {path} did not signal ready")
            os.read(ready_r, 1)
        finally:
            _close(ready_r)

    def stop(self) -> None:
        for fd in (self.out_w, self.err_w):
            if fd >= 0:
                _close(fd)
        self.out_w = self.err_w = -1
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGTERM)
            if not self.process.wait(LOGGER_STOP_TIMEOUT):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(None)


class _Child:
    """A child we spawned and reap ourselves (protected from the orphan reaper)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.status: int | None = None
        reaper.protect(pid)

    def poll(self) -> int | None:
        if self.status is None:
            try:
                done, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                done, status = self.pid, 0
            if done:
                self.status = os.waitstatus_to_exitcode(status)
                reaper.unprotect(self.pid)
        return self.status

    def wait(self, timeout: float | None) -> bool:
        """True once exited; False if ``timeout`` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True


def _open_fifo_writer(path: str) -> tuple[int, int]:
    """(writer, keep-alive reader) on an output FIFO, without blocking."""
    try:
        reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise StdioError(f"cannot open fifo {path}: {exc.strerror}") from None
    try:
        writer = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as exc:
        _close(reader)
        raise StdioError(f"cannot open fifo {path}: {exc.strerror}") from None
    return writer, reader


class ProcessStdio:
    """Open stdio of one process; :attr:`io` is what the backend gets."""

    def __init__(self, spec: StdioSpec, container_id: str, namespace: str) -> None:
        self.spec = spec
        self.container_id = container_id
        self.namespace = namespace
        self._owned: list[int] = []  # fds we close on close()
        self._child: list[int] = []  # fds handed to the process; closed after launch
        self._copies: list[_Copy] = []
        self._logger: _Logger | None = None
        self._stdin_writer: int | None = None
        self._stdin_reader: int | None = None
        self._wake = os.pipe2(os.O_CLOEXEC)
        self._owned += list(self._wake)
        self.console: int | None = None
        self._out_dsts: list[int] = []
        self._console_eof: list[int] = []  # FIFO ends the console copy closes at EOF
        self._closed = False
        try:
            self.io = self._open()
        except BaseException:
            self.close()
            raise

    # -- setup --------------------------------------------------------------

    def _open(self) -> ProcessIO:
        spec = self.spec
        if spec.is_null:
            return ProcessIO(terminal=spec.terminal)
        stdin = self._open_stdin(spec.stdin) if spec.stdin else None
        uri = urllib.parse.urlsplit(spec.stdout)
        scheme = uri.scheme or "fifo"
        stdout: int | None = None
        stderr: int | None = None
        if scheme == "fifo":
            stdout = self._fifo_output(spec.stdout, "stdout") if spec.stdout else None
            if spec.stderr and not spec.terminal:
                stderr = self._fifo_output(spec.stderr, "stderr")
        elif scheme in ("binary", "binary-v2"):
            self._logger = _Logger(uri, self.container_id, self.namespace)
            self._out_dsts = [self._logger.out_w]
            stdout, stderr = self._logger.out_w, self._logger.err_w
            if spec.terminal:
                stderr = None
        elif scheme == "file":
            path = urllib.parse.unquote(uri.path)
            if uri.netloc or not os.path.isabs(path):
                raise StdioError(f"file log URI needs an absolute path: {spec.stdout}")
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise StdioError(f"cannot open log file {path}: {exc.strerror}") from None
            self._owned.append(fd)
            self._out_dsts = [fd]
            stdout = fd
            stderr = None if spec.terminal else fd
        else:
            raise StdioError(f"unsupported stdio URI scheme {uri.scheme!r} in {spec.stdout!r}")
        if spec.terminal:
            # The backend allocates the pty; we copy its master (attach_console).
            return ProcessIO(terminal=True)
        return ProcessIO(stdin=stdin, stdout=stdout, stderr=stderr)

    def _open_stdin(self, path: str) -> int | None:
        try:
            reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            # Our own writer keeps the reader from seeing EOF when the client
            # detaches; CloseIO closes it (containerd init.go openStdin).
            writer = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise StdioError(f"cannot open stdin fifo {path}: {exc.strerror}") from None
        self._owned.append(reader)
        self._stdin_reader = reader
        self._stdin_writer = writer
        if self.spec.terminal:
            return None
        r, w = os.pipe2(os.O_CLOEXEC)
        self._child.append(r)
        copy = _Copy(reader, [w], "stdin", wake=self._wake, on_eof=[w])
        self._copies.append(copy)
        return r

    def _fifo_output(self, path: str, name: str) -> int:
        writer, keepalive = _open_fifo_writer(path)
        if self.spec.terminal:
            self._out_dsts = [writer]
            self._console_eof = [writer, keepalive]
            return writer
        try:
            r, w = os.pipe2(os.O_CLOEXEC)
        except OSError:
            _close(writer)
            _close(keepalive)
            raise
        self._child.append(w)
        # As containerd's copyPipes: once the process side reaches EOF the
        # FIFO is closed, so the client sees EOF (CRI's ExecSync waits for it)
        # without waiting for Delete.
        self._copies.append(_Copy(r, [writer], name, on_eof=[writer, keepalive, r]))
        return w

    # -- lifecycle ----------------------------------------------------------

    def launched(self, console: int | None) -> None:
        """The process exists: drop our copies of its ends, start copying."""
        for fd in self._child:
            _close(fd)
        self._child.clear()
        if self._logger is not None and not self.spec.terminal:
            # The process holds its own copies of the logger's pipe ends;
            # ours must go so the logger sees EOF when the process exits.
            _close(self._logger.out_w)
            _close(self._logger.err_w)
            self._logger.out_w = self._logger.err_w = -1
        if console is not None:
            self.console = console
            self._copies.append(
                _Copy(console, list(self._out_dsts), "console", on_eof=self._console_eof)
            )
            self._console_eof = []
            if self._stdin_reader is not None:
                self._copies.append(
                    _Copy(self._stdin_reader, [console], "console stdin", wake=self._wake)
                )
        for copy in self._copies:
            copy.start()

    def close_stdin(self) -> None:
        """CloseIO: drop the shim-held stdin writer; EOF follows once the client closes."""
        writer, self._stdin_writer = self._stdin_writer, None
        _close(writer)

    def resize(self, width: int, height: int) -> None:
        """ResizePty: TIOCSWINSZ on the master; without a console a no-op."""
        if self.console is not None:
            set_window_size(self.console, ConsoleSize(height=height, width=width))

    def wait_output(self, timeout: float) -> bool:
        """Block until every output copy reached EOF (or ``timeout``)."""
        deadline = time.monotonic() + timeout
        for copy in self._copies:
            if copy.wake is not None:
                continue
            if not copy.done.wait(max(0.0, deadline - time.monotonic())):
                return False
        # Let a logger drain its pipes and exit by itself before the SIGTERM
        # of close() (containerd only signals after closing them).
        return self._logger is None or self._logger.process.wait(
            max(0.0, deadline - time.monotonic())
        )

    def close(self) -> None:
        """Stop copying and close everything; idempotent."""
        if self._closed:
            return
        self._closed = True
        for copy in self._copies:
            copy.stop()
        self.close_stdin()
        for fd in self._child:
            _close(fd)
        self._child.clear()
        if self._logger is not None:
            self._logger.stop()
        # Give the stdin copier a moment to see the wake-up before its fd goes.
        for copy in self._copies:
            if copy.wake is not None:
                copy.done.wait(1.0)
        if self.console is not None:
            for copy in self._copies:
                if copy.src == self.console:
                    copy.done.wait(1.0)
            _close(self.console)
            self.console = None
        for copy in self._copies:
            if not copy.started:  # never launched: its fds are still ours
                for fd in copy.on_eof:
                    _close(fd)
                copy.on_eof.clear()
        for fd in self._console_eof:
            _close(fd)
        self._console_eof.clear()
        for fd in self._owned:
            _close(fd)
        self._owned.clear()
