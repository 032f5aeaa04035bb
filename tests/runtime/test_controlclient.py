"""The control client tells a sandbox that went away from one that failed."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from protos.pysandbox.control.v1 import control_pb2 as pb
from runtime import controlclient
from runtime.errors import RuntimeFailure


def _closing_server(path: Path) -> threading.Thread:
    """Accept one connection, read a little, then close it without answering."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(1)

    def serve() -> None:
        conn, _ = srv.accept()
        conn.recv(10)
        conn.close()
        srv.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t


def test_peer_closing_mid_call_is_sandbox_gone(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    t = _closing_server(path)
    with pytest.raises(controlclient.SandboxGone):
        controlclient.call(str(path), "Wait", pb.WaitRequest(), pb.WaitResponse, timeout=10)
    t.join(5)


def test_sandbox_gone_is_still_a_runtime_failure() -> None:
    assert issubclass(controlclient.SandboxGone, RuntimeFailure)
