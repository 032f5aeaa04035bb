"""The ``containerd.task.v2.Task`` service (also served as ``task.v3``).

containerd's view of the pod's containers lives here: one :class:`Task`
per container (its init and execs as :class:`shim.process.Process` state
machines), their stdio, and the events. Container operations go through a
:class:`shim.backend.Backend` in worker threads; nothing blocks the loop.

Event order (reference §3.5, runc service.go): create → start → exec-added
→ exec-started → (oom) → exit → delete. A container's ``events_lock`` is
held across "start + /tasks/start" and across "exit + /tasks/exit", so an
exit event never overtakes its start event; an init's exit is handled
after its execs' exits have been published.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from google.protobuf import empty_pb2, timestamp_pb2

from protos import typeurl
from protos.containerd.events import task_pb2 as events
from protos.containerd.runc.options import oci_pb2
from protos.containerd.task.v2 import shim_pb2
from runtime.errors import RuntimeFailure
from shim import metrics, options, rootfs
from shim.backend import Backend, Launched
from shim.events import Publisher, timestamp
from shim.oom import OOMWatcher
from shim.process import Process, Status
from shim.stdio import ProcessStdio, StdioError, StdioSpec
from ttrpc import Code, ServerContext, TTRPCError

log = logging.getLogger("pysandbox.shim")

T = TypeVar("T")

IO_WAIT_TIMEOUT = 2.0  # runc Delete: waitTimeout(ctx, &p.wg, 2*time.Second)
PROCESS_SPEC_URL = "types.containerd.io/opencontainers/runtime-spec/1/Process"
RESOURCES_URL = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources"


@dataclass
class Task:
    """One container of the pod: its bundle, init, execs and cgroup."""

    id: str
    bundle: str
    init: Process
    execs: dict[str, Process] = field(default_factory=dict)
    rootfs_mounted: bool = False
    events_lock: anyio.Lock = field(default_factory=anyio.Lock)
    oom: OOMWatcher | None = None

    def process(self, exec_id: str) -> Process:
        if not exec_id:
            return self.init
        try:
            return self.execs[exec_id]
        except KeyError:
            raise TTRPCError(Code.NOT_FOUND, f"process {exec_id} does not exist") from None


def _ts(at: float | None) -> timestamp_pb2.Timestamp:
    return timestamp(at) if at is not None else timestamp_pb2.Timestamp()


def _failure(exc: Exception) -> TTRPCError:
    """A backend/IO error as the status containerd gets (one line)."""
    if isinstance(exc, TTRPCError):
        return exc
    return TTRPCError(Code.UNKNOWN, str(exc).splitlines()[0] if str(exc) else repr(exc))


class TaskService:
    """Handlers for every Task RPC; register with :meth:`register`."""

    def __init__(
        self,
        backend: Backend,
        publisher: Publisher,
        *,
        namespace: str,
        on_empty: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.backend = backend
        self.publisher = publisher
        self.namespace = namespace
        self.tasks: dict[str, Task] = {}
        self._creating: set[str] = set()
        self._on_empty = on_empty
        self._tg: anyio.abc.TaskGroup | None = None
        self.shutdown_requested = anyio.Event()

    # -- plumbing -----------------------------------------------------------

    def register(self, server: Any) -> None:
        """Serve as ``containerd.task.v2.Task`` and ``containerd.task.v3.Task``.

        v3 has the same messages and field numbers (reference §3.4).
        """
        descriptor = shim_pb2.DESCRIPTOR.services_by_name["Task"]
        server.register(descriptor, self)
        from google.protobuf import message_factory

        mapping = {
            rpc.name: (
                message_factory.GetMessageClass(rpc.input_type),
                message_factory.GetMessageClass(rpc.output_type),
                getattr(self, rpc.name),
            )
            for rpc in descriptor.methods
        }
        server.register("containerd.task.v3.Task", mapping)

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Host the waiter tasks; runs until cancelled."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            task_status.started()
            await anyio.sleep_forever()

    async def _thread(self, func: Callable[..., T], *args: Any) -> T:
        try:
            return await anyio.to_thread.run_sync(func, *args, abandon_on_cancel=True)
        except (
            RuntimeFailure,
            StdioError,
            rootfs.RootfsError,
            options.OptionsError,
            OSError,
        ) as exc:
            raise _failure(exc) from None

    def _task(self, container_id: str) -> Task:
        try:
            return self.tasks[container_id]
        except KeyError:
            raise TTRPCError(Code.NOT_FOUND, "container not created") from None

    def _spawn(self, func: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> None:
        assert self._tg is not None, "TaskService.run() is not running"
        self._tg.start_soon(func, *args)

    # -- create / start -------------------------------------------------------

    async def Create(
        self, ctx: ServerContext, req: shim_pb2.CreateTaskRequest
    ) -> shim_pb2.CreateTaskResponse:
        if not req.id:
            raise TTRPCError(Code.INVALID_ARGUMENT, "container id is empty")
        if req.id in self.tasks or req.id in self._creating:
            raise TTRPCError(Code.ALREADY_EXISTS, f"container {req.id} already exists")
        if req.checkpoint or req.parent_checkpoint:
            raise TTRPCError(
                Code.UNIMPLEMENTED, "pysandbox cannot restore from a checkpoint (not supported yet)"
            )
        self._creating.add(req.id)
        try:
            return await self._create(req)
        finally:
            self._creating.discard(req.id)

    async def _create(self, req: shim_pb2.CreateTaskRequest) -> shim_pb2.CreateTaskResponse:
        bundle = req.bundle
        try:
            with open(os.path.join(bundle, "config.json"), encoding="utf-8") as f:
                spec = json.load(f)
        except (OSError, ValueError) as exc:
            raise TTRPCError(
                Code.INVALID_ARGUMENT, f"cannot read {bundle}/config.json: {exc}"
            ) from None
        if not isinstance(spec, dict):
            raise TTRPCError(Code.INVALID_ARGUMENT, f"{bundle}/config.json is not an object")
        if req.HasField("options") and req.options.type_url:
            config = await self._thread(options.config_from_options, req.options)
            await self._thread(options.save, bundle, config)
        spec_process = spec.get("process") or {}
        terminal = bool(req.terminal)
        if terminal != bool(spec_process.get("terminal", False)):
            # containerd sets both from the same source; trust the request.
            spec_process["terminal"] = terminal
        stdio_spec = StdioSpec(req.stdin, req.stdout, "" if terminal else req.stderr, terminal)
        task = Task(req.id, bundle, Process(req.id, "", stdio_spec))
        target = os.path.join(bundle, "rootfs")
        stdio: ProcessStdio | None = None
        try:
            if req.rootfs:
                await self._thread(rootfs.mount_all, list(req.rootfs), target)
                task.rootfs_mounted = True
            stdio = await self._thread(ProcessStdio, stdio_spec, req.id, self.namespace)
            launched: Launched = await self._thread(
                self.backend.create, req.id, bundle, spec, stdio.io
            )
        except BaseException:
            if stdio is not None:
                stdio.close()
            if task.rootfs_mounted:
                await anyio.to_thread.run_sync(rootfs.unmount_all, target)
            raise
        stdio.launched(launched.console)
        task.init.stdio = stdio
        task.init.pid = launched.pid
        self.tasks[req.id] = task
        self._watch_oom(task)
        self._spawn(self._wait_exit, task, task.init)
        self.publisher.publish(
            events.TaskCreate(
                container_id=req.id,
                bundle=bundle,
                rootfs=list(req.rootfs),
                io=events.TaskIO(
                    stdin=req.stdin, stdout=req.stdout, stderr=req.stderr, terminal=req.terminal
                ),
                checkpoint=req.checkpoint,
                pid=launched.pid,
            )
        )
        return shim_pb2.CreateTaskResponse(pid=launched.pid)

    def _watch_oom(self, task: Task) -> None:
        try:
            cg = self.backend.cgroup(task.id)
        except RuntimeFailure:
            cg = None
        if cg is None:
            return
        task.oom = OOMWatcher(cg)
        token = anyio.lowlevel.current_token()

        def notify() -> None:
            try:
                anyio.from_thread.run_sync(self._publish_oom, task.id, token=token)
            except anyio.RunFinishedError:
                pass  # the shim's loop has ended (shutdown): nobody to tell

        task.oom.watch(notify)

    def _publish_oom(self, container_id: str) -> None:
        task = self.tasks.get(container_id)
        if task is not None and task.oom is not None and task.oom.new_kills():
            self.publisher.publish(events.TaskOOM(container_id=container_id))

    async def Start(self, ctx: ServerContext, req: shim_pb2.StartRequest) -> shim_pb2.StartResponse:
        task = self._task(req.id)
        proc = task.process(req.exec_id)
        proc.check("start")
        if not req.exec_id:
            async with task.events_lock:
                proc.check("start")
                await self._thread(self.backend.start, task.id)
                if proc.status == Status.CREATED:
                    proc.status = Status.RUNNING
                self.publisher.publish(events.TaskStart(container_id=task.id, pid=proc.pid))
            return shim_pb2.StartResponse(pid=proc.pid)
        if task.init.status != Status.RUNNING:
            task.init.check("exec")
        async with task.events_lock:
            proc.check("start")
            stdio = await self._thread(ProcessStdio, proc.stdio_spec, task.id, self.namespace)
            try:
                launched: Launched = await self._thread(
                    self.backend.exec, task.id, proc.exec_id, proc.process_spec or {}, stdio.io
                )
            except BaseException:
                stdio.close()
                raise
            stdio.launched(launched.console)
            proc.stdio = stdio
            proc.pid = launched.pid
            proc.status = Status.RUNNING
            self._spawn(self._wait_exit, task, proc)
            self.publisher.publish(
                events.TaskExecStarted(container_id=task.id, exec_id=proc.exec_id, pid=proc.pid)
            )
        return shim_pb2.StartResponse(pid=proc.pid)

    async def _wait_exit(self, task: Task, proc: Process) -> None:
        try:
            status = await anyio.to_thread.run_sync(
                self.backend.wait, task.id, proc.exec_id, abandon_on_cancel=True
            )
        except RuntimeFailure as exc:
            # The sandbox is gone or unreachable: an error status (gVisor: 128).
            log.error("wait for %s/%s failed: %s", task.id, proc.exec_id or "init", exc)
            status = 128 + signal.SIGKILL
        async with task.events_lock:
            if proc.status == Status.DELETED:
                return
            if not proc.exec_id:
                # Execs die with their container; their exits go first.
                for other in list(task.execs.values()):
                    if other.status in (Status.RUNNING, Status.PAUSED):
                        with anyio.move_on_after(1.0):
                            await other.exited.wait()
                if task.oom is not None and task.oom.new_kills():
                    self.publisher.publish(events.TaskOOM(container_id=task.id))
            proc.set_exited(status)
            self.publisher.publish(
                events.TaskExit(
                    container_id=task.id,
                    id=proc.id,
                    pid=proc.pid,
                    exit_status=status,
                    exited_at=_ts(proc.exited_at),
                )
            )

    # -- exec -----------------------------------------------------------------

    async def Exec(self, ctx: ServerContext, req: shim_pb2.ExecProcessRequest) -> empty_pb2.Empty:
        task = self._task(req.id)
        if not req.exec_id:
            raise TTRPCError(Code.INVALID_ARGUMENT, "exec id is empty")
        if req.exec_id in task.execs:
            raise TTRPCError(Code.ALREADY_EXISTS, f"id {req.exec_id}")
        task.init.check("exec")
        if typeurl.type_name(req.spec) != PROCESS_SPEC_URL.rsplit("/", 1)[-1] and (
            req.spec.type_url != PROCESS_SPEC_URL
        ):
            raise TTRPCError(
                Code.INVALID_ARGUMENT,
                f"exec spec has type {req.spec.type_url!r}, not an OCI Process",
            )
        try:
            process_spec = json.loads(req.spec.value)
        except ValueError as exc:
            raise TTRPCError(Code.INVALID_ARGUMENT, f"exec spec is not JSON: {exc}") from None
        if not isinstance(process_spec, dict) or not process_spec.get("args"):
            raise TTRPCError(Code.INVALID_ARGUMENT, "exec spec has no args")
        process_spec["terminal"] = bool(req.terminal)
        stdio_spec = StdioSpec(
            req.stdin, req.stdout, "" if req.terminal else req.stderr, req.terminal
        )
        task.execs[req.exec_id] = Process(task.id, req.exec_id, stdio_spec, process_spec)
        self.publisher.publish(events.TaskExecAdded(container_id=task.id, exec_id=req.exec_id))
        return empty_pb2.Empty()

    # -- queries --------------------------------------------------------------

    async def State(self, ctx: ServerContext, req: shim_pb2.StateRequest) -> shim_pb2.StateResponse:
        task = self._task(req.id)
        proc = task.process(req.exec_id)
        spec = proc.stdio_spec
        return shim_pb2.StateResponse(
            id=proc.id,
            bundle=task.bundle,
            pid=proc.pid,
            status=proc.status.to_proto(),  # type: ignore[arg-type]
            stdin=spec.stdin,
            stdout=spec.stdout,
            stderr=spec.stderr,
            terminal=spec.terminal,
            exit_status=proc.exit_status,
            exited_at=_ts(proc.exited_at),
            exec_id=proc.exec_id,
        )

    async def Wait(self, ctx: ServerContext, req: shim_pb2.WaitRequest) -> shim_pb2.WaitResponse:
        proc = self._task(req.id).process(req.exec_id)
        await proc.exited.wait()
        return shim_pb2.WaitResponse(exit_status=proc.exit_status, exited_at=_ts(proc.exited_at))

    async def Pids(self, ctx: ServerContext, req: shim_pb2.PidsRequest) -> shim_pb2.PidsResponse:
        task = self._task(req.id)
        entries = await self._thread(self.backend.pids, task.id)
        by_pid = {p.pid: p.exec_id for p in task.execs.values() if p.pid}
        out = shim_pb2.PidsResponse()
        for entry in entries:
            info = out.processes.add(pid=entry.pid)
            exec_id = entry.exec_id or by_pid.get(entry.pid, "")
            if exec_id:
                info.info.CopyFrom(typeurl.pack(oci_pb2.ProcessDetails(exec_id=exec_id)))
        return out

    async def Stats(self, ctx: ServerContext, req: shim_pb2.StatsRequest) -> shim_pb2.StatsResponse:
        task = self._task(req.id)
        cg = await self._thread(self.backend.cgroup, task.id)
        if cg is None:
            raise TTRPCError(Code.NOT_FOUND, "cgroup does not exist")
        stats = await self._thread(cg.stats)
        kills = task.oom.kills() if task.oom is not None else 0
        return shim_pb2.StatsResponse(stats=metrics.pack(stats, cg.version, kills))

    async def Connect(
        self, ctx: ServerContext, req: shim_pb2.ConnectRequest
    ) -> shim_pb2.ConnectResponse:
        task = self.tasks.get(req.id)
        return shim_pb2.ConnectResponse(
            shim_pid=os.getpid(), task_pid=task.init.pid if task else 0, version=""
        )

    # -- control --------------------------------------------------------------

    async def Kill(self, ctx: ServerContext, req: shim_pb2.KillRequest) -> empty_pb2.Empty:
        task = self._task(req.id)
        proc = task.process(req.exec_id)
        if not (req.all and not req.exec_id):
            proc.check_kill()
        await self._thread(self.backend.kill, task.id, req.exec_id, req.signal, req.all)
        return empty_pb2.Empty()

    async def Pause(self, ctx: ServerContext, req: shim_pb2.PauseRequest) -> empty_pb2.Empty:
        task = self._task(req.id)
        task.init.check("pause")
        await self._thread(self.backend.pause, task.id)
        task.init.status = Status.PAUSED
        self.publisher.publish(events.TaskPaused(container_id=task.id))
        return empty_pb2.Empty()

    async def Resume(self, ctx: ServerContext, req: shim_pb2.ResumeRequest) -> empty_pb2.Empty:
        task = self._task(req.id)
        task.init.check("resume")
        await self._thread(self.backend.resume, task.id)
        if task.init.status == Status.PAUSED:
            task.init.status = Status.RUNNING
        self.publisher.publish(events.TaskResumed(container_id=task.id))
        return empty_pb2.Empty()

    async def CloseIO(self, ctx: ServerContext, req: shim_pb2.CloseIORequest) -> empty_pb2.Empty:
        proc = self._task(req.id).process(req.exec_id)
        if req.stdin and proc.stdio is not None:
            proc.stdio.close_stdin()
        return empty_pb2.Empty()

    async def ResizePty(
        self, ctx: ServerContext, req: shim_pb2.ResizePtyRequest
    ) -> empty_pb2.Empty:
        task = self._task(req.id)
        proc = task.process(req.exec_id)
        if proc.stdio is not None and proc.stdio.console is not None:
            await self._thread(proc.stdio.resize, req.width, req.height)
            try:
                await anyio.to_thread.run_sync(
                    self.backend.resize, task.id, req.exec_id, req.width, req.height
                )
            except (RuntimeFailure, KeyError, OSError) as exc:
                # The process may have just exited; its terminal went with it.
                log.debug("resize %s/%s: %s", task.id, req.exec_id, exc)
        return empty_pb2.Empty()

    async def Update(self, ctx: ServerContext, req: shim_pb2.UpdateTaskRequest) -> empty_pb2.Empty:
        task = self._task(req.id)
        if not req.HasField("resources") or not req.resources.type_url:
            return empty_pb2.Empty()
        if req.resources.type_url != RESOURCES_URL:
            raise TTRPCError(
                Code.INVALID_ARGUMENT,
                f"resources have type {req.resources.type_url!r}, not OCI LinuxResources",
            )
        try:
            resources = json.loads(req.resources.value)
        except ValueError as exc:
            raise TTRPCError(Code.INVALID_ARGUMENT, f"resources are not JSON: {exc}") from None
        if not isinstance(resources, dict):
            raise TTRPCError(Code.INVALID_ARGUMENT, "resources are not a JSON object")
        await self._thread(self.backend.update, task.id, resources)
        return empty_pb2.Empty()

    async def Checkpoint(
        self, ctx: ServerContext, req: shim_pb2.CheckpointTaskRequest
    ) -> empty_pb2.Empty:
        self._task(req.id)
        raise TTRPCError(
            Code.UNIMPLEMENTED,
            "checkpoint is not supported by pysandbox yet (no sandbox checkpoint/restore)",
        )

    # -- delete / shutdown ------------------------------------------------------

    async def Delete(
        self, ctx: ServerContext, req: shim_pb2.DeleteRequest
    ) -> shim_pb2.DeleteResponse:
        task = self._task(req.id)
        proc = task.process(req.exec_id)
        proc.check("delete")
        if req.exec_id:
            del task.execs[req.exec_id]
            await self._close_stdio(proc)
            proc.status = Status.DELETED
            return shim_pb2.DeleteResponse(
                pid=proc.pid, exit_status=proc.exit_status, exited_at=_ts(proc.exited_at)
            )
        async with task.events_lock:
            proc.check("delete")
            await self._close_stdio(proc)
            await self._thread(self.backend.delete, task.id)
            if task.rootfs_mounted:
                await self._thread(rootfs.unmount_all, os.path.join(task.bundle, "rootfs"))
                task.rootfs_mounted = False
            was_created = proc.status == Status.CREATED
            proc.status = Status.DELETED
            if was_created:
                proc.exited_at = time.time()
                proc.exited.set()
            for other in task.execs.values():
                await self._close_stdio(other)
            del self.tasks[task.id]
            self.publisher.publish(
                events.TaskDelete(
                    container_id=task.id,
                    pid=proc.pid,
                    exit_status=proc.exit_status,
                    exited_at=_ts(proc.exited_at),
                    id=task.id,
                )
            )
        return shim_pb2.DeleteResponse(
            pid=proc.pid, exit_status=proc.exit_status, exited_at=_ts(proc.exited_at)
        )

    async def _close_stdio(self, proc: Process) -> None:
        stdio, proc.stdio = proc.stdio, None
        if stdio is None:
            return
        await anyio.to_thread.run_sync(stdio.wait_output, IO_WAIT_TIMEOUT)
        await anyio.to_thread.run_sync(stdio.close)

    async def Shutdown(self, ctx: ServerContext, req: shim_pb2.ShutdownRequest) -> empty_pb2.Empty:
        """Exit only when no container remains (runc service.go Shutdown)."""
        if self.tasks or self._creating:
            return empty_pb2.Empty()
        self.shutdown_requested.set()
        if self._on_empty is not None:
            await self._on_empty()
        return empty_pb2.Empty()
