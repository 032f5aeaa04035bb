"""Per-process state machines as containerd's runc shim keeps them.

One object per process (the init and each exec), one explicit status and
the transitions each Task call may make (containerd pkg/process
init_state.go, exec_state.go). Wrong-state calls fail with runc's wording
("cannot start a running process") as FAILED_PRECONDITION; a signal to a
finished process is NOT_FOUND "process already finished" (utils.go
checkKillError), which CRI tolerates.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Any

import anyio

from protos.containerd.types.task import task_pb2
from shim.stdio import ProcessStdio, StdioSpec
from ttrpc import Code, TTRPCError


class Status(enum.Enum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    DELETED = "deleted"

    def to_proto(self) -> int:
        return {
            Status.CREATED: task_pb2.CREATED,
            Status.RUNNING: task_pb2.RUNNING,
            Status.PAUSED: task_pb2.PAUSED,
            Status.STOPPED: task_pb2.STOPPED,
            Status.DELETED: task_pb2.STOPPED,
        }[self]


# (operation, status) -> error text; absent pairs are allowed.
_REFUSED: dict[tuple[str, Status], str] = {
    ("start", Status.RUNNING): "cannot start a running process",
    ("start", Status.PAUSED): "cannot start a paused process",
    ("start", Status.STOPPED): "cannot start a stopped process",
    ("start", Status.DELETED): "cannot start a deleted process",
    ("delete", Status.RUNNING): "cannot delete a running process",
    ("delete", Status.PAUSED): "cannot delete a paused process",
    ("pause", Status.CREATED): "cannot pause task in created state",
    ("pause", Status.PAUSED): "cannot pause a paused container",
    ("pause", Status.STOPPED): "cannot pause a stopped container",
    ("resume", Status.CREATED): "cannot resume task in created state",
    ("resume", Status.RUNNING): "cannot resume a running process",
    ("resume", Status.STOPPED): "cannot resume a stopped container",
    ("exec", Status.STOPPED): "container is stopped",
    ("exec", Status.PAUSED): "container is paused",
    ("exec", Status.CREATED): "container is not started",
}


@dataclass
class Process:
    """The init (``exec_id`` "") or one exec of a container."""

    container_id: str
    exec_id: str
    stdio_spec: StdioSpec
    process_spec: dict[str, Any] | None = None
    status: Status = Status.CREATED
    pid: int = 0
    exit_status: int = 0
    exited_at: float | None = None
    stdio: ProcessStdio | None = None
    exited: anyio.Event = field(default_factory=anyio.Event)

    @property
    def id(self) -> str:
        """The id events use: the exec id, or the container id for the init."""
        return self.exec_id or self.container_id

    def check(self, operation: str) -> None:
        """Raise FAILED_PRECONDITION if ``operation`` is not allowed now."""
        message = _REFUSED.get((operation, self.status))
        if message is not None:
            raise TTRPCError(Code.FAILED_PRECONDITION, message)

    def check_kill(self) -> None:
        if self.status in (Status.STOPPED, Status.DELETED):
            raise TTRPCError(Code.NOT_FOUND, "process already finished")

    def set_exited(self, status: int) -> None:
        self.status = Status.STOPPED
        self.exit_status = status
        self.exited_at = time.time()
        self.exited.set()
