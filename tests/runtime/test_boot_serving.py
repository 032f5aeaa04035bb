"""The control API served as ``pysandbox boot`` serves it: the Controller on
``ttrpc.SyncServer`` behind the FD listener, called through
``runtime.controlclient``, against the stand-in Sentry; and a boot process's
imports without anyio or asyncio.
"""

from __future__ import annotations

import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from google.protobuf import empty_pb2

from protos.pysandbox.control.v1 import control_pb2 as pb
from runtime import controlclient
from runtime.boot import controller
from runtime.boot.controller import Controller
from runtime.boot.fdlistener import FDListener
from runtime.errors import RuntimeFailure
from sentry.kernel import ExitStatus
from tests.runtime.fake_sentry import FakeLoader, FakeThreadGroup
from ttrpc import SyncServer

GUARD = 10.0  # seconds before a stuck test fails instead of hanging
REPO = Path(__file__).resolve().parents[2]


@contextmanager
def served(ctl: Controller) -> Iterator[tuple[str, SyncServer]]:
    """Serve ``ctl`` as boot does, on a socket in a short temporary directory."""
    tmp = tempfile.mkdtemp(prefix="ctl-", dir="/tmp")
    path = os.path.join(tmp, "ctl.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(16)
    server = SyncServer(grace_period=2.0)
    server.register(controller.SERVICE, controller.methods(ctl))
    thread = threading.Thread(target=server.serve_listener, args=(FDListener(sock, ctl.fds),))
    thread.start()
    try:
        yield path, server
    finally:
        server.shutdown(grace_period=1.0)
        thread.join(GUARD)
        shutil.rmtree(tmp, ignore_errors=True)
    assert not thread.is_alive()


def _until(condition: Callable[[], bool]) -> None:
    """Wait for ``condition`` (polled; fails after GUARD seconds)."""
    never = threading.Event()
    for _ in range(int(GUARD / 0.01)):
        if condition():
            return
        never.wait(0.01)
    raise AssertionError("condition not reached")


def _call(path: str, method: str, request: object, response_type: type, **kw: object) -> object:
    return controlclient.call(path, method, request, response_type, timeout=GUARD, **kw)  # type: ignore[arg-type]


def test_wait_answers_at_the_init_exit_while_other_calls_go_on() -> None:
    loader = FakeLoader()
    ctl = Controller("c1", loader)  # type: ignore[arg-type]
    with served(ctl) as (path, server):
        _call(path, "StartRoot", pb.StartRootRequest(container_id="c1"), empty_pb2.Empty)
        exit_watch = threading.Thread(target=ctl.watch_exit)
        exit_watch.start()
        waited: list[object] = []
        waiter = threading.Thread(
            target=lambda: waited.append(
                _call(path, "Wait", pb.WaitRequest(container_id="c1"), pb.WaitResponse)
            )
        )
        waiter.start()
        _until(lambda: server.active_calls == 1)  # the Wait is in flight
        # Other calls on other connections are served meanwhile.
        loader.kernel.thread_groups = {1: FakeThreadGroup(1)}
        _call(path, "Signal", pb.SignalRequest(container_id="c1", signal=15), empty_pb2.Empty)
        assert loader.kernel.sent == [(1, 15, 0)]
        ps = _call(path, "Processes", pb.ProcessesRequest(container_id="c1"), pb.ProcessesResponse)
        assert [p.pid for p in ps.processes] == [1]  # type: ignore[attr-defined]
        event = _call(path, "Event", pb.EventRequest(container_id="c1"), pb.EventResponse)
        assert event.status == "running"  # type: ignore[attr-defined]
        assert waited == [] and waiter.is_alive()
        loader.exit(ExitStatus(code=3))
        waiter.join(GUARD)
        exit_watch.join(GUARD)
        (resp,) = waited
        assert resp.wait_status == 3 << 8  # type: ignore[attr-defined]
        assert ctl.state == "stopped"


def test_fds_passed_with_a_call_reach_the_handler_and_are_closed() -> None:
    loader = FakeLoader()
    ctl = Controller("c1", loader)  # type: ignore[arg-type]
    with served(ctl) as (path, _):
        _call(path, "StartRoot", pb.StartRootRequest(container_id="c1"), empty_pb2.Empty)
        r, w = os.pipe()
        request = pb.ExecuteRequest(
            container_id="c1", process_json=b"{not json", stdio=pb.Stdio(stdout_fd=0)
        )
        with pytest.raises(RuntimeFailure, match="malformed process JSON"):
            _call(path, "Execute", request, pb.ExecuteResponse, fds=[w])
        os.close(w)
        # The sandbox's copy of the write end is closed too: end of file.
        assert select.select([r], [], [], GUARD)[0]
        assert os.read(r, 1) == b""
        os.close(r)


def test_boot_serves_without_anyio_or_asyncio() -> None:
    """What a boot process imports (warm-up included) and serving the
    control API load neither anyio nor asyncio."""
    script = """
import os, socket, sys, tempfile, threading
from runtime.boot import main as boot_main
boot_main.warm_up(None)
from google.protobuf import empty_pb2
from protos.pysandbox.control.v1 import control_pb2 as pb
from runtime import controlclient
from runtime.boot import controller
from runtime.boot.fdlistener import FDListener
from tests.runtime.fake_sentry import FakeLoader
import ttrpc

ctl = controller.Controller("c1", FakeLoader())
path = os.path.join(tempfile.mkdtemp(dir="/tmp"), "ctl.sock")
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.bind(path)
sock.listen(4)
server = ttrpc.SyncServer()
server.register(controller.SERVICE, controller.methods(ctl))
t = threading.Thread(target=server.serve_listener, args=(FDListener(sock, ctl.fds),))
t.start()
controlclient.call(path, "StartRoot", pb.StartRootRequest(container_id="c1"), empty_pb2.Empty)
r, w = os.pipe()
try:
    controlclient.call(path, "Execute", pb.ExecuteRequest(container_id="c1"),
                       pb.ExecuteResponse, fds=[w])
except Exception as exc:
    print("execute:", type(exc).__name__)
server.shutdown()
t.join()
print(sorted(m for m in sys.modules if m.split(".")[0] in ("anyio", "asyncio", "sniffio")))
"""
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-2:] == ["execute: RuntimeFailure", "[]"], out.stdout
