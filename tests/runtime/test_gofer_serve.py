"""The gofer's serving program (runtime/gofer/stub/gofer_serve.c), run
directly on socketpairs: the directfs protocol, hostile requests, paths
that need JSON escaping, and its exit when the Sentry's end closes."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.gofer import directfs


class Served:
    """gofer_serve with one connection per (path, readonly)."""

    def __init__(self, mounts: list[tuple[str, bool]]) -> None:
        self.socks: list[socket.socket] = []
        theirs = []
        for _ in mounts:
            a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            self.socks.append(a)
            theirs.append(b)
        pairs = zip(theirs, mounts, strict=True)
        args = [f"{b.fileno()}:{int(ro)}:{path}" for b, (path, ro) in pairs]
        self.proc = subprocess.Popen(
            [directfs.SERVER, *args],
            pass_fds=[b.fileno() for b in theirs],
            stderr=subprocess.PIPE,
        )
        for b in theirs:
            b.close()

    def close(self) -> int:
        for s in self.socks:
            s.close()
        return self.proc.wait(timeout=10)


@pytest.fixture
def serve() -> Iterator[type[Served]]:
    started: list[Served] = []

    class Tracked(Served):
        def __init__(self, mounts: list[tuple[str, bool]]) -> None:
            super().__init__(mounts)
            started.append(self)

    yield Tracked
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()


def test_donates_directory_and_file_fds(serve, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "marker").write_text("hi")
    (tmp_path / "f").write_text("file")
    g = serve([(str(tmp_path / "d"), True), (str(tmp_path / "f"), False)])
    fd, info = directfs.request_root(g.socks[0])
    try:
        assert info == {"path": str(tmp_path / "d"), "readonly": True}
        assert os.stat("marker", dir_fd=fd).st_size == 2
        assert os.readlink(f"/proc/self/fd/{fd}") == str(tmp_path / "d")
    finally:
        os.close(fd)
    fd, info = directfs.request_root(g.socks[1])
    try:
        assert info == {"path": str(tmp_path / "f"), "readonly": False}
        # A single-file mount: the open file itself, writable.
        assert stat.S_ISREG(os.fstat(fd).st_mode)
        os.pwrite(fd, b"F", 0)
        assert (tmp_path / "f").read_text() == "File"
    finally:
        os.close(fd)
    # Asked again, it answers again.
    fd, _ = directfs.request_root(g.socks[0])
    os.close(fd)
    assert g.close() == 0


def test_read_only_file_mount_is_opened_read_only(serve, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("file")
    g = serve([(str(tmp_path / "f"), True)])
    fd, info = directfs.request_root(g.socks[0])
    try:
        assert info["readonly"] is True
        with pytest.raises(OSError):
            os.pwrite(fd, b"x", 0)
    finally:
        os.close(fd)
    assert g.close() == 0


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"garbage",
        b'{"op": "root", "x": 1}',
        b'{"op": "leaf"}',
        b'{"op": "root"',
        b"\xff" * 5000,  # longer than a request may be: truncated, refused
    ],
)
def test_hostile_requests_get_an_error_and_no_fd(serve, tmp_path: Path, request_bytes) -> None:
    g = serve([(str(tmp_path), False)])
    g.socks[0].send(request_bytes)
    data, fds, _, _ = socket.recv_fds(g.socks[0], 4096, 4)
    assert fds == []
    assert json.loads(data)["error"].startswith("unknown request")
    # The connection still works.
    fd, _ = directfs.request_root(g.socks[0])
    os.close(fd)
    assert g.close() == 0


def test_whitespace_in_the_request_is_accepted(serve, tmp_path: Path) -> None:
    g = serve([(str(tmp_path), False)])
    g.socks[0].send(b' {\n"op" :\t"root"}  ')
    data, fds, _, _ = socket.recv_fds(g.socks[0], 4096, 1)
    assert len(fds) == 1 and json.loads(data)["path"] == str(tmp_path)
    os.close(fds[0])
    assert g.close() == 0


def test_paths_are_json_escaped_like_python_does(serve, tmp_path: Path) -> None:
    name = os.fsdecode(b'q"uo\\te \x01 \xc3\xa9 bad\xff')
    path = tmp_path / name
    path.mkdir()
    g = serve([(str(path), False)])
    fd, info = directfs.request_root(g.socks[0])
    os.close(fd)
    # Invalid UTF-8 arrives surrogate-escaped, as json.dumps would send it.
    assert info["path"] == str(path)
    assert g.close() == 0


def test_missing_mount_point_is_an_error_reply(serve, tmp_path: Path) -> None:
    g = serve([(str(tmp_path / "gone"), False)])
    with pytest.raises(OSError, match="No such file or directory"):
        directfs.request_root(g.socks[0])
    assert g.close() == 0


def test_symlinked_mount_point_is_refused(serve, tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to("/etc/passwd")
    g = serve([(str(tmp_path / "link"), True)])
    with pytest.raises(OSError, match=r"gofer: open .*symbolic links"):
        directfs.request_root(g.socks[0])
    assert g.close() == 0


def test_exits_when_every_connection_is_closed(serve, tmp_path: Path) -> None:
    g = serve([(str(tmp_path), False), (str(tmp_path), True)])
    g.socks[0].close()
    fd, _ = directfs.request_root(g.socks[1])  # the other one still serves
    os.close(fd)
    g.socks[1].close()
    assert g.proc.wait(timeout=10) == 0


@pytest.mark.parametrize("arg", ["x:0:/", "3:2:/", "3:0:relative", "3:0"])
def test_bad_arguments_exit_2(arg: str) -> None:
    r = subprocess.run([directfs.SERVER, arg], capture_output=True, timeout=10, check=False)
    assert r.returncode == 2
    assert b"bad argument" in r.stderr


def test_no_arguments_exit_2() -> None:
    r = subprocess.run([directfs.SERVER], capture_output=True, timeout=10, check=False)
    assert r.returncode == 2 and b"usage" in r.stderr


def test_server_args_format(tmp_path: Path) -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with a, b:
        conns = [directfs.Connection(a, "/x:y", True), directfs.Connection(b, "/", False)]
        assert directfs.server_args(conns) == [f"{a.fileno()}:1:/x:y", f"{b.fileno()}:0:/"]
