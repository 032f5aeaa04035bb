"""``pysandbox run``/``exec`` with a terminal in the foreground (runc's tty.go).

Without ``--console-socket`` the caller itself is the terminal's user: the
runtime makes the pty, keeps its master and copies between it and the
caller's stdin/stdout. When the caller's stdin is a terminal it is put in
raw mode for the duration (the container's own line discipline, in the
Sentry, does echo, editing and ^C), and its window size is passed on: at
the start, unless ``process.consoleSize`` chose one, and on every SIGWINCH
(``on_resize``: the sandbox's ResizeTerminal, so the container's foreground
group sees SIGWINCH).

The copies run in daemon threads; the master's copy ends with EIO once the
sandbox closed the replica (pty(7)), which :meth:`TerminalRelay.finish`
waits for so the container's last output is not lost.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import termios
import threading
import tty
from collections.abc import Callable
from typing import Any

from runtime.console import get_window_size, set_window_size
from runtime.spec import ConsoleSize

log = logging.getLogger("pysandbox.ttyrelay")

CHUNK = 32768


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class TerminalRelay:
    """The caller's stdio ⇄ the pty master ``master`` (owned: closed by finish)."""

    def __init__(self, master: int, stdin: int = 0, stdout: int = 1) -> None:
        self.master = master
        self.stdin = stdin
        self.stdout = stdout
        self.on_resize: Callable[[int, int], None] | None = None
        self._saved: list[Any] | None = None
        self._old_winch: Any = None
        self._resized = threading.Event()
        self._stopping = False
        self._finished = False
        self._output = threading.Thread(target=self._copy_out, name="tty-out", daemon=True)

    @staticmethod
    def caller_size(stdin: int = 0) -> ConsoleSize | None:
        """The caller's terminal size (None when stdin is not a terminal)."""
        if not os.isatty(stdin):
            return None
        try:
            size = get_window_size(stdin)
        except OSError:
            return None
        return size if size.height and size.width else None

    def start(self) -> None:
        """Raw mode on the caller's terminal, then copy both ways."""
        if os.isatty(self.stdin):
            self._saved = termios.tcgetattr(self.stdin)
            tty.setraw(self.stdin, termios.TCSANOW)
            if threading.current_thread() is threading.main_thread():
                self._old_winch = signal.signal(signal.SIGWINCH, self._on_winch)
                threading.Thread(target=self._resize_loop, name="tty-winch", daemon=True).start()
        self._output.start()
        threading.Thread(target=self._copy_in, name="tty-in", daemon=True).start()

    def finish(self, timeout: float = 5.0) -> None:
        """Wait (up to ``timeout``) for the sandbox's last output, restore the
        caller's terminal, close the master; idempotent."""
        if self._finished:
            return
        self._finished = True
        if self._output.is_alive():
            self._output.join(timeout)
        self._stopping = True
        self._resized.set()
        if self._old_winch is not None:
            signal.signal(signal.SIGWINCH, self._old_winch)
            self._old_winch = None
        if self._saved is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(self.stdin, termios.TCSADRAIN, self._saved)
            self._saved = None
        with contextlib.suppress(OSError):
            os.close(self.master)

    # -- copies --------------------------------------------------------------------
    def _copy_in(self) -> None:
        while not self._stopping:
            try:
                data = os.read(self.stdin, CHUNK)
            except OSError:
                return
            if not data:
                return  # the caller's stdin ended; the container keeps its terminal
            try:
                _write_all(self.master, data)
            except OSError:
                return

    def _copy_out(self) -> None:
        while True:
            try:
                data = os.read(self.master, CHUNK)
            except OSError as exc:
                if exc.errno != errno.EIO:  # EIO: the replica is closed everywhere
                    log.debug("terminal relay: read: %s", exc)
                return
            if not data:
                return
            try:
                _write_all(self.stdout, data)
            except OSError:
                return

    # -- resizes -------------------------------------------------------------------
    def _on_winch(self, _signo: int, _frame: object) -> None:
        self._resized.set()

    def _resize_loop(self) -> None:
        """Runs the resize outside the signal handler (it makes a control call)."""
        while True:
            self._resized.wait()
            self._resized.clear()
            if self._stopping:
                return
            size = self.caller_size(self.stdin)
            if size is None:
                continue
            try:
                set_window_size(self.master, size)
                if self.on_resize is not None:
                    self.on_resize(size.height, size.width)
            except Exception as exc:  # the container may be gone: not the caller's problem
                log.debug("terminal relay: resize: %s", exc)
