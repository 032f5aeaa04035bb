"""Errors of the runtime library, each one clear line for the CLI to print.

The messages keep the phrases runc users and containerd's runc shim rely on:
go-runc callers match "does not exist" and "container not running" as
substrings (containerd ``pkg/process/utils.go`` ``checkKillError``), so those
phrases appear verbatim inside our more precise messages.
"""

from __future__ import annotations


class RuntimeFailure(Exception):
    """Base of every error the runtime reports to its caller (CLI or shim).

    ``str(error)`` is the single line printed on stderr.
    """


class UsageError(RuntimeFailure):
    """Bad command-line use: wrong argument count, bad flag value."""


class SpecError(RuntimeFailure):
    """A malformed or unsupported OCI ``config.json``; names the field."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"invalid OCI spec: {field}: {problem}")


class ContainerNotExist(RuntimeFailure):
    """No state record for the container ID under ``--root``."""

    def __init__(self, container_id: str) -> None:
        self.container_id = container_id
        super().__init__(f"container {container_id!r} does not exist")


class ContainerExists(RuntimeFailure):
    """``create`` of an ID that already has a state record (runc wording)."""

    def __init__(self, container_id: str) -> None:
        self.container_id = container_id
        super().__init__(f"container with given ID already exists: {container_id!r}")


class InvalidState(RuntimeFailure):
    """An operation not allowed in the container's current OCI status."""

    def __init__(self, action: str, container_id: str, status: str, hint: str = "") -> None:
        self.action = action
        self.container_id = container_id
        self.status = status
        message = f"cannot {action} container {container_id!r} in state {status}"
        super().__init__(f"{message}: {hint}" if hint else message)


class NotAvailable(RuntimeFailure):
    """A feature that needs a part of the runtime that is not built yet."""


class HookError(RuntimeFailure):
    """An OCI hook failed (non-zero exit, timeout or could not start)."""
