"""The OCI container status machine (runtime.md "State", "Lifecycle").

``creating → created → running ⇄ paused → stopped``; every status may end in
``stopped`` (the process died). Each operation lists the statuses it accepts;
anything else is an ``InvalidState`` error in runsc's wording ("cannot start
container 'x' in state running") carrying runc's phrase as a hint where
containerd's runc shim matches it ("container not running").
"""

from __future__ import annotations

import enum

from runtime.errors import InvalidState


class Status(enum.StrEnum):
    CREATING = "creating"
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


_ALIVE = frozenset({Status.CREATED, Status.RUNNING, Status.PAUSED})

# action → (accepted statuses, hint when refused)
_RULES: dict[str, tuple[frozenset[Status], str]] = {
    "start": (frozenset({Status.CREATED}), ""),
    # runc lets kill reach a created or paused init (the signal is queued).
    "kill": (_ALIVE, "container not running"),
    "pause": (frozenset({Status.CREATED, Status.RUNNING}), "container not running"),
    "resume": (frozenset({Status.PAUSED}), "container not paused"),
    "exec": (frozenset({Status.CREATED, Status.RUNNING}), "container not running"),
    "ps": (_ALIVE, "container not running"),
    "events": (_ALIVE, "container not running"),
    "wait": (_ALIVE | {Status.STOPPED}, ""),
    # runc's delete destroys a created container; running/paused need --force.
    "delete": (frozenset({Status.CREATED, Status.STOPPED}), "container is not stopped"),
}

# Transitions recorded in the state file after an action succeeds.
_NEXT: dict[str, Status] = {
    "start": Status.RUNNING,
    "pause": Status.PAUSED,
    "resume": Status.RUNNING,
}


def check(action: str, container_id: str, status: Status) -> None:
    """Raise ``InvalidState`` unless ``action`` is allowed in ``status``."""
    allowed, hint = _RULES[action]
    if status not in allowed:
        raise InvalidState(action, container_id, status.value, hint)


def after(action: str, status: Status) -> Status:
    """The status a successful ``action`` leaves behind."""
    return _NEXT.get(action, status)


def is_alive(status: Status) -> bool:
    """Whether a process backs this status (a liveness check applies)."""
    return status in _ALIVE
