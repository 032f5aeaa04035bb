"""The control service's decisions, against a stand-in for the Sentry.

The real Sentry is exercised end to end in integration/test_runtime_boot.py;
here each status code and signal rule is checked on its own.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

from protos.pysandbox.control.v1 import control_pb2 as pb
from runtime.boot.controller import Controller
from runtime.boot.loader import LoadError
from sentry.kernel import ExitStatus
from tests.runtime.fake_sentry import FakeLoader, FakeThreadGroup
from ttrpc import Code, TTRPCError


def _code(exc: pytest.ExceptionInfo[TTRPCError]) -> Code:
    return Code(exc.value.code)


def _started() -> tuple[Controller, FakeLoader]:
    loader = FakeLoader()
    ctl = Controller("c1", loader)  # type: ignore[arg-type]
    ctl.StartRoot(None, pb.StartRootRequest(container_id="c1"))  # type: ignore[arg-type]
    return ctl, loader


def _signal(ctl: Controller, signo: int, cid: str = "c1", **kw: Any) -> Any:
    req = pb.SignalRequest(container_id=cid, signal=signo, **kw)
    return ctl.Signal(None, req)  # type: ignore[arg-type]


def test_start_root_once_and_only_for_its_container() -> None:
    ctl, _ = _started()
    assert ctl.state == "running"
    with pytest.raises(TTRPCError) as exc:
        ctl.StartRoot(None, pb.StartRootRequest(container_id="c1"))  # type: ignore[arg-type]
    assert _code(exc) == Code.FAILED_PRECONDITION
    assert "cannot start container 'c1' in state running" in exc.value.message
    with pytest.raises(TTRPCError) as exc:
        _signal(ctl, 15, cid="other")
    assert _code(exc) == Code.NOT_FOUND


def test_start_root_load_error_ends_the_container() -> None:
    loader = FakeLoader(LoadError("cannot execute '/nope': No such file or directory", 127))
    ctl = Controller("c1", loader)  # type: ignore[arg-type]
    with pytest.raises(TTRPCError) as exc:
        ctl.StartRoot(None, pb.StartRootRequest(container_id="c1"))  # type: ignore[arg-type]
    assert _code(exc) == Code.FAILED_PRECONDITION
    assert "/nope" in exc.value.message
    ctl.watch_exit()
    assert ctl.exit_status == ExitStatus(code=127)
    assert ctl.state == "stopped"


def test_signals_go_to_the_kernel_as_kill_from_outside() -> None:
    ctl, loader = _started()
    kernel = loader.kernel
    kernel.thread_groups = {
        1: FakeThreadGroup(1),
        7: FakeThreadGroup(7),
        9: FakeThreadGroup(9, True),
    }
    _signal(ctl, 0)  # existence check only
    assert kernel.sent == []
    _signal(ctl, signal.SIGUSR1)  # pid 0: the init
    _signal(ctl, signal.SIGSTOP, pid=7)
    assert kernel.sent == [(1, signal.SIGUSR1, 0), (7, signal.SIGSTOP, 0)]
    kernel.sent.clear()
    _signal(ctl, signal.SIGTERM, target=pb.SignalRequest.ALL_PROCESSES)
    assert sorted(kernel.sent) == [(1, signal.SIGTERM, 0), (7, signal.SIGTERM, 0)]  # not the zombie
    with pytest.raises(TTRPCError) as exc:
        _signal(ctl, 99)
    assert _code(exc) == Code.INVALID_ARGUMENT
    for pid in (42, 9):
        with pytest.raises(TTRPCError) as exc:
            _signal(ctl, 15, pid=pid)
        assert _code(exc) == Code.NOT_FOUND
    assert kernel.shutdowns == []
    # Once the init is gone, nothing is running.
    loader.kernel.tasks.clear()
    with pytest.raises(TTRPCError) as exc:
        _signal(ctl, signal.SIGTERM)
    assert _code(exc) == Code.NOT_FOUND


class _Job:
    def __init__(self) -> None:
        self.signals: list[int] = []

    def signal_foreground(self, signo: int) -> int:
        self.signals.append(signo)
        return 1


class _Console:
    """What the controller uses of a HostConsole: its Terminal's job control and resize."""

    def __init__(self) -> None:
        self.terminal = type("T", (), {"job": _Job()})()
        self.sizes: list[tuple[int, int]] = []

    def resize(self, rows: int, cols: int) -> bool:
        self.sizes.append((rows, cols))
        return True


def _resize(ctl: Controller, pid: int, rows: int, cols: int) -> Any:
    req = pb.ResizeTerminalRequest(container_id="c1", pid=pid, rows=rows, cols=cols)
    return ctl.ResizeTerminal(None, req)  # type: ignore[arg-type]


def test_terminal_calls_need_a_process_with_a_terminal() -> None:
    ctl, loader = _started()
    loader.kernel.thread_groups = {1: FakeThreadGroup(1)}
    fg = pb.SignalRequest.FOREGROUND_PROCESS_GROUP
    for call in (lambda: _resize(ctl, 0, 10, 20), lambda: _signal(ctl, 2, target=fg)):
        with pytest.raises(TTRPCError) as exc:
            call()
        assert _code(exc) == Code.NOT_FOUND
        assert "no terminal" in exc.value.message
    with pytest.raises(TTRPCError) as exc:
        _resize(ctl, 42, 10, 20)
    assert (_code(exc), exc.value.message) == (Code.NOT_FOUND, "process 42 does not exist")


def test_foreground_signal_and_resize_reach_the_init_terminal() -> None:
    ctl, loader = _started()
    console = _Console()
    loader.init.console = console
    _signal(ctl, signal.SIGINT, target=pb.SignalRequest.FOREGROUND_PROCESS_GROUP)
    _signal(ctl, 0, target=pb.SignalRequest.FOREGROUND_PROCESS_GROUP)  # a check only
    assert console.terminal.job.signals == [signal.SIGINT]
    assert loader.kernel.sent == []  # not kill(2) of the init: its terminal's group
    _resize(ctl, 0, 50, 132)
    _resize(ctl, 1, 51, 133)
    assert console.sizes == [(50, 132), (51, 133)]
    with pytest.raises(TTRPCError) as exc:
        _resize(ctl, 0, 70000, 1)
    assert _code(exc) == Code.INVALID_ARGUMENT
    assert ctl.consoles() == [console]


def test_kill_before_start() -> None:
    loader = FakeLoader()
    ctl = Controller("c1", loader)  # type: ignore[arg-type]
    _signal(ctl, signal.SIGWINCH)
    assert loader.kernel.shutdowns == []
    _signal(ctl, signal.SIGKILL)
    assert loader.kernel.shutdowns == [ExitStatus(signo=signal.SIGKILL)]


def test_pause_resume_states() -> None:
    ctl, loader = _started()
    with pytest.raises(TTRPCError) as exc:
        ctl.Resume(None, pb.ResumeRequest())  # type: ignore[arg-type]
    assert _code(exc) == Code.FAILED_PRECONDITION
    ctl.Pause(None, pb.PauseRequest())  # type: ignore[arg-type]
    assert (ctl.state, loader.gate.paused) == ("paused", True)
    with pytest.raises(TTRPCError) as exc:
        ctl.Pause(None, pb.PauseRequest())  # type: ignore[arg-type]
    assert _code(exc) == Code.FAILED_PRECONDITION
    ctl.Resume(None, pb.ResumeRequest(container_id="c1"))  # type: ignore[arg-type]
    assert (ctl.state, loader.gate.paused) == ("running", False)


def test_processes_and_event() -> None:
    ctl, _ = _started()
    resp = ctl.Processes(None, pb.ProcessesRequest(container_id="c1"))  # type: ignore[arg-type]
    (p,) = resp.processes
    assert (p.pid, p.ppid, p.command, list(p.args)) == (1, 0, "sleep", ["/bin/sleep", "9"])
    ev = ctl.Event(None, pb.EventRequest(container_id="c1"))  # type: ignore[arg-type]
    assert ev.status == "running"
    assert ev.stats.pids_current == 1


class _Ctx:
    def __init__(self, token: str | None = None) -> None:
        self.token = token

    def get(self, key: str) -> str | None:
        return self.token


def _execute(ctl: Controller, process: bytes, stdio: Any, fds: list[int]) -> Any:
    ctl.fds.put("tok", fds)
    req = pb.ExecuteRequest(container_id="c1", process_json=process, stdio=stdio)
    return ctl.Execute(_Ctx("tok"), req)  # type: ignore[arg-type]


def _fd_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


@pytest.mark.parametrize(
    ("process", "stdio", "code", "words"),
    [
        (b"{not json", pb.Stdio(), Code.INVALID_ARGUMENT, "malformed process JSON"),
        (b'{"args": []}', pb.Stdio(), Code.INVALID_ARGUMENT, "args"),
        (
            b'{"args": ["/bin/true"], "cwd": "/"}',
            pb.Stdio(stdout_fd=5),
            Code.INVALID_ARGUMENT,
            "only 1 FDs",
        ),
        (
            b'{"args": ["/bin/true"], "cwd": "/"}',
            pb.Stdio(stdout_fd=0, stderr_fd=0),
            Code.INVALID_ARGUMENT,
            "two streams",
        ),
        (
            b'{"args": ["/bin/sh"], "cwd": "/", "terminal": true}',
            pb.Stdio(),
            Code.INVALID_ARGUMENT,
            "needs a terminal_fd",
        ),
        (
            b'{"args": ["/bin/sh"], "cwd": "/", "terminal": true}',
            pb.Stdio(terminal_fd=0),
            Code.INVALID_ARGUMENT,
            "not a terminal",  # /dev/null
        ),
        (
            b'{"args": ["/bin/sh"], "cwd": "/", "terminal": true}',
            pb.Stdio(terminal_fd=3),
            Code.INVALID_ARGUMENT,
            "only 1 FDs",
        ),
    ],
)
def test_execute_bad_input_is_refused_and_fds_closed(
    process: bytes, stdio: Any, code: Code, words: str
) -> None:
    ctl, _ = _started()
    fd = os.open(os.devnull, os.O_WRONLY)
    with pytest.raises(TTRPCError) as exc:
        _execute(ctl, process, stdio, [fd])
    assert _code(exc) == code
    assert words in exc.value.message
    assert not _fd_open(fd)


def test_execute_needs_a_running_container() -> None:
    ctl = Controller("c1", FakeLoader())  # type: ignore[arg-type]
    with pytest.raises(TTRPCError) as exc:
        _execute(ctl, b'{"args": ["/bin/true"], "cwd": "/"}', pb.Stdio(), [])
    assert _code(exc) == Code.FAILED_PRECONDITION
    assert "created" in exc.value.message


def test_wait_pid_and_signal_of_an_unknown_pid_are_not_found() -> None:
    ctl, _ = _started()
    with pytest.raises(TTRPCError) as exc:
        ctl.WaitPID(None, pb.WaitPIDRequest(container_id="c1", pid=42))  # type: ignore[arg-type]
    assert _code(exc) == Code.NOT_FOUND
    req = pb.SignalRequest(container_id="c1", signal=9, pid=42, target=pb.SignalRequest.PROCESS)
    with pytest.raises(TTRPCError) as exc:
        ctl.Signal(None, req)  # type: ignore[arg-type]
    assert _code(exc) == Code.NOT_FOUND


def _create_sub(ctl: Controller, req: Any, fds: list[int]) -> Any:
    ctl.fds.put("sub", fds)
    return ctl.CreateSubcontainer(_Ctx("sub"), req)  # type: ignore[arg-type]


_SPEC = (
    b'{"ociVersion": "1.0.2", "root": {"path": "rootfs"},'
    b' "process": {"args": ["/bin/true"], "cwd": "/"}}'
)


@pytest.mark.parametrize(
    ("req", "code", "words"),
    [
        (
            pb.CreateSubcontainerRequest(container_id="c1", spec_json=_SPEC),
            Code.ALREADY_EXISTS,
            "already exists",
        ),
        (
            pb.CreateSubcontainerRequest(container_id="c2", spec_json=b"{"),
            Code.INVALID_ARGUMENT,
            "c2",
        ),
        (
            pb.CreateSubcontainerRequest(container_id="c2", spec_json=_SPEC),
            Code.INVALID_ARGUMENT,
            "no gofer connection",
        ),
        (
            pb.CreateSubcontainerRequest(
                container_id="c2", spec_json=_SPEC, mounts=[pb.MountConfig(gofer_fd=7)]
            ),
            Code.INVALID_ARGUMENT,
            "gofer_fd",
        ),
        (
            pb.CreateSubcontainerRequest(
                container_id="c2", spec_json=_SPEC, stdio=pb.Stdio(terminal_fd=0)
            ),
            Code.INVALID_ARGUMENT,
            "not a terminal",  # /dev/null
        ),
    ],
)
def test_create_subcontainer_bad_input_is_refused_and_fds_closed(
    req: Any, code: Code, words: str
) -> None:
    ctl, _ = _started()
    fd = os.open(os.devnull, os.O_WRONLY)
    with pytest.raises(TTRPCError) as exc:
        _create_sub(ctl, req, [fd])
    assert _code(exc) == code
    assert words in exc.value.message
    assert not _fd_open(fd)
    assert ctl.subcontainers == {}


@pytest.mark.parametrize("method", ["StartSubcontainer", "DestroySubcontainer"])
def test_unknown_or_root_subcontainer_is_refused(method: str) -> None:
    ctl, _ = _started()
    request = getattr(pb, f"{method}Request")
    with pytest.raises(TTRPCError) as exc:
        getattr(ctl, method)(_Ctx(), request(container_id="nope"))
    assert _code(exc) == Code.NOT_FOUND
    with pytest.raises(TTRPCError) as exc:
        getattr(ctl, method)(_Ctx(), request(container_id="c1"))
    assert _code(exc) == Code.INVALID_ARGUMENT
