"""The real backend: ``runtime.container`` / ``runtime.sandbox`` in-process.

Each call is the runtime library's operation for one container (the same
code the ``pysandbox`` CLI runs, without a process per call). The first
container of a pod creates the sandbox; a container whose spec carries the
CRI sandbox-id of another joins it (``Container.create`` decides that from
the annotations). Terminals use a console socket: the runtime sends the pty
master over it (runtime.console), which the shim then owns.

``Container.create`` hands the sandbox the caller's own stdio (right for
the CLI); the shim needs the task's pipes there instead, so
:class:`_TaskContainer` builds the ``CreateArgs`` with them (the one step of
``Container._create_in_sandbox`` that differs). Wait statuses from the
sandbox are wait(2) words and become containerd's exit statuses here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import tempfile
import threading
from typing import Any

from runtime import cgroups, hooks
from runtime import spec as ocispec
from runtime.config import RuntimeConfig
from runtime.container import Container
from runtime.errors import ContainerNotExist, RuntimeFailure
from runtime.sandbox import CreateArgs, ExecArgs, Sandbox, SignalMode
from runtime.spec import parse_process
from runtime.status import Status
from shim.backend import Launched, ProcessEntry, ProcessIO
from shim.options import ShimConfig

RECEIVE_TIMEOUT = 30.0


class _ConsoleSocket:
    """A temporary listening socket that receives one pty master (go-runc console.go)."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="pysandbox-pty-")
        self.path = os.path.join(self.dir, "pty.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(1)
        self.sock.settimeout(RECEIVE_TIMEOUT)

    def receive(self) -> int:
        conn, _ = self.sock.accept()
        with conn:
            _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
        if not fds:
            raise RuntimeFailure("console socket: no pty master received")
        return fds[0]

    def close(self) -> None:
        self.sock.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        with contextlib.suppress(OSError):
            os.rmdir(self.dir)


_pending = threading.local()


def exit_status(wait_status: int) -> int:
    """containerd's exit status from a wait(2) word: 128+signal if killed (wait(2))."""
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    if os.WIFEXITED(wait_status):
        return os.WEXITSTATUS(wait_status)
    return wait_status


class _TaskContainer(Container):
    """A Container whose sandbox gets the task's stdio, not the shim's own 0-2."""

    def _create_in_sandbox(
        self,
        spec: ocispec.Spec,
        console_socket: str,
        detach: bool,
        preserve_fds: int,
        terminal_fd: int = -1,
    ) -> None:
        stdio: tuple[int, int, int] = getattr(_pending, "stdio", (-1, -1, -1))
        args = CreateArgs(
            container_id=self.id,
            spec=spec,
            bundle=spec.bundle,
            console_socket=console_socket,
            stdio=stdio,
            attached=not detach,
            preserve_fds=preserve_fds,
            terminal_fd=terminal_fd,
        )
        if self.is_root:
            sandbox = Sandbox.create(self.conf, args)
        else:
            sandbox = Container.load(self.conf, self.record.sandbox_id).sandbox
            if not sandbox.is_running():
                raise RuntimeFailure(
                    f"sandbox {self.record.sandbox_id} of container {self.id} is not running"
                )
            sandbox.create_subcontainer(self.conf, args)
        with self.store.update(self.id) as rec:
            rec.sandbox = sandbox.to_json()
            rec.process = sandbox.process
            self.record = rec
        state = self.state()
        for point in ("prestart", "createRuntime", "createContainer"):
            hooks.run_point(spec.hooks, point, state)
        with self.store.update(self.id) as rec:
            rec.status = Status.CREATED
            self.record = rec


def _stdio_fds(io: ProcessIO) -> tuple[tuple[int, int, int], list[int]]:
    """The three fds for the process (/dev/null for absent ones) and what to close after."""
    opened: list[int] = []
    fds = []
    for given, mode in (
        (io.stdin, os.O_RDONLY),
        (io.stdout, os.O_WRONLY),
        (io.stderr, os.O_WRONLY),
    ):
        if given is None:
            null = os.open(os.devnull, mode | os.O_CLOEXEC)
            opened.append(null)
            fds.append(null)
        else:
            fds.append(given)
    return (fds[0], fds[1], fds[2]), opened


class RuntimeBackend:
    """:class:`shim.backend.Backend` over the runtime library."""

    #: It starts boot and gofer processes (so the shim starts a zygote).
    spawns_sandboxes = True

    def __init__(self, config: ShimConfig) -> None:
        self.config = config
        self._exec_pids: dict[tuple[str, str], int] = {}

    def _conf(self, container_id: str) -> RuntimeConfig:
        conf = self.config.runtime_config(container_id)
        if conf.log:
            # A log directory from pysandbox.toml (e.g. /var/log/pysandbox)
            # need not exist yet; the sandbox cannot start without its log.
            os.makedirs(os.path.dirname(conf.log) or ".", exist_ok=True)
        return conf

    def _load(self, container_id: str) -> Container:
        return Container.load(self._conf(container_id), container_id)

    def create(
        self, container_id: str, bundle: str, spec: dict[str, Any], io: ProcessIO
    ) -> Launched:
        console: _ConsoleSocket | None = _ConsoleSocket() if io.terminal else None
        stdio, opened = _stdio_fds(io)
        _pending.stdio = stdio
        try:
            container = _TaskContainer.create(
                self._conf(container_id),
                container_id,
                bundle,
                console_socket=console.path if console else "",
                detach=True,
            )
            master = console.receive() if console else None
        finally:
            _pending.stdio = (-1, -1, -1)
            for fd in opened:
                os.close(fd)
            if console is not None:
                console.close()
        return Launched(pid=container.record.pid, console=master)

    def start(self, container_id: str) -> None:
        self._load(container_id).start()

    def exec(
        self, container_id: str, exec_id: str, process: dict[str, Any], io: ProcessIO
    ) -> Launched:
        console: _ConsoleSocket | None = _ConsoleSocket() if io.terminal else None
        stdio, opened = _stdio_fds(io)
        try:
            args = ExecArgs(
                process=parse_process(process),
                console_socket=console.path if console else "",
                detach=True,
                stdio=stdio,
            )
            pid = self._load(container_id).execute(args)
            master = console.receive() if console else None
        finally:
            for fd in opened:
                os.close(fd)
            if console is not None:
                console.close()
        self._exec_pids[(container_id, exec_id)] = pid
        return Launched(pid=pid, console=master)

    def wait(self, container_id: str, exec_id: str = "") -> int:
        container = self._load(container_id)
        if exec_id:
            pid = self._exec_pids[(container_id, exec_id)]
            return exit_status(container.sandbox.wait_pid(container_id, pid))
        return exit_status(container.wait())

    def kill(self, container_id: str, exec_id: str, signo: int, all_processes: bool) -> None:
        container = self._load(container_id)
        if exec_id:
            pid = self._exec_pids.get((container_id, exec_id), 0)
            container.sandbox.signal(container_id, signo, SignalMode.PID, pid)
            return
        container.signal(signo, all_processes)

    def resize(self, container_id: str, exec_id: str, width: int, height: int) -> None:
        """ResizeTerminal in the sandbox: the master's TIOCSWINSZ alone is
        seen there only for the init's terminal (boot controls that pty);
        an exec's terminal learns its size through the control API."""
        pid = self._exec_pids[(container_id, exec_id)] if exec_id else 0
        self._load(container_id).sandbox.resize_terminal(container_id, pid, height, width)

    def pids(self, container_id: str) -> list[ProcessEntry]:
        entries = []
        for proc in self._load(container_id).processes():
            pid = int(proc.get("pid", 0))
            exec_id = next(
                (e for (c, e), p in self._exec_pids.items() if c == container_id and p == pid),
                "",
            )
            entries.append(ProcessEntry(pid=pid, exec_id=exec_id))
        return entries

    def pause(self, container_id: str) -> None:
        self._load(container_id).pause()

    def resume(self, container_id: str) -> None:
        self._load(container_id).resume()

    def update(self, container_id: str, resources: dict[str, Any]) -> None:
        cg = self.cgroup(container_id)
        if cg is None:
            raise RuntimeFailure(f"container {container_id} has no cgroup to update")
        from runtime.spec import parse

        spec = parse(
            {"ociVersion": "1.0.2", "root": {"path": "/"}, "linux": {"resources": resources}}
        )
        cg.apply(spec.linux.resources)

    def cgroup(self, container_id: str) -> cgroups.Cgroup | None:
        sandbox = self._load(container_id).sandbox
        return cgroups.from_json(sandbox.cgroup) if sandbox.cgroup else None

    def delete(self, container_id: str) -> None:
        try:
            container = self._load(container_id)
        except ContainerNotExist:
            return
        container.delete(force=True)

    def cleanup(self, container_id: str, bundle: str) -> int:
        try:
            container = self._load(container_id)
        except ContainerNotExist:
            return 0
        pid = container.record.pid
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if pid and container.is_root:
                os.kill(pid, signal.SIGKILL)
        container.delete(force=True)
        return pid
