"""Containers: the OCI lifecycle over state records, hooks and the sandbox.

This is the library the CLI and the shim call. Each operation loads the
record, checks the status machine, acts through ``runtime.sandbox`` and
records the new status under the container's lock. The root container of a
pod owns the sandbox; a container whose spec carries the CRI sandbox-id of
another container joins that sandbox (seed ``CreateSubcontainer``).
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

from runtime import cgroups, hooks, status
from runtime import spec as ocispec
from runtime.config import RuntimeConfig
from runtime.errors import RuntimeFailure, UsageError
from runtime.sandbox import CreateArgs, ExecArgs, Sandbox, SignalMode
from runtime.state import ContainerRecord, StateStore, write_atomic
from runtime.status import Status

log = logging.getLogger("pysandbox.container")


def write_pid_file(path: str, pid: int) -> None:
    """Write ``pid`` atomically: readers (containerd) never see an empty file."""
    write_atomic(os.path.abspath(path), str(pid).encode(), mode=0o644)


class Container:
    """One container's record plus the operations on it.

    (A plain class: defining a dataclass costs every start ~0.5 ms.)"""

    conf: RuntimeConfig
    store: StateStore
    record: ContainerRecord

    def __init__(self, conf: RuntimeConfig, store: StateStore, record: ContainerRecord) -> None:
        self.conf = conf
        self.store = store
        self.record = record

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def spec(self) -> ocispec.Spec:
        return ocispec.parse(self.record.spec, self.record.bundle)

    @property
    def sandbox(self) -> Sandbox:
        return Sandbox.from_json(self.record.sandbox) if self.record.sandbox else Sandbox(self.id)

    @property
    def is_root(self) -> bool:
        return self.record.sandbox_id in ("", self.id)

    def status(self) -> Status:
        current = self.record.effective_status(self.store.proc)
        if not self.is_root and current in (Status.RUNNING, Status.PAUSED):
            # The sandbox outlives a subcontainer's init: ask it.
            try:
                if self.sandbox.container_status(self.id) == "stopped":
                    return Status.STOPPED
            except RuntimeFailure as exc:
                log.warning("cannot ask the sandbox about %s: %s", self.id, exc)
        return current

    def state(self) -> dict[str, Any]:
        """The OCI state JSON."""
        state = self.record.oci_state(self.store.proc)
        if state["status"] != Status.STOPPED.value and self.status() == Status.STOPPED:
            state.update(status=Status.STOPPED.value, pid=0)
        return state

    # ------------------------------------------------------------ lifecycle

    @classmethod
    def load(cls, conf: RuntimeConfig, container_id: str) -> Container:
        store = StateStore(conf.root)
        return cls(conf, store, store.load(container_id))

    @classmethod
    def create(
        cls,
        conf: RuntimeConfig,
        container_id: str,
        bundle: str,
        *,
        console_socket: str = "",
        pid_file: str = "",
        detach: bool = True,
        preserve_fds: int = 0,
        terminal_fd: int = -1,
    ) -> Container:
        """OCI ``create``: validate everything, then build the sandbox.

        With ``process.terminal`` the container's terminal is a new pty
        whose master goes to ``console_socket``, or, for a caller that
        relays the terminal itself (``run`` in the foreground), the pty
        replica ``terminal_fd`` (the caller keeps the master).

        Every check that can fail without side effects runs before the
        record is written, so a bad config.json leaves nothing behind.
        """
        ocispec.validate_id(container_id)
        spec = ocispec.load(bundle)
        assert spec.process is not None
        if spec.process.terminal and detach and not console_socket:
            raise UsageError(
                "cannot allocate tty if pysandbox will detach without setting console socket"
            )
        if console_socket and not spec.process.terminal:
            raise UsageError(
                "cannot use console socket if pysandbox will not detach or allocate tty"
            )
        if spec.linux.cgroups_path:
            cgroups.cgroup_path(spec.linux.cgroups_path, container_id, conf.systemd_cgroup)
        store = StateStore(conf.root)
        root = spec.is_root_container(container_id)
        record = ContainerRecord(
            id=container_id,
            bundle=spec.bundle,
            rootfs=spec.root.path,
            status=Status.CREATING,
            annotations=dict(spec.annotations),
            sandbox_id=container_id if root else spec.sandbox_id,
            spec=dict(spec.raw),
        )
        store.create(record)
        container = cls(conf, store, record)
        try:
            container._create_in_sandbox(spec, console_socket, detach, preserve_fds, terminal_fd)
            if pid_file:
                write_pid_file(pid_file, container.record.pid)
        except BaseException:
            container._cleanup_failed_create()
            raise
        return container

    def _create_in_sandbox(
        self,
        spec: ocispec.Spec,
        console_socket: str,
        detach: bool,
        preserve_fds: int,
        terminal_fd: int = -1,
    ) -> None:
        args = CreateArgs(
            container_id=self.id,
            spec=spec,
            bundle=spec.bundle,
            console_socket=console_socket,
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
        # runtime.md "Lifecycle" step 5-6: prestart/createRuntime then
        # createContainer hooks run during create; a failure aborts create.
        state = self.state()
        for point in ("prestart", "createRuntime", "createContainer"):
            hooks.run_point(spec.hooks, point, state)
        with self.store.update(self.id) as rec:
            rec.status = Status.CREATED
            self.record = rec

    def _cleanup_failed_create(self) -> None:
        """Undo a half-created container (seed: the ``cleanup`` guard in New)."""
        try:
            if self.record.sandbox:
                if self.is_root:
                    self.sandbox.destroy()
                else:
                    with contextlib.suppress(RuntimeFailure):
                        self.sandbox.destroy_subcontainer(self.id)
        finally:
            self.store.remove(self.id)

    def start(self) -> None:
        """OCI ``start``: run the user process created by ``create``."""
        with self.store.locked(self.id):
            self.record = self.store.load(self.id)
            status.check("start", self.id, self.status())
            spec = self.spec
            hooks.run_point(spec.hooks, "startContainer", self.state())
            if self.is_root:
                self.sandbox.start_root(self.conf)
            else:
                self.sandbox.start_subcontainer(self.conf, self.id, spec)
            self._set_status(Status.RUNNING)
        hooks.run_point(spec.hooks, "poststart", self.state())

    def _set_status(self, new: Status) -> None:
        self.record.status = new
        self.store.save(self.record)

    def signal(self, signo: int, all_processes: bool = False) -> None:
        """OCI ``kill``. ``--all`` on a stopped container signals nobody and
        succeeds, as runc's (libcontainer ``Signal``: "status == Stopped"
        with all returns nil); containerd relies on it before a delete."""
        current = self.status()
        if all_processes and current == Status.STOPPED:
            return
        status.check("kill", self.id, current)
        mode = SignalMode.ALL if all_processes else SignalMode.INIT
        self.sandbox.signal(self.id, signo, mode)

    def pause(self) -> None:
        with self.store.locked(self.id):
            self.record = self.store.load(self.id)
            status.check("pause", self.id, self.status())
            self.sandbox.pause()
            self._set_status(Status.PAUSED)

    def resume(self) -> None:
        with self.store.locked(self.id):
            self.record = self.store.load(self.id)
            status.check("resume", self.id, self.status())
            self.sandbox.resume()
            self._set_status(Status.RUNNING)

    def processes(self) -> list[dict[str, Any]]:
        status.check("ps", self.id, self.status())
        return self.sandbox.processes(self.id)

    def stats(self) -> dict[str, Any]:
        """runc ``events --stats`` data: the sandbox's cgroup, else its own report."""
        status.check("events", self.id, self.status())
        sandbox = self.sandbox
        if sandbox.cgroup:
            return cgroups.from_json(sandbox.cgroup).stats().to_runc_json()
        return sandbox.event(self.id)

    def execute(self, args: ExecArgs) -> int:
        status.check("exec", self.id, self.status())
        return self.sandbox.execute(self.conf, self.id, args)

    def wait(self) -> int:
        """The init's exit status, once it has exited."""
        status.check("wait", self.id, self.status())
        if self.status() == Status.STOPPED:
            if not self.is_root and self.sandbox.is_running():
                return self.sandbox.wait(self.id)  # the sandbox keeps it
            if self.record.exit_status is None:
                raise RuntimeFailure(f"exit status of container {self.id!r} is unavailable")
            return self.record.exit_status
        return self.sandbox.wait(self.id)

    def delete(self, force: bool = False) -> None:
        """OCI ``delete``: destroy what is left, run poststop hooks, drop the record.

        runc deletes a ``created`` container without --force (killing it);
        a running or paused one needs --force. A sandbox that already died
        is tolerated (seed ``DestroyContainer``).
        """
        with self.store.locked(self.id):
            self.record = self.store.load(self.id)
            current = self.status()
            if not force:
                status.check("delete", self.id, current)
            self._destroy(current)
            state = self.state()
            spec = self.spec
            self.store.remove(self.id)
        state["status"] = Status.STOPPED.value
        hooks.run_point(spec.hooks, "poststop", state)

    def _destroy(self, current: Status) -> None:
        sandbox = self.sandbox
        if self.is_root:
            sandbox.destroy()
            return
        # Even a stopped subcontainer holds its mounts and gofer in the sandbox.
        if sandbox.is_running():
            try:
                sandbox.destroy_subcontainer(self.id)
            except RuntimeFailure:
                if sandbox.is_running():
                    raise


def list_containers(conf: RuntimeConfig) -> list[Container]:
    """Every container with a record under ``--root``."""
    store = StateStore(conf.root)
    return [Container(conf, store, rec) for rec in store.records()]
