"""What the Task service needs from "something that runs containers".

The Task service keeps containerd's view (process state machines, stdio,
events); the container operations themselves sit behind :class:`Backend`
(youki-style: host side effects behind a small interface). The real one,
:class:`shim.runtime_backend.RuntimeBackend`, calls ``runtime.container`` /
``runtime.sandbox`` in-process; tests use one that runs plain host processes.

Every method blocks (the runtime library is synchronous); the service calls
them from worker threads. Errors are ``runtime.errors.RuntimeFailure`` (or
a subclass) with a one-line message, which the service returns to
containerd.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from runtime.cgroups import Cgroup


@dataclass(frozen=True)
class ProcessIO:
    """Host descriptors the new process gets as its stdio (None: /dev/null).

    The backend must not keep them: the service closes its copies once the
    call returns. With ``terminal`` the backend allocates a pty instead and
    ignores these.
    """

    stdin: int | None = None
    stdout: int | None = None
    stderr: int | None = None
    terminal: bool = False


@dataclass(frozen=True)
class Launched:
    """A process the backend created: its host-visible pid and pty master.

    ``console`` is the pty master fd (only with ``terminal``); ownership
    passes to the service, which copies it to the client and resizes it.
    """

    pid: int
    console: int | None = None


@dataclass(frozen=True)
class ProcessEntry:
    """One process of a container for ``Pids`` (exec_id "" = not an exec)."""

    pid: int
    exec_id: str = ""


class Backend(Protocol):
    """Container operations, one call per Task API step."""

    def create(
        self, container_id: str, bundle: str, spec: dict[str, Any], io: ProcessIO
    ) -> Launched:
        """Create the container (init not running user code yet).

        The first container of a pod creates the sandbox; a container whose
        spec names another sandbox id joins it as a subcontainer.
        """
        ...

    def start(self, container_id: str) -> None:
        """Let the container's init run."""
        ...

    def exec(
        self, container_id: str, exec_id: str, process: dict[str, Any], io: ProcessIO
    ) -> Launched:
        """Run ``process`` (OCI Process JSON) in the container, now."""
        ...

    def wait(self, container_id: str, exec_id: str = "") -> int:
        """Block until the process exits; its status (128+signal if killed)."""
        ...

    def kill(self, container_id: str, exec_id: str, signal: int, all_processes: bool) -> None:
        """Signal one process, or with ``all_processes`` every process of the container."""
        ...

    def pids(self, container_id: str) -> list[ProcessEntry]:
        """The container's processes as the host sees them."""
        ...

    def resize(self, container_id: str, exec_id: str, width: int, height: int) -> None:
        """The process's terminal has a new window size (ResizePty): make
        its foreground group see it (SIGWINCH). The service has already set
        it on the pty master it copies."""
        ...

    def pause(self, container_id: str) -> None: ...

    def resume(self, container_id: str) -> None: ...

    def update(self, container_id: str, resources: dict[str, Any]) -> None:
        """Apply OCI LinuxResources (JSON) to the container's cgroup."""
        ...

    def cgroup(self, container_id: str) -> Cgroup | None:
        """The host cgroup holding the container (Stats, OOM), None if none."""
        ...

    def delete(self, container_id: str) -> None:
        """Destroy what is left of the container; idempotent."""
        ...

    def cleanup(self, container_id: str, bundle: str) -> int:
        """``delete`` subcommand after a dead shim: force-destroy; pid it had (0 if unknown)."""
        ...
