"""Terminals end to end with the ``pysandbox`` CLI (issue #4 "Console").

Driven through REAL host pseudo-terminals (``integration/_pty.py``):
``pysandbox run`` of a bundle with ``process.terminal`` relays the caller's
terminal; ``create --console-socket`` hands the pty master over SCM_RIGHTS;
``exec --tty`` gives an exec'd shell its own terminal. Inside, busybox sh
finds job control on its terminal, ``stty size`` reads the window size,
^C interrupts the foreground job (the Sentry's line discipline makes the
signal for the sandbox's foreground group), and resizes arrive.

Needs root, ptrace and a static busybox (see test_runtime_boot).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from integration._pty import PtyDriver
from integration.test_runtime_boot import (
    PYSANDBOX,
    Runtime,
    make_bundle,
    requirements,  # noqa: F401 (fixture)
)

pytestmark = pytest.mark.ptrace

PROMPT = b"box$ "
ENV = ["PATH=/bin", "PS1=box$ ", "TERM=dumb"]
EXTRA_APPLETS = ("stty", "tty", "kill", "ps")


def _tty_bundle(tmp: Path, args: list[str], **changes: object) -> Path:
    bundle = make_bundle(tmp, args, process_terminal=True, process_env=ENV, **changes)
    for applet in EXTRA_APPLETS:
        link = bundle / "rootfs" / "bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    return bundle


@pytest.fixture
def pysandbox(tmp_path: Path, requirements: None) -> Runtime:  # noqa: F811
    return Runtime(PYSANDBOX, tmp_path / "state")


@pytest.fixture
def cid(pysandbox: Runtime) -> Iterator[str]:
    name = f"tty{os.getpid()}{threading.get_ident() % 10000}"
    try:
        yield name
    finally:
        pysandbox.force_delete(name)


@pytest.fixture
def drivers() -> Iterator[list[PtyDriver]]:
    opened: list[PtyDriver] = []
    yield opened
    for d in opened:
        d.close()


def _command(term: PtyDriver, line: bytes) -> bytes:
    """Type ``line``; the output up to the next prompt (cursor queries dropped)."""
    term.send(line + b"\r")
    return term.expect(PROMPT).replace(b"\x1b[6n", b"")


def test_run_with_a_terminal_prompt_echo_size_ctrl_c_and_exit_status(
    pysandbox: Runtime, tmp_path: Path, cid: str, drivers: list[PtyDriver]
) -> None:
    bundle = _tty_bundle(tmp_path, ["/bin/sh"], process_consoleSize={"height": 33, "width": 111})
    term = PtyDriver(
        [*pysandbox.argv, "--root", str(pysandbox.root), "run", "--bundle", str(bundle), cid],
        rows=50,
        cols=132,
    )
    drivers.append(term)
    banner = term.expect(PROMPT)
    assert b"job control turned off" not in banner
    assert b"can't access tty" not in banner
    # Typed input is echoed by the container's line discipline.
    out = _command(term, b"echo hi there")
    assert out.startswith(b"echo hi there"), out
    assert b"\r\nhi there\r\n" in out
    # process.consoleSize, not the caller's 50x132, is the window size.
    assert b"33 111" in _command(term, b"stty size")
    assert b"/dev/pts/" in _command(term, b"tty")
    # ^C interrupts the foreground job only; the shell carries on.
    term.send(b"sh -c 'echo start$((1+1)); exec sleep 1000'\r")
    term.expect(b"start2\r")
    term.send(b"\x03")
    term.expect(PROMPT)
    assert b"status=130" in _command(term, b"echo status=$?")
    term.send(b"exit 3\r")
    assert term.wait() == 3
    assert pysandbox("state", cid).returncode != 0  # run deleted it


def _console_receiver(path: str, got: dict[str, object]) -> threading.Thread:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def run() -> None:
        server.settimeout(60)
        try:
            conn, _ = server.accept()
            with conn:
                msg, fds, _, _ = socket.recv_fds(conn, 4096, 1)
                got["name"], got["fds"] = msg.decode(), fds
        finally:
            server.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


class _Master(PtyDriver):
    """A pty master received over a console socket (no child of ours runs on it)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pid = 0
        self.seen = b""
        self.status = 0


def test_console_socket_receives_the_master_and_resizes_reach_the_sandbox(
    pysandbox: Runtime, tmp_path: Path, cid: str
) -> None:
    path = str(tmp_path / "console.sock")
    got: dict[str, object] = {}
    receiver = _console_receiver(path, got)
    bundle = _tty_bundle(tmp_path, ["/bin/sh"], process_consoleSize={"height": 21, "width": 77})
    r = pysandbox("create", "--bundle", str(bundle), "--console-socket", path, cid)
    assert r.returncode == 0, r.stderr
    receiver.join(60)
    fds = got["fds"]
    assert isinstance(fds, list) and len(fds) == 1
    assert str(got["name"]).startswith("/dev/pts/")
    term = _Master(fds[0])
    try:
        assert pysandbox("start", cid).returncode == 0
        term.expect(PROMPT)
        assert b"21 77" in _command(term, b"stty size")
        # The console socket's owner resizes its master as go-runc does
        # (TIOCSWINSZ): the sandbox's terminal follows (SIGWINCH inside).
        term.send(
            b"while [ \"$(stty size)\" != '40 100' ]; do sleep 1; done; echo size-ok-$((6*7))\r"
        )
        term.resize(40, 100)
        term.expect(b"size-ok-42\r\n")
        term.expect(PROMPT)
        term.send(b"exit 4\r")
        # The sandbox ends with its init: the master reads EIO (pty(7)).
        with pytest.raises(AssertionError, match="terminal closed"):
            term.expect(b"never printed")
    finally:
        term.close()


def test_exec_tty_gets_its_own_terminal(
    pysandbox: Runtime, tmp_path: Path, cid: str, drivers: list[PtyDriver]
) -> None:
    bundle = make_bundle(tmp_path, ["/bin/sleep", "1000"], process_env=ENV)
    for applet in EXTRA_APPLETS:
        (bundle / "rootfs" / "bin" / applet).symlink_to("busybox")
    assert pysandbox("create", "--bundle", str(bundle), cid).returncode == 0
    assert pysandbox("start", cid).returncode == 0
    term = PtyDriver(
        [*pysandbox.argv, "--root", str(pysandbox.root), "exec", "-t", cid, "/bin/sh"],
        rows=45,
        cols=120,
    )
    drivers.append(term)
    banner = term.expect(PROMPT)
    assert b"job control turned off" not in banner
    # The caller's terminal size, and a terminal of the sandbox's own devpts.
    assert b"45 120" in _command(term, b"stty size")
    assert b"/dev/pts/" in _command(term, b"tty")
    term.send(b"sh -c 'echo start$((1+1)); exec sleep 1000'\r")
    term.expect(b"start2\r")
    term.send(b"\x03")
    term.expect(PROMPT)
    assert b"status=130" in _command(term, b"echo status=$?")
    # A resize of the caller's terminal: SIGWINCH to the relay, then the
    # control API's ResizeTerminal.
    term.send(b"while [ \"$(stty size)\" != '30 90' ]; do sleep 1; done; echo size-ok-$((6*7))\r")
    term.resize(30, 90)
    term.expect(b"size-ok-42\r\n")
    term.expect(PROMPT)
    term.send(b"exit 5\r")
    assert term.wait() == 5
    # The container's init is untouched.
    assert pysandbox("state", cid).returncode == 0
    assert '"running"' in pysandbox("state", cid).stdout
