"""A stand-in for the Sentry behind ``runtime.boot.controller.Controller``:
what the control methods read and call of the Loader, its Kernel and Tasks.

Shared by the controller's unit tests and the served control API tests
(which import it in a subprocess too: no pytest here).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from runtime.boot.loader import LoadError
from sentry.kernel import ExitStatus


@dataclass
class FakeAction:
    handler: int = 0


@dataclass
class FakeTask:
    tid: int = 1
    tgid: int = 1
    comm: str = "sleep"
    signal_mask: int = 0
    handlers: dict[int, int] = field(default_factory=dict)
    start_time_ns: int = 0

    @property
    def sighand(self) -> Any:
        outer = self

        class _Handlers:
            def get(self, signo: int) -> FakeAction:
                return FakeAction(outer.handlers.get(signo, 0))

        return _Handlers()

    def ppid(self) -> int:
        return 0

    @property
    def creds(self) -> Any:
        return type("C", (), {"uid": 0})()


@dataclass
class FakeThreadGroup:
    tgid: int
    zombie: bool = False


class FakeKernel:
    def __init__(self) -> None:
        self.tasks: dict[int, FakeTask] = {}
        self.thread_groups: dict[int, FakeThreadGroup] = {}
        self.tree_lock = threading.RLock()
        self.shutdowns: list[ExitStatus] = []
        self.sent: list[tuple[int, int, int]] = []  # (tgid, signo, si_pid)
        self.boot_time = 0
        self.boot_monotonic = 0

    def shutdown(self, status: ExitStatus) -> None:
        self.shutdowns.append(status)

    def send_signal(self, target: FakeThreadGroup, signo: int, info: Any) -> None:
        self.sent.append((target.tgid, signo, info.sender_pid))


class FakeGate:
    def __init__(self) -> None:
        self.paused = False

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False


class FakeLoader:
    def __init__(self, fail: LoadError | None = None) -> None:
        self.kernel = FakeKernel()
        self.gate = FakeGate()
        self.fail = fail
        self.init = type("I", (), {"args": ("/bin/sleep", "9"), "console": None})()
        self.memory_file = type("M", (), {"fd": -1})()  # fstat fails: 0 bytes
        self.exit_status: ExitStatus | None = None
        self._exited = threading.Event()

    def start(self) -> None:
        if self.fail is not None:
            raise self.fail
        self.kernel.tasks[1] = FakeTask()

    def exit(self, status: ExitStatus) -> None:
        """The init exits with ``status`` (what ``wait`` then returns)."""
        self.exit_status = status
        self._exited.set()

    def wait(self, timeout: float | None = None) -> ExitStatus | None:
        return self.exit_status if self._exited.wait(timeout) else None
