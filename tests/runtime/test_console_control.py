"""Console socket (pty master over SCM_RIGHTS) and the control socket file."""

from __future__ import annotations

import os
import socket
import stat
import threading
from pathlib import Path

import pytest

from runtime import console, controlsock
from runtime.errors import RuntimeFailure
from runtime.spec import ConsoleSize


def _receiver(path: str, got: dict) -> threading.Thread:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def run() -> None:
        conn, _ = server.accept()
        with conn:
            msg, fds, _, _ = socket.recv_fds(conn, 4096, 1)
            got["name"], got["fds"] = msg.decode(), fds
        server.close()

    t = threading.Thread(target=run)
    t.start()
    return t


def test_console_master_is_sent_with_window_size(tmp_path: Path) -> None:
    path = str(tmp_path / "console.sock")
    got: dict = {}
    t = _receiver(path, got)
    replica = console.new_with_socket(path, ConsoleSize(height=24, width=100))
    t.join(10)
    (master,) = got["fds"]
    try:
        assert got["name"] == os.ttyname(replica) and got["name"].startswith("/dev/pts/")
        assert console.get_window_size(master) == ConsoleSize(24, 100)
        assert console.get_window_size(replica) == ConsoleSize(24, 100)
        os.write(master, b"hello\n")
        assert os.read(replica, 100) == b"hello\n"
        assert not os.get_inheritable(replica)
    finally:
        os.close(master)
        os.close(replica)


def test_console_socket_missing_is_clear_and_leaks_nothing(tmp_path: Path) -> None:
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(RuntimeFailure, match="cannot send the console to"):
        console.new_with_socket(str(tmp_path / "nope.sock"))
    assert set(os.listdir("/proc/self/fd")) == before


def test_control_socket_in_root(tmp_path: Path) -> None:
    path, sock = controlsock.create(str(tmp_path), "c1")
    try:
        assert path == str(tmp_path / "pysandbox-c1.sock")
        st = os.stat(path)
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
        client = controlsock.connect(path)
        conn, _ = sock.accept()
        client.sendall(b"x")
        assert conn.recv(1) == b"x"
        conn.close()
        client.close()
    finally:
        sock.close()
        controlsock.remove(path)
    assert not os.path.exists(path)
    controlsock.remove(path)  # idempotent


def test_control_socket_long_path(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    path, sock = controlsock.create(str(deep), "c1")
    try:
        assert path.startswith(str(deep)) and len(path) >= controlsock.UNIX_PATH_MAX
        client = controlsock.connect(path)
        conn, _ = sock.accept()
        conn.close()
        client.close()
    finally:
        sock.close()
        controlsock.remove(path)


def test_control_socket_falls_back_when_root_is_unusable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    sandbox_id = f"test-{os.getpid()}"
    path, sock = controlsock.create(str(blocker), sandbox_id)
    try:
        assert os.path.dirname(path) in controlsock.FALLBACK_DIRS
    finally:
        sock.close()
        controlsock.remove(path)


def test_connect_to_missing_socket(tmp_path: Path) -> None:
    with pytest.raises(RuntimeFailure, match="cannot connect to sandbox control socket"):
        controlsock.connect(str(tmp_path / "none.sock"))
