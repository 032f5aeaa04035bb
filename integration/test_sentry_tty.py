"""An interactive busybox sh under ``python -m sentry run``, driven through a
REAL host pty (python's ``pty`` module), as a person at a terminal would:
job control with Ctrl-Z / ``jobs`` / ``fg``, Ctrl-C to the foreground
group, SIGWINCH on a resize, and ``ps`` inside the sandbox.

The host terminal's line discipline turns the keys into host signals for
the Sentry (the terminal's foreground process); the Sentry forwards them to
the sandbox's foreground process group, which the shell set with
TIOCSPGRP on its stdin (``sentry.kernel.sessions``).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator

import pytest

from integration._pty import PtyDriver
from integration._sentry import require_sentry

BUSYBOX = shutil.which("busybox") or "/bin/busybox"

pytestmark = [
    pytest.mark.ptrace,
    pytest.mark.skipif(not shutil.which("busybox"), reason="busybox-static not installed"),
]

#: How long to wait for an expected piece of output.
TIMEOUT = 20.0


class Terminal(PtyDriver):
    """A host pty whose other side runs ``python -m sentry run -- ARGV``."""

    def __init__(self, argv: list[str], rows: int = 24, cols: int = 80) -> None:
        # The shell's prompt must be its default, not the caller's $PS1 (an
        # activated venv changes it).
        env = {k: v for k, v in os.environ.items() if k not in ("PS1", "PS2")}
        super().__init__(
            [sys.executable, "-m", "sentry", "run", "--", *argv],
            rows=rows,
            cols=cols,
            env=env,
            cwd=os.getcwd(),
        )

    def expect(self, marker: bytes, timeout: float = TIMEOUT) -> bytes:
        return super().expect(marker, timeout)


@pytest.fixture
def terminal() -> Iterator[type[Terminal]]:
    require_sentry()
    opened: list[Terminal] = []

    class Tracked(Terminal):
        def __init__(self, argv: list[str], rows: int = 24, cols: int = 80) -> None:
            super().__init__(argv, rows, cols)
            opened.append(self)

    yield Tracked
    for t in opened:
        t.close()


#: busybox sh's prompt in / (the Sentry's default --cwd)
PROMPT = b"/ # "


def _command(term: Terminal, line: bytes) -> bytes:
    """Type ``line`` at the prompt; the output up to the next prompt."""
    term.send(line + b"\r")
    out = term.expect(PROMPT)
    return out.replace(b"\x1b[6n", b"")


def test_ctrl_z_jobs_fg_and_ctrl_c_in_an_interactive_shell(terminal: type[Terminal]) -> None:
    term = terminal([BUSYBOX, "sh", "-i"])
    banner = term.expect(PROMPT)
    # Job control is on: the shell found its terminal's foreground group.
    assert b"job control turned off" not in banner
    assert b"can't access tty" not in banner
    out = _command(term, b"echo me=$$")
    assert b"me=1" in out
    term.send(b"sleep 100\r")
    term.expect(b"sleep 100\r\n")
    time.sleep(0.5)  # let the job start and take the terminal
    term.send(b"\x1a")  # Ctrl-Z
    stopped = term.expect(PROMPT)
    assert b"Stopped" in stopped and b"sleep 100" in stopped
    assert b"Stopped" in _command(term, b"jobs")
    # The job is really stopped: ps in the sandbox shows it in state T.
    ps = _command(term, b"ps -o pid,stat,comm")
    assert any(row.split()[1:] == [b"T", b"sleep"] for row in ps.splitlines()[1:] if row.split())
    term.send(b"fg\r")
    term.expect(b"sleep 100\r\n")
    time.sleep(0.5)
    term.send(b"\x03")  # Ctrl-C: to the foreground job, not to the shell
    term.expect(PROMPT)
    assert b"status=130" in _command(term, b"echo status=$?")
    assert b"still here" in _command(term, b"echo still here")
    assert _command(term, b"jobs").strip(b"\r\n ") == b"jobs"
    term.send(b"exit 7\r")
    assert term.wait() == 7


def test_ctrl_c_at_the_prompt_does_not_end_the_shell(terminal: type[Terminal]) -> None:
    term = terminal([BUSYBOX, "sh", "-i"])
    term.expect(PROMPT)
    term.send(b"half a line\x03")
    term.expect(PROMPT)
    assert b"alive" in _command(term, b"echo alive")
    term.send(b"exit\r")
    assert term.wait() == 0


def test_a_program_that_ignores_sigint_keeps_running(terminal: type[Terminal]) -> None:
    # Without forwarding, ^C would stop the whole Sentry (exit status 130).
    term = terminal([BUSYBOX, "sh", "-c", "trap '' INT; echo ready; read x; echo got=$x"])
    term.expect(b"ready")
    term.send(b"\x03")
    time.sleep(0.5)
    term.send(b"hello\r")
    term.expect(b"got=hello")
    assert term.wait() == 0


def _run_line(term: Terminal, line: bytes) -> bytes:
    term.send(line + b"\r")
    return term.expect(b"ok\r\n")


def test_resize_sends_sigwinch_to_the_foreground_group(terminal: type[Terminal]) -> None:
    script = (
        "trap 'echo winch $(stty size)' WINCH; echo ready; read c; eval \"$c\"; echo ok;"
        " read x; read y; echo done"
    )
    term = terminal([BUSYBOX, "sh", "-c", script], rows=24, cols=80)
    term.expect(b"ready")
    assert b"24 80" in _run_line(term, b"stty size")
    term.resize(40, 132)
    # The trap runs at once: the signal interrupts the shell's read.
    term.expect(b"winch 40 132")
    term.send(b"a\r")
    term.send(b"b\r")
    term.expect(b"done")
    assert term.wait() == 0


def test_background_job_reading_the_terminal_is_stopped_by_sigttin(
    terminal: type[Terminal],
) -> None:
    term = terminal([BUSYBOX, "sh", "-i"])
    term.expect(PROMPT)
    _command(term, b"cat &")
    time.sleep(1.0)  # cat reads from the background: SIGTTIN stops it
    jobs = _command(term, b"jobs")
    assert b"Stopped" in jobs and b"cat" in jobs
    ps = _command(term, b"ps -o stat,comm")
    assert any(row.split() == [b"T", b"cat"] for row in ps.splitlines())
    _command(term, b"kill -9 %1")
    time.sleep(0.5)
    assert b"Killed" in _command(term, b"jobs") + _command(term, b"true")
    term.send(b"exit\r")
    assert term.wait() == 0
