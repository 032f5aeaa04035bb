"""FDs passed with a control call: the preamble before the ttrpc frames."""

from __future__ import annotations

import os
import select
import socket
from pathlib import Path

import pytest

from runtime.boot import fdlistener
from runtime.boot.fdlistener import FDListener, FDStore
from runtime.controlclient import FD_MAGIC, send_fds


def _listener(tmp_path: Path) -> tuple[str, socket.socket]:
    path = str(tmp_path / "ctl.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(4)
    return path, sock


def _accept(listener: FDListener) -> bytes:
    """What the next served connection starts with (as the ttrpc server
    accepts: wait for the listener to be readable, then accept)."""
    while True:
        assert select.select([listener.fileno()], [], [], 10)[0], "no connection"
        conn = listener.accept()
        if conn is not None:
            break
    with conn:
        assert conn.getblocking()
        conn.settimeout(10)
        return conn.recv(100)


def test_preamble_fds_are_filed_under_their_token(tmp_path: Path) -> None:
    path, sock = _listener(tmp_path)
    store = FDStore()
    listener = FDListener(sock, store)
    r, w = os.pipe()
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(path)
    token = send_fds(client, [w])
    client.sendall(b"frames")
    os.close(w)
    # The stream the ttrpc server gets starts after the preamble.
    assert _accept(listener) == b"frames"
    (got,) = store.take(token)
    os.write(got, b"x")
    os.close(got)
    assert os.read(r, 1) == b"x"
    assert store.take(token) == []  # taken once
    client.close()
    os.close(r)
    listener.close()


def test_plain_ttrpc_client_passes_through(tmp_path: Path) -> None:
    path, sock = _listener(tmp_path)
    listener = FDListener(sock, FDStore())
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(path)
    client.sendall(b"\x00\x00\x00\x05rest")
    assert _accept(listener) == b"\x00\x00\x00\x05rest"
    client.close()
    listener.close()


def test_truncated_preamble_drops_the_connection(tmp_path: Path) -> None:
    path, sock = _listener(tmp_path)
    listener = FDListener(sock, FDStore())
    bad = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    bad.connect(path)
    bad.sendall(FD_MAGIC + b"short")
    bad.shutdown(socket.SHUT_WR)
    good = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    good.connect(path)
    good.sendall(b"next")
    # The bad one is dropped; the listener goes on to the next connection.
    assert _accept(listener) == b"next"
    assert bad.recv(10) == b""
    bad.close()
    good.close()
    listener.close()


def test_unclaimed_fds_are_closed_with_the_store() -> None:
    store = FDStore()
    r, w = os.pipe()
    store.put("t", [w])
    store.close()
    with pytest.raises(OSError):
        os.fstat(w)
    os.close(r)


def test_a_silent_connection_is_served_as_a_plain_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fdlistener, "FIRST_BYTES_TIMEOUT", 0.01)
    path, sock = _listener(tmp_path)
    store = FDStore()
    listener = FDListener(sock, store)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(path)
    assert select.select([listener.fileno()], [], [], 10)[0]
    conn = listener.accept()  # returns after the first-bytes wait, empty-handed
    assert conn is not None and conn.getblocking()
    client.sendall(b"late")
    assert conn.recv(10) == b"late"
    assert store._fds == {}
    conn.close()
    client.close()
    listener.close()
