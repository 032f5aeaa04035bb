"""The control server of a sandbox (seed ``runsc/boot/controller.go``).

Serves ``pysandbox.control.v1.Control`` (protos/pysandbox/control/v1) over
ttrpc on the listening socket the runtime donated (``--controller-fd``).
Execute starts a process the kernel creates directly (no fork), with the
stdio FDs the caller passed (``runtime.boot.fdlistener``), or with a
terminal made from the host pty replica passed as ``terminal_fd``
(``sentry.fsimpl.devpts.console``). Signals from outside are delivered by
the kernel as kill(2) would (dispositions, masks and handlers apply);
FOREGROUND_PROCESS_GROUP goes to the foreground group of the process's
terminal, and ResizeTerminal changes that terminal's window size. What is
not wired yet answers UNIMPLEMENTED with the reason (stopping an init that
has not started).

The server is ``ttrpc.SyncServer``: each call runs on a thread of its own
(no event loop: asyncio and anyio would cost every sandbox megabytes and
milliseconds). ``Controller._lock`` serialises the handlers' work on the
controller's state, as the event loop used to; it is released only where
a handler blocks (waiting for an exit) or runs a long Sentry operation
(starting a process, building a subcontainer's root), the points where the
event loop used to run other calls.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from protos.pysandbox.control.v1 import control_lite as pb
from runtime import spec as ocispec
from runtime.boot import gofermounts
from runtime.boot.fdlistener import FDStore
from runtime.boot.loader import Loader, LoadError
from runtime.controlsock import FD_TOKEN_KEY
from runtime.errors import RuntimeFailure, SpecError
from sentry.kernel import ExitStatus
from sentry.kernel.signals import SigInfo
from ttrpc import Code, SyncServerContext, TTRPCError

log = logging.getLogger("pysandbox.boot")

#: The control API's ttrpc service. Its messages are ``protos.lite``
#: classes (``control_lite``): the sandbox process never imports protobuf.
SERVICE = "pysandbox.control.v1.Control"

# signal(7): signals whose default action is to ignore them.
DEFAULT_IGNORED = frozenset({signal.SIGCHLD, signal.SIGCONT, signal.SIGURG, signal.SIGWINCH})
# Job control: an init that has not started cannot be stopped.
STOP_SIGNALS = frozenset({signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU})
SIG_IGN = 1


def _err(code: Code, message: str) -> TTRPCError:
    return TTRPCError(code, message)


class _Exit:
    """What Wait reports of a container's init or an exec'd process: its
    status once collected, when, and a kill recorded before it exited."""

    exit_status: ExitStatus | None
    exited_at: float
    killed: ExitStatus | None
    exited: threading.Event

    def _init_exit(
        self,
        exit_status: ExitStatus | None,
        exited_at: float,
        killed: ExitStatus | None,
        exited: threading.Event | None,
    ) -> None:
        self.exit_status = exit_status
        self.exited_at = exited_at
        self.killed = killed
        self.exited = threading.Event() if exited is None else exited


class Subcontainer(_Exit):
    """A second container of the pod: its own mount namespace (root) and
    gofer connections, its init started by StartSubcontainer.

    (Boot's records are plain classes: defining a dataclass costs every
    sandbox start ~0.5 ms, and importing ``dataclasses`` several more.)"""

    id: str
    root: Any
    process: Any  # loader.Container
    gofers: list[socket.socket]
    state: str
    task: Any

    def __init__(  # noqa: PLR0917 - positional, as the dataclass's were
        self,
        id: str,
        root: Any,
        process: Any,
        gofers: list[socket.socket],
        state: str = "created",
        task: Any = None,
        exit_status: ExitStatus | None = None,
        exited_at: float = 0.0,
        killed: ExitStatus | None = None,
        exited: threading.Event | None = None,
    ) -> None:
        self.id = id
        self.root = root
        self.process = process
        self.gofers = gofers
        self.state = state
        self.task = task
        self._init_exit(exit_status, exited_at, killed, exited)

    def close(self) -> None:
        """Close its gofer connections: its gofer then exits."""
        for g in self.gofers:
            g.close()
        self.gofers = []


class ExecProcess(_Exit):
    """One process started by Execute, until its exit is collected."""

    container_id: str
    task: Any
    args: tuple[str, ...]
    console: Any  # its HostConsole when it runs on a terminal

    def __init__(  # noqa: PLR0917 - positional, as the dataclass's were
        self,
        container_id: str,
        task: Any,
        args: tuple[str, ...],
        console: Any = None,
        exit_status: ExitStatus | None = None,
        exited_at: float = 0.0,
        killed: ExitStatus | None = None,
        exited: threading.Event | None = None,
    ) -> None:
        self.container_id = container_id
        self.task = task
        self.args = args
        self.console = console
        self._init_exit(exit_status, exited_at, killed, exited)


_Handler = TypeVar("_Handler", bound=Callable[..., Any])


def _serialized(handler: _Handler) -> _Handler:
    """Run a control method holding the controller's lock."""

    def locked(self: Controller, *args: Any) -> Any:
        with self._lock:
            return handler(self, *args)

    locked.__name__ = handler.__name__
    locked.__qualname__ = handler.__qualname__
    locked.__doc__ = handler.__doc__
    return locked  # type: ignore[return-value]


def _take_terminal(index: int, fds: list[int]) -> int:
    """The host pty replica named by a ``terminal_fd`` index."""
    if index >= len(fds):
        raise _err(Code.INVALID_ARGUMENT, f"terminal_fd {index}: only {len(fds)} FDs were passed")
    fd = fds[index]
    if not os.isatty(fd):
        raise _err(Code.INVALID_ARGUMENT, "terminal_fd is not a terminal")
    return fd


def _take_stdio(stdio: Any, fds: list[int]) -> tuple[int, int, int]:
    """The (stdin, stdout, stderr) host FDs named by ``stdio`` (-1: absent)."""
    out = []
    for name in ("stdin_fd", "stdout_fd", "stderr_fd"):
        if not stdio.HasField(name):
            out.append(-1)
            continue
        index = getattr(stdio, name)
        if index >= len(fds):
            raise _err(Code.INVALID_ARGUMENT, f"{name} {index}: only {len(fds)} FDs were passed")
        out.append(fds[index])
    if len(set(i for i in out if i >= 0)) != len([i for i in out if i >= 0]):
        raise _err(Code.INVALID_ARGUMENT, "one FD index names two streams")
    return out[0], out[1], out[2]


class Controller:
    """The Control service of one sandbox whose root container is ``container_id``."""

    def __init__(self, container_id: str, loader: Loader, fds: FDStore | None = None) -> None:
        self.container_id = container_id
        self.loader = loader
        self.fds = fds if fds is not None else FDStore()
        self.execs: dict[int, ExecProcess] = {}
        self.subcontainers: dict[str, Subcontainer] = {}
        self.state = "created"
        self.exit_status: ExitStatus | None = None
        self.exited_at = 0.0
        self.exited = threading.Event()
        self._killed: ExitStatus | None = None
        # Held by every control method and watcher while it reads or changes
        # the state above (re-entrant: a method may finish a subcontainer).
        self._lock = threading.RLock()

    # -- helpers --------------------------------------------------------

    def _check_id(self, container_id: str) -> Subcontainer | None:
        """None for the root container, else the named subcontainer."""
        if container_id in ("", self.container_id):
            return None
        sub = self.subcontainers.get(container_id)
        if sub is None:
            raise _err(Code.NOT_FOUND, f"container {container_id!r} does not exist in this sandbox")
        return sub

    def _owner(self, tgid: int) -> str:
        """The container a process belongs to (tasks of unknown origin: the root's)."""
        proc = self.execs.get(tgid)
        if proc is not None:
            return proc.container_id
        for sub in self.subcontainers.values():
            if sub.task is not None and sub.task.tgid == tgid:
                return sub.id
        return self.container_id

    def _console(self, container_id: str, pid: int) -> Any:
        """The terminal of process ``pid`` (0: the container's init)."""
        sub = self._check_id(container_id)
        if sub is not None and pid in (0, getattr(sub.task, "tgid", -1)):
            console = sub.process.console
        elif sub is None and pid in (0, 1):
            console = self.loader.init.console
        else:
            proc = self.execs.get(pid)
            if proc is None or proc.container_id != (sub.id if sub else self.container_id):
                raise _err(Code.NOT_FOUND, f"process {pid} does not exist")
            console = proc.console
        if console is None:
            raise _err(Code.NOT_FOUND, f"process {pid or 'init'} has no terminal")
        return console

    def consoles(self) -> list[Any]:
        """Every terminal driven through a host pty in this sandbox."""
        found = [self.loader.init.console]
        found += [s.process.console for s in self.subcontainers.values()]
        found += [p.console for p in self.execs.values()]
        return [c for c in found if c is not None]

    def host_resized(self) -> None:
        """Host SIGWINCH: a host pty changed size; each console re-reads its own."""
        with self._lock:
            consoles = self.consoles()
        for console in consoles:
            console.host_resized()

    def drain_consoles(self, timeout: float = 2.0) -> None:
        """Before the sandbox process exits: let the consoles write out what
        the application printed last."""
        for console in self.consoles():
            console.drain(timeout)

    @contextlib.contextmanager
    def _unlocked(self) -> Iterator[None]:
        """Inside a control method: let other calls run while this one
        blocks or runs a long Sentry operation."""
        self._lock.release()
        try:
            yield
        finally:
            self._lock.acquire()

    @staticmethod
    def _start_watcher(name: str, fn: Callable[..., None], *args: Any) -> None:
        """Background watchers (exits of execs and subcontainers) run on
        threads of their own; they end with what they watch."""
        threading.Thread(target=fn, args=args, name=name, daemon=True).start()

    def watch_exit(self) -> None:
        """Wait for the init to exit, then wake waiters (boot's main thread)."""
        while True:
            status = self.loader.wait(0.2)
            if status is not None:
                break
            if self._killed is not None:
                # A task blocked in a host call (e.g. nanosleep) does not see
                # the kill yet: the container is over regardless.
                status = self._killed
                break
        with self._lock:
            self.exit_status = status
            self.exited_at = time.time()
            self.state = "stopped"
            self.loader.gate.resume()  # nothing may stay parked on the gate
            log.info("container %s exited: %s", self.container_id, status)
            self.exited.set()

    # -- lifecycle ------------------------------------------------------

    @_serialized
    def StartRoot(self, ctx: SyncServerContext, req: pb.StartRootRequest) -> Any:
        self._check_id(req.container_id)
        if self.state != "created":
            raise _err(
                Code.FAILED_PRECONDITION,
                f"cannot start container {req.container_id!r} in state {self.state}",
            )
        self.state = "running"
        try:
            self.loader.start()
        except LoadError as exc:
            self._killed = ExitStatus(code=exc.status)
            raise _err(Code.FAILED_PRECONDITION, str(exc)) from None
        return pb.Empty()

    @_serialized
    def Wait(self, ctx: SyncServerContext, req: pb.WaitRequest) -> Any:
        sub = self._check_id(req.container_id)
        if sub is not None:
            self._wait_for(sub.exited)
            return self._wait_response(sub.exit_status, sub.exited_at)
        self._wait_for(self.exited)
        return self._wait_response()

    @_serialized
    def WaitPID(self, ctx: SyncServerContext, req: pb.WaitPIDRequest) -> Any:
        sub = self._check_id(req.container_id)
        if sub is None and req.pid == 1:
            self._wait_for(self.exited)
            return self._wait_response()
        if sub is not None and sub.task is not None and req.pid == sub.task.tgid:
            self._wait_for(sub.exited)
            return self._wait_response(sub.exit_status, sub.exited_at)
        proc = self.execs.get(req.pid)
        if proc is None:
            raise _err(Code.NOT_FOUND, f"process {req.pid} does not exist")
        self._wait_for(proc.exited)
        assert proc.exit_status is not None
        return self._wait_response(proc.exit_status, proc.exited_at)

    def _wait_for(self, exited: threading.Event) -> None:
        """Block until ``exited`` is set, letting other calls run meanwhile.

        A client that gives up leaves this thread waiting until the process
        exits (a thread cannot be cancelled); that is at most one idle
        thread per abandoned Wait, freed when the container ends.
        """
        if not exited.is_set():
            with self._unlocked():
                exited.wait()

    def _wait_response(self, status: ExitStatus | None = None, at: float = 0.0) -> Any:
        if status is None:
            assert self.exit_status is not None
            status, at = self.exit_status, self.exited_at
        resp = pb.WaitResponse(wait_status=status.wait_status)
        resp.exited_at.FromNanoseconds(int(at * 1e9))
        return resp

    @_serialized
    def Signal(self, ctx: SyncServerContext, req: pb.SignalRequest) -> Any:
        sub = self._check_id(req.container_id)
        signo = req.signal
        if not 0 <= signo < signal.NSIG:
            raise _err(Code.INVALID_ARGUMENT, f"invalid signal {signo}")
        if req.target == pb.SignalRequest.FOREGROUND_PROCESS_GROUP:
            console = self._console(req.container_id, req.pid)
            if signo:
                console.terminal.job.signal_foreground(signo)
            return pb.Empty()
        if sub is not None and req.pid in (0, getattr(sub.task, "tgid", 0)):
            return self._signal_subcontainer(sub, signo, req.target)
        tasks = list(self.loader.kernel.tasks.values())
        if self.state == "created" and self._killed is None:
            # runc: the init exists (held before exec) and can be killed;
            # one that ignores nothing yet dies of any fatal signal.
            if signo in (0, *DEFAULT_IGNORED):
                return pb.Empty()
            if signo in STOP_SIGNALS:
                raise _err(Code.UNIMPLEMENTED, f"signal {signo}: the Sentry cannot stop tasks")
            self._killed = ExitStatus(signo=signo)
            self.loader.kernel.shutdown(self._killed)
            return pb.Empty()
        if self.state not in ("running", "paused") or not tasks:
            if req.target == pb.SignalRequest.ALL_PROCESSES:
                return pb.Empty()  # kill --all: nobody left (as runc)
            raise _err(Code.NOT_FOUND, "no process in the container is running")
        kernel = self.loader.kernel
        if req.target == pb.SignalRequest.ALL_PROCESSES:
            with kernel.tree_lock:
                targets = [tg for tg in kernel.thread_groups.values() if not tg.zombie]
        else:
            tg = kernel.thread_groups.get(req.pid or 1)
            if tg is None or tg.zombie:
                raise _err(Code.NOT_FOUND, f"process {req.pid} does not exist")
            targets = [tg]
        if signo == 0:
            return pb.Empty()
        # Sent from outside the sandbox (si_pid 0): the kernel applies the
        # process's disposition, mask and handlers as for kill(2).
        for tg in targets:
            kernel.send_signal(tg, signo, SigInfo.user(signo, 0, 0))
        return pb.Empty()

    def _signal_subcontainer(self, sub: Subcontainer, signo: int, target: int) -> Any:
        """kill(2) on a subcontainer's init (and, for ALL, its execs)."""
        if sub.state != "running" or sub.task is None:
            if sub.state == "created" and signo not in (0, *DEFAULT_IGNORED):
                # Killed before it started: it never runs.
                self._finish_subcontainer(sub, ExitStatus(signo=signo))
                return pb.Empty()
            if target == pb.SignalRequest.ALL_PROCESSES:
                # kill --all: nothing left to signal is not an error
                # (containerd kills every process before a delete).
                return pb.Empty()
            raise _err(Code.NOT_FOUND, f"no process in container {sub.id!r} is running")
        if signo in STOP_SIGNALS:
            raise _err(Code.UNIMPLEMENTED, f"signal {signo}: the Sentry cannot stop tasks yet")
        victims: list[tuple[Subcontainer | ExecProcess, Any]] = [(sub, sub.task)]
        if target == pb.SignalRequest.ALL_PROCESSES:
            victims += [
                (p, p.task)
                for p in self.execs.values()
                if p.container_id == sub.id and p.exit_status is None
            ]
        for holder, task in victims:
            status = _default_action(task, signo)
            if status is not None:
                holder.killed = status
                task.kill(status)
        return pb.Empty()

    @_serialized
    def Processes(self, ctx: SyncServerContext, req: pb.ProcessesRequest) -> Any:
        sub = self._check_id(req.container_id)
        cid = sub.id if sub is not None else self.container_id
        resp = pb.ProcessesResponse()
        groups: dict[int, list[Any]] = {}
        for task in list(self.loader.kernel.tasks.values()):
            if self._owner(task.tgid) == cid:
                groups.setdefault(task.tgid, []).append(task)
        for tgid, tasks in sorted(groups.items()):
            leader = next((t for t in tasks if t.tid == tgid), tasks[0])
            p = resp.processes.add(
                pid=tgid,
                ppid=leader.ppid(),
                uid=leader.creds.uid,
                threads=len(tasks),
                command=leader.comm,
                container_id=cid,
            )
            proc = self.execs.get(tgid)
            if tgid == 1:
                p.args.extend(self.loader.init.args)
            elif sub is not None and sub.task is not None and tgid == sub.task.tgid:
                p.args.extend(sub.process.args)
            else:
                p.args.extend(proc.args if proc is not None else [leader.comm])
            started = self.loader.kernel.boot_time + (
                leader.start_time_ns - self.loader.kernel.boot_monotonic
            )
            p.start_time.FromNanoseconds(max(started, 0))
        return resp

    @_serialized
    def Event(self, ctx: SyncServerContext, req: pb.EventRequest) -> Any:
        sub = self._check_id(req.container_id)
        cid = sub.id if sub is not None else self.container_id
        kernel = self.loader.kernel
        tasks = [t for t in list(kernel.tasks.values()) if self._owner(t.tgid) == cid]
        usage = os.times()
        stats = pb.Stats(
            # The Sentry does the application's work on its own threads:
            # this process's CPU time is the container's.
            cpu_user_ns=int(usage.user * 1e9),
            cpu_system_ns=int(usage.system * 1e9),
            memory_usage_bytes=_memory_file_bytes(self.loader),
            pids_current=len({t.tgid for t in tasks}),
        )
        state = sub.state if sub is not None else self.state
        return pb.EventResponse(status=state, stats=stats)

    @_serialized
    def Pause(self, ctx: SyncServerContext, req: pb.PauseRequest) -> Any:
        # Sandbox-wide, as runsc (the request names no container).
        self._check_id(req.container_id)
        if self.state != "running":
            raise _err(Code.FAILED_PRECONDITION, f"cannot pause a {self.state} container")
        self.loader.gate.pause()
        self.state = "paused"
        return pb.Empty()

    @_serialized
    def Resume(self, ctx: SyncServerContext, req: pb.ResumeRequest) -> Any:
        self._check_id(req.container_id)
        if self.state != "paused":
            raise _err(Code.FAILED_PRECONDITION, f"cannot resume a {self.state} container")
        self.loader.gate.resume()
        self.state = "running"
        return pb.Empty()

    @_serialized
    def Execute(self, ctx: SyncServerContext, req: pb.ExecuteRequest) -> Any:
        fds = self.fds.take(ctx.get(FD_TOKEN_KEY))
        used: tuple[int, ...] = ()
        handed: set[int] = set()
        try:
            sub = self._check_id(req.container_id)
            state = sub.state if sub is not None else self.state
            if state != "running":
                raise _err(Code.FAILED_PRECONDITION, f"cannot exec in a {state} container")
            try:
                process = ocispec.parse_process(json.loads(req.process_json or b"{}"), "process")
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise _err(Code.INVALID_ARGUMENT, f"exec: malformed process JSON: {exc}") from None
            except SpecError as exc:
                raise _err(Code.INVALID_ARGUMENT, f"exec: {exc}") from None
            terminal = None
            if req.stdio.HasField("terminal_fd"):
                terminal = _take_terminal(req.stdio.terminal_fd, fds)
                stdio = (-1, -1, -1)
            else:
                stdio = _take_stdio(req.stdio, fds)
            if process.terminal != (terminal is not None):
                raise _err(
                    Code.INVALID_ARGUMENT,
                    "exec: process.terminal needs a terminal_fd, and a terminal_fd needs it",
                )
            if terminal is not None:
                handed.add(terminal)  # container_process owns it now, even on failure
            try:
                spec = self.loader.container_process(
                    process, stdio, root=sub.root if sub is not None else None, console_fd=terminal
                )
            except RuntimeFailure as exc:
                raise _err(Code.FAILED_PRECONDITION, f"exec: {exc}") from None
            used = tuple(fd for fd in stdio if fd >= 0)  # owned by the task's files now
            try:
                with self._unlocked():
                    task = self.loader.execute(spec)
            except LoadError as exc:
                spec.spec.fd_table.close_all()
                if spec.console is not None:
                    spec.console.close()
                raise _err(Code.FAILED_PRECONDITION, f"exec failed: {exc}") from None
        finally:
            for fd in fds:
                if fd not in used and fd not in handed:
                    os.close(fd)
        proc = ExecProcess(
            req.container_id or self.container_id, task, process.args, console=spec.console
        )
        self.execs[task.tgid] = proc
        self._start_watcher(f"watch-exec-{task.tgid}", self._watch_exec, proc)
        log.info("exec %s: pid %d", " ".join(process.args), task.tgid)
        return pb.ExecuteResponse(pid=task.tgid)

    def _watch_exec(self, proc: ExecProcess) -> None:
        """Collect an exec'd process's exit (its thread ends with the task)."""
        thread = proc.task.thread
        while True:
            thread.join(0.2)
            if not thread.is_alive():
                status = proc.task.exit_status or ExitStatus(code=125)
                break
            if proc.killed is not None or self.exit_status is not None:
                # Blocked in a host call, it has not seen the kill yet.
                status = proc.killed or ExitStatus(signo=signal.SIGKILL)
                break
        with self._lock:
            if not thread.is_alive():
                # Its files (stdio FIFOs the shim reads to EOF) close now, as
                # at a Linux process's exit, not when the Task is collected.
                proc.task.fd_table.close_all()
            proc.exit_status = status
            proc.exited_at = time.time()
            log.info("exec pid %d exited: %s", proc.task.tgid, status)
            proc.exited.set()

    @_serialized
    def CreateSubcontainer(self, ctx: SyncServerContext, req: pb.CreateSubcontainerRequest) -> Any:
        fds = self.fds.take(ctx.get(FD_TOKEN_KEY))
        kept: set[int] = set()
        try:
            cid = req.container_id
            if not cid or cid == self.container_id or cid in self.subcontainers:
                raise _err(Code.ALREADY_EXISTS, f"container {cid!r} already exists in this sandbox")
            if self.state not in ("running", "paused", "created"):
                raise _err(Code.FAILED_PRECONDITION, f"the sandbox is {self.state}")
            terminal = None
            if req.HasField("terminal_fd") or req.stdio.HasField("terminal_fd"):
                index = req.terminal_fd if req.HasField("terminal_fd") else req.stdio.terminal_fd
                terminal = _take_terminal(index, fds)
            try:
                spec = ocispec.loads(req.spec_json, "/")
            except SpecError as exc:
                raise _err(Code.INVALID_ARGUMENT, f"subcontainer {cid}: {exc}") from None
            if spec.process is None:
                raise _err(Code.INVALID_ARGUMENT, f"subcontainer {cid}: the spec has no process")
            if spec.process.terminal != (terminal is not None):
                raise _err(
                    Code.INVALID_ARGUMENT,
                    f"subcontainer {cid}: process.terminal needs a terminal_fd, and back",
                )
            stdio = (-1, -1, -1) if terminal is not None else _take_stdio(req.stdio, fds)
            gofer_fds = []
            for m in req.mounts:
                if not m.HasField("gofer_fd") or m.gofer_fd >= len(fds):
                    raise _err(Code.INVALID_ARGUMENT, "every mount needs a passed gofer_fd")
                gofer_fds.append(fds[m.gofer_fd])
            if not gofer_fds:
                raise _err(Code.INVALID_ARGUMENT, "no gofer connection for the root")
            kept.update(gofer_fds)
            gofers = [socket.socket(fileno=fd) for fd in gofer_fds]
            try:
                if terminal is not None:
                    kept.add(terminal)  # _build_subcontainer owns it now, even on failure
                with self._unlocked():
                    sub = self._build_subcontainer(
                        cid, spec, req.resolved_mounts_json, gofers, stdio, terminal=terminal
                    )
            except BaseException:
                for g in gofers:
                    g.close()
                raise
            kept.update(fd for fd in stdio if fd >= 0)
        finally:
            for fd in fds:
                if fd not in kept:
                    os.close(fd)
        self.subcontainers[cid] = sub
        log.info("subcontainer %s created", cid)
        return pb.Empty()

    def _build_subcontainer(
        self,
        cid: str,
        spec: ocispec.Spec,
        resolved_json: bytes,
        gofers: list[socket.socket],
        stdio: tuple[int, int, int],
        *,
        terminal: int | None = None,
    ) -> Subcontainer:
        """Its root from its gofer (a new mount namespace), then its init
        (on ``terminal``, a host pty replica this call owns)."""
        try:
            mounts = gofermounts.decode_resolved(resolved_json) if resolved_json else spec.mounts
            collected = gofermounts.collect(spec, list(mounts), gofers)
            root = self.loader.container_root(
                collected.root_fd, collected.readonly_root, collected.mounts, spec.linux.resources
            )
        except (RuntimeFailure, OSError) as exc:
            if terminal is not None:
                os.close(terminal)
            raise _err(Code.FAILED_PRECONDITION, f"subcontainer {cid}: {exc}") from None
        assert spec.process is not None
        try:
            process = self.loader.container_process(
                spec.process, stdio, root=root, console_fd=terminal
            )
        except RuntimeFailure as exc:
            raise _err(Code.FAILED_PRECONDITION, f"subcontainer {cid}: {exc}") from None
        return Subcontainer(cid, root, process, gofers)

    @_serialized
    def StartSubcontainer(self, ctx: SyncServerContext, req: pb.StartSubcontainerRequest) -> Any:
        for fd in self.fds.take(ctx.get(FD_TOKEN_KEY)):
            os.close(fd)
        sub = self._check_id(req.container_id)
        if sub is None:
            raise _err(Code.INVALID_ARGUMENT, "the root container starts with StartRoot")
        if sub.state != "created":
            raise _err(
                Code.FAILED_PRECONDITION,
                f"cannot start container {sub.id!r} in state {sub.state}",
            )
        if self.exit_status is not None:
            raise _err(Code.FAILED_PRECONDITION, "the sandbox's root container has exited")
        sub.state = "running"
        try:
            with self._unlocked():
                sub.task = self.loader.execute(sub.process)
        except LoadError as exc:
            self._finish_subcontainer(sub, ExitStatus(code=exc.status))
            raise _err(Code.FAILED_PRECONDITION, str(exc)) from None
        self._start_watcher(f"watch-{sub.id}", self._watch_subcontainer, sub)
        log.info("subcontainer %s started: pid %d", sub.id, sub.task.tgid)
        return pb.Empty()

    def _watch_subcontainer(self, sub: Subcontainer) -> None:
        thread = sub.task.thread
        while True:
            thread.join(0.2)
            if not thread.is_alive():
                status = sub.task.exit_status or ExitStatus(code=125)
                with self._lock:
                    sub.task.fd_table.close_all()
                break
            if sub.killed is not None or self.exit_status is not None:
                status = sub.killed or ExitStatus(signo=signal.SIGKILL)
                break
        self._finish_subcontainer(sub, status)

    def _finish_subcontainer(self, sub: Subcontainer, status: ExitStatus) -> None:
        with self._lock:
            if sub.exit_status is not None:
                return
            sub.exit_status = status
            sub.exited_at = time.time()
            sub.state = "stopped"
            log.info("subcontainer %s exited: %s", sub.id, status)
            sub.exited.set()

    @_serialized
    def DestroySubcontainer(
        self, ctx: SyncServerContext, req: pb.DestroySubcontainerRequest
    ) -> Any:
        sub = self._check_id(req.container_id)
        if sub is None:
            raise _err(Code.INVALID_ARGUMENT, "the root container goes away with the sandbox")
        status = ExitStatus(signo=signal.SIGKILL)
        for proc in list(self.execs.values()):
            if proc.container_id == sub.id and proc.exit_status is None:
                proc.killed = status
                proc.task.kill(status)
        if sub.task is not None and sub.exit_status is None:
            sub.killed = status
            sub.task.kill(status)
        self._finish_subcontainer(sub, status)
        sub.close()
        del self.subcontainers[sub.id]
        for pid in [p for p, e in self.execs.items() if e.container_id == sub.id]:
            self.execs.pop(pid)
        log.info("subcontainer %s destroyed", sub.id)
        return pb.Empty()

    @_serialized
    def ResizeTerminal(self, ctx: SyncServerContext, req: pb.ResizeTerminalRequest) -> Any:
        if not (0 <= req.rows <= 0xFFFF and 0 <= req.cols <= 0xFFFF):
            raise _err(Code.INVALID_ARGUMENT, f"window size {req.rows}x{req.cols} out of range")
        console = self._console(req.container_id, req.pid)
        console.resize(req.rows, req.cols)
        return pb.Empty()


def _default_action(task: Any, signo: int) -> ExitStatus | None:
    """What ``signo`` does to ``task``'s thread group: None when it is
    ignored or blocked (blocked: pending in Linux; dropped here), else the
    exit status of its default action, terminate (kernel/signal.c
    sig_kernel_ignore/sig_kernel_coredump; no core dump)."""
    if signo == 0 or signo in DEFAULT_IGNORED:
        return None
    if signo != signal.SIGKILL and task.signal_mask >> (signo - 1) & 1:
        return None
    action = task.sighand.get(signo)
    handler = getattr(action, "handler", 0)
    if handler == SIG_IGN and signo != signal.SIGKILL:
        return None
    if handler not in (0, SIG_IGN):
        log.warning("signal %d: the application's handler cannot run yet; default action", signo)
    return ExitStatus(signo=signo)


def _memory_file_bytes(loader: Loader) -> int:
    """Bytes of application memory the MemoryFile holds (st_blocks of the memfd)."""
    try:
        return os.fstat(loader.memory_file.fd).st_blocks * 512
    except OSError:
        return 0


def methods(ctl: Controller) -> dict[str, tuple[type, type, Callable[[Any, Any], Any]]]:
    """``SERVICE``'s ttrpc method table bound to ``ctl`` (for
    ``SyncServer.register``)."""
    return {
        name: (request, response, getattr(ctl, name))
        for name, (request, response) in pb.SERVICES[SERVICE].items()
    }
