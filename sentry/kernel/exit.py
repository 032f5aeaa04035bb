"""How tasks end: exit statuses and the control-flow exceptions handlers use."""

from __future__ import annotations

from typing import NamedTuple


class ExitStatus(NamedTuple):
    """``code`` for a normal exit, ``signo`` when killed by a signal."""

    code: int = 0
    signo: int = 0

    @property
    def wait_status(self) -> int:
        """The status word wait4(2) reports (include/uapi/linux/wait.h)."""
        if self.signo:
            return self.signo & 0x7F
        return (self.code & 0xFF) << 8

    def shell_status(self) -> int:
        """What a shell would report: the code, or 128 + the signal."""
        return 128 + self.signo if self.signo else self.code & 0xFF


class TaskExit(Exception):
    """Raised by exit(2)/exit_group(2) handlers: the task stops running.

    ``group`` ends every task of the thread group (exit_group)."""

    def __init__(self, status: ExitStatus, *, group: bool) -> None:
        super().__init__(f"exit {status}")
        self.status = status
        self.group = group


class SentryBug(Exception):
    """An unexpected exception escaped a syscall handler or the run loop."""
