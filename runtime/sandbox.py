"""Host-side handle on a sandbox process (seed ``runsc/sandbox/sandbox.go``).

A sandbox is one ``pysandbox boot`` process hosting the Sentry for a whole
pod. This module is the only way the rest of the runtime (CLI and shim)
reaches it: spawning (``Sandbox.create``), the control API (start, exec,
signal, wait, pause, …) and teardown (``destroy``).

``_spawn`` starts the container's gofer (``runtime.gofer.launch``) and
``pysandbox boot`` (``runtime.boot``) with their FDs donated, places them
in the spec's cgroup and waits for boot's start-sync byte (or the error
line boot writes there instead). ``_call`` makes one ttrpc call on a fresh
connection to the control socket (``runtime.controlclient``). Teardown
needs only the recorded (pid, start time) of boot and the gofer.
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import os
import select
import signal
import subprocess
import time
from typing import Any

from runtime import cgroups, console, controlsock, network, spawn
from runtime.config import RuntimeConfig
from runtime.errors import RuntimeFailure
from runtime.gofer import launch
from runtime.spec import CONFIG_FILE, Process, Spec
from runtime.state import ProcessRef

log = logging.getLogger("pysandbox.sandbox")

# How long teardown waits for a sandbox or gofer to exit (seed
# waitForStopped: 5 s; it polls every 100 ms, we wait on a pidfd).
STOP_TIMEOUT = 5.0


class SignalMode(enum.Enum):
    """Who receives a signal (seed ``SignalArgs.Mode``)."""

    INIT = "init"  # the container's init process
    ALL = "all"  # every process of the container (kill --all)
    PID = "pid"  # one process (an exec'd one)
    FOREGROUND = "foreground"  # the foreground process group of its TTY


class CreateArgs:
    """What ``create`` hands to the sandbox (seed ``sandbox.Args``).

    (The records on ``create``'s path are plain classes: defining a
    dataclass costs every start ~0.5 ms, importing ``dataclasses`` more.)
    """

    container_id: str
    spec: Spec
    bundle: str
    console_socket: str
    stdio: tuple[int, int, int]
    # With process.terminal and no console socket: the host pty replica the
    # caller made (it keeps the master and relays it, ``run`` in the
    # foreground). The sandbox gets a copy; the caller still closes its own.
    terminal_fd: int
    # The sandbox dies with its caller (``run`` without --detach).
    attached: bool
    preserve_fds: int

    def __init__(  # noqa: PLR0917 - positional, as the dataclass's were
        self,
        container_id: str,
        spec: Spec,
        bundle: str,
        console_socket: str = "",
        stdio: tuple[int, int, int] = (0, 1, 2),
        terminal_fd: int = -1,
        attached: bool = False,
        preserve_fds: int = 0,
    ) -> None:
        self.container_id = container_id
        self.spec = spec
        self.bundle = bundle
        self.console_socket = console_socket
        self.stdio = stdio
        self.terminal_fd = terminal_fd
        self.attached = attached
        self.preserve_fds = preserve_fds


class ExecArgs:
    """A process to run in a running container (seed ``control.ExecArgs``)."""

    process: Process
    console_socket: str
    detach: bool
    stdio: tuple[int, int, int]
    # As CreateArgs.terminal_fd: the caller's pty replica for process.terminal.
    terminal_fd: int

    def __init__(
        self,
        process: Process,
        console_socket: str = "",
        detach: bool = False,
        stdio: tuple[int, int, int] = (0, 1, 2),
        terminal_fd: int = -1,
    ) -> None:
        self.process = process
        self.console_socket = console_socket
        self.detach = detach
        self.stdio = stdio
        self.terminal_fd = terminal_fd


class Sandbox:
    """A sandbox process, persisted in every container record of its pod.

    Immutable once created (seed: "a copy of it is saved for each
    container"). Two are equal when their persisted fields are.
    """

    id: str
    process: ProcessRef | None
    control_socket: str
    cgroup: dict[str, Any] | None
    original_oom_score_adj: int
    pod_name: str
    pod_namespace: str
    # The root container's gofer (it exits once the sandbox closes its
    # connections; destroy kills it if it has not).
    gofer: ProcessRef | None
    # Not persisted: whether this process spawned (and so can reap) it.
    child: bool

    def __init__(  # noqa: PLR0917 - positional, as the dataclass's were
        self,
        id: str,
        process: ProcessRef | None = None,
        control_socket: str = "",
        cgroup: dict[str, Any] | None = None,
        original_oom_score_adj: int = 0,
        pod_name: str = "",
        pod_namespace: str = "",
        gofer: ProcessRef | None = None,
        child: bool = False,
    ) -> None:
        self.id = id
        self.process = process
        self.control_socket = control_socket
        self.cgroup = cgroup
        self.original_oom_score_adj = original_oom_score_adj
        self.pod_name = pod_name
        self.pod_namespace = pod_namespace
        self.gofer = gofer
        self.child = child

    def _persisted(self) -> tuple[Any, ...]:
        return (
            self.id,
            self.process,
            self.control_socket,
            self.cgroup,
            self.original_oom_score_adj,
            self.pod_name,
            self.pod_namespace,
            self.gofer,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sandbox):
            return NotImplemented
        return self._persisted() == other._persisted()

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass was

    def __repr__(self) -> str:
        return f"Sandbox{(*self._persisted(), self.child)!r}"

    # ---------------------------------------------------------- persistence

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pid": self.process.pid if self.process else 0,
            "pidStartTime": self.process.start_time if self.process else 0,
            "controlSocket": self.control_socket,
            "cgroup": self.cgroup,
            "originalOomScoreAdj": self.original_oom_score_adj,
            "podName": self.pod_name,
            "podNamespace": self.pod_namespace,
            "goferPid": self.gofer.pid if self.gofer else 0,
            "goferStartTime": self.gofer.start_time if self.gofer else 0,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Sandbox:
        pid = int(d.get("pid", 0))
        return cls(
            id=d["id"],
            process=ProcessRef(pid, int(d.get("pidStartTime", 0))) if pid else None,
            control_socket=d.get("controlSocket", ""),
            cgroup=d.get("cgroup"),
            original_oom_score_adj=int(d.get("originalOomScoreAdj", 0)),
            pod_name=d.get("podName", ""),
            pod_namespace=d.get("podNamespace", ""),
            gofer=(
                ProcessRef(int(d["goferPid"]), int(d.get("goferStartTime", 0)))
                if d.get("goferPid")
                else None
            ),
        )

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0

    # ------------------------------------------------------------ creation

    @classmethod
    def create(cls, conf: RuntimeConfig, args: CreateArgs) -> Sandbox:
        """Spawn the sandbox process and wait for its start-sync byte."""
        return _spawn(conf, args)

    # ---------------------------------------------------------- control API

    def start_root(self, conf: RuntimeConfig) -> None:
        """Let the root container's init run (seed ``StartRoot``)."""
        self._call("StartRoot", container_id=self.id)

    def create_subcontainer(self, conf: RuntimeConfig, args: CreateArgs) -> None:
        """Join this sandbox with a second container of the pod (seed
        ``CreateSubcontainer``): start its own gofer, then hand the Sentry
        its spec, stdio and gofer connections. The gofer serves until the
        Sentry closes them (DestroySubcontainer, or the sandbox's end)."""
        spec = args.spec
        assert spec.process is not None
        terminal = _terminal_for(spec.process, args.console_socket, args.terminal_fd)
        try:
            gofer = launch.spawn(
                conf,
                spec,
                overlay_root=launch.wants_overlay(spec),
                stderr=None if conf.debug else subprocess.DEVNULL,
            )
        except BaseException:
            if terminal >= 0:
                os.close(terminal)
            raise
        try:
            if self.cgroup:
                with contextlib.suppress(RuntimeFailure, OSError):
                    cgroups.from_json(self.cgroup).add(gofer.process.pid)
            resolved = _read_gofer_mounts(gofer)
            self._call(
                "CreateSubcontainer",
                container_id=args.container_id,
                args=args,
                gofer_fds=[s.fileno() for s in gofer.sockets],
                resolved=resolved,
                terminal=terminal,
            )
        except BaseException:
            gofer.close()
            raise
        finally:
            if terminal >= 0:
                os.close(terminal)
        # The Sentry holds the connections now; ours would keep the gofer up.
        for sock in gofer.sockets:
            sock.close()

    def start_subcontainer(self, conf: RuntimeConfig, container_id: str, spec: Spec) -> None:
        self._call("StartSubcontainer", container_id=container_id)

    def execute(self, conf: RuntimeConfig, container_id: str, args: ExecArgs) -> int:
        """Run a process in the container; returns its pid in the sandbox.

        With ``process.terminal`` it runs on a terminal: a new pty whose
        master goes to ``args.console_socket``, or the caller's replica
        ``args.terminal_fd``."""
        terminal = _terminal_for(args.process, args.console_socket, args.terminal_fd)
        try:
            result: int = self._call(
                "Execute", container_id=container_id, args=args, terminal=terminal
            )
        finally:
            if terminal >= 0:
                os.close(terminal)
        return result

    def resize_terminal(self, container_id: str, pid: int, rows: int, cols: int) -> None:
        """Set the window size of the terminal of ``pid`` (0: the init)."""
        self._call("ResizeTerminal", container_id=container_id, pid=pid, rows=rows, cols=cols)

    def processes(self, container_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("Processes", container_id=container_id)
        return result

    def signal(self, container_id: str, signo: int, mode: SignalMode, pid: int = 0) -> None:
        self._call("Signal", container_id=container_id, signo=signo, mode=mode, pid=pid)

    def wait(self, container_id: str) -> int:
        """Block until the container's init exits; its wait(2) status."""
        result: int = self._call("Wait", container_id=container_id)
        return result

    def wait_pid(self, container_id: str, pid: int) -> int:
        result: int = self._call("WaitPID", container_id=container_id, pid=pid)
        return result

    def pause(self) -> None:
        self._call("Pause")

    def resume(self) -> None:
        self._call("Resume")

    def event(self, container_id: str) -> dict[str, Any]:
        """Statistics of the container (runc ``events --stats`` data)."""
        result: dict[str, Any] = self._call("Event", container_id=container_id)
        return result

    def container_status(self, container_id: str) -> str:
        """The sandbox's view of one container ("created", "running",
        "paused", "stopped"): a subcontainer's init may end while the
        sandbox runs on."""
        if not self.is_running() or not self.control_socket:
            return "stopped"
        from runtime import controlclient
        from runtime.sandboxcalls import pb

        request = pb.EventRequest(container_id=container_id)
        resp = controlclient.call(self.control_socket, "Event", request, pb.EventResponse)
        return str(resp.status)

    def destroy_subcontainer(self, container_id: str) -> None:
        self._call("DestroySubcontainer", container_id=container_id)

    def _call(self, method: str, **kwargs: Any) -> Any:
        """One control RPC (seed ``s.call``: connect, call, close)."""
        return _call(self, method, kwargs)

    # ------------------------------------------------------------ teardown

    def is_running(self) -> bool:
        """Whether our sandbox process (not a recycled pid) is alive."""
        return self.process is not None and self.process.alive()

    def destroy(self) -> None:
        """Kill the sandbox and release what it held; idempotent.

        Seed ``destroy``: remove the control socket (warn on failure),
        SIGKILL (ESRCH is fine: already dead), then wait until it is gone —
        reap it if it is our child, else poll. Then remove its cgroup.
        """
        if self.control_socket:
            try:
                os.unlink(self.control_socket)
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("cannot remove control socket %s: %s", self.control_socket, exc)
        if self.is_running():
            assert self.process is not None
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
            self._wait_for_stopped()
        elif self.child and self.process is not None:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.process.pid, os.WNOHANG)
        if self.gofer is not None and self.gofer.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.gofer.pid, signal.SIGKILL)
            if not _wait_gone(self.gofer):
                raise RuntimeFailure(f"process {self.gofer.pid} did not stop in time")
        if self.cgroup:
            cgroups.from_json(self.cgroup).destroy()

    def reap(self) -> int:
        """The sandbox's own wait status, which is its root container's
        (boot exits with the application's code, or 128 + its signal)."""
        assert self.process is not None
        # Also when this record was loaded rather than spawned here (``run``
        # reloads it): waitpid answers ECHILD unless the sandbox is our child.
        zygote_status = spawn.wait_status(self.process.pid)
        if zygote_status is not None:
            status = zygote_status
        else:
            try:
                _, status = os.waitpid(self.process.pid, 0)
            except ChildProcessError:
                raise RuntimeFailure(f"exit status of sandbox {self.id} is unavailable") from None
        code = os.waitstatus_to_exitcode(status)
        if code < 0:
            return -code  # boot itself was killed by a signal
        if code > 128 and code - 128 < signal.NSIG:
            return code - 128  # the application was killed by that signal
        return (code & 0xFF) << 8

    def _wait_for_stopped(self) -> None:
        assert self.process is not None
        if spawn.is_zygote_child(self.process.pid):
            spawn.wait_status(self.process.pid, STOP_TIMEOUT)
            return
        if self.child:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.process.pid, 0)
            return
        if not _wait_gone(self.process):
            raise RuntimeFailure(f"sandbox {self.id} (pid {self.pid}) did not stop in time")


def _wait_gone(ref: ProcessRef, timeout: float = STOP_TIMEOUT) -> bool:
    """Wait until ``ref`` has exited (a zombie counts: it never runs
    again, and whoever is its parent reaps it); False on timeout. A pidfd
    reports the exit of any process, not only of a child, so nothing
    polls; the start time checked after opening it keeps a recycled pid
    from being waited for."""
    deadline = time.monotonic() + timeout
    try:
        pidfd = os.pidfd_open(ref.pid)
    except ProcessLookupError:
        return True
    try:
        while ref.alive():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if select.select([pidfd], [], [], remaining)[0]:
                break  # it exited: a zombie is gone for us
    finally:
        os.close(pidfd)
    return True


def place_sandbox(
    conf: RuntimeConfig,
    spec: Spec,
    container_id: str,
    pid: int,
    *,
    cgroup_root: str = cgroups.CGROUP_ROOT,
    fs: cgroups.CgroupFS | None = None,
) -> tuple[cgroups.Cgroup | None, int]:
    """Host-side resources of a freshly spawned sandbox process.

    Creates the cgroup named by ``linux.cgroupsPath`` (none if empty, as in
    runsc), writes the limits, moves ``pid`` in; then applies
    ``process.oomScoreAdj`` (clamped without CAP_SYS_RESOURCE). Returns the
    cgroup (for the record) and the original oom_score_adj (seed
    ``OriginalOOMScoreAdj``). On failure the new cgroup is removed again.
    """
    with open(f"/proc/{pid}/oom_score_adj") as f:
        original = int(f.read())
    cg = None
    if spec.linux.cgroups_path:
        path = cgroups.cgroup_path(spec.linux.cgroups_path, container_id, conf.systemd_cgroup)
        cg = cgroups.new(path, cgroup_root, fs)
        cg.create()
        try:
            cg.apply(spec.linux.resources)
            cg.add(pid)
        except BaseException:
            with contextlib.suppress(RuntimeFailure):
                cg.destroy()
            raise
    if spec.process is not None and spec.process.oom_score_adj is not None:
        cgroups.set_oom_score_adj(pid, spec.process.oom_score_adj)
    return cg, original


# How long create waits for the sandbox's start-sync byte.
START_TIMEOUT = 60.0
READY = b"\x01"


def _dup_or_closed(fd: int) -> int:
    """A copy of ``fd`` to donate, or -1 if it is closed (stays closed inside)."""
    try:
        return os.dup(fd)
    except OSError:
        return -1


def _boot_args(conf: RuntimeConfig, args: CreateArgs, fds: dict[str, Any]) -> list[str]:
    """``[global flags] boot ...`` for ``pysandbox`` (seed ``createSandboxProcess``)."""
    argv = [
        *conf.to_flags(),
        "boot",
        f"--bundle={args.bundle}",
        f"--spec-fd={fds['spec']}",
        f"--controller-fd={fds['controller']}",
        f"--start-sync-fd={fds['start_sync']}",
        f"--mounts-fd={fds['mounts']}",
        f"--io-fds={','.join(str(fd) for fd in fds['io'])}",
        f"--stdio-fds={','.join(str(fd) for fd in fds['stdio'])}",
    ]
    if fds.get("device", -1) >= 0:
        argv.append(f"--device-fd={fds['device']}")
    if fds.get("console", -1) >= 0:
        argv.append(f"--console-fd={fds['console']}")
    if args.attached:
        argv.append("--attached")
    argv.append(args.container_id)
    return argv


#: The device a platform needs, opened here and donated to boot (seed: the
#: host side opens /dev/kvm, the sandbox process gets only the FD; a device
#: cgroup or a pivot_root later cannot take it away).
PLATFORM_DEVICES = {"kvm": "/dev/kvm"}


def _open_platform_device(platform: str) -> int:
    """The FD to donate to boot for ``platform`` (-1: it needs none)."""
    path = PLATFORM_DEVICES.get(platform)
    if path is None:
        return -1
    try:
        return os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        raise RuntimeFailure(
            f"--platform={platform}: cannot open {path}: {exc.strerror} "
            "(is KVM available on this host?)"
        ) from None


def _await_start_sync(sync_r: int, proc: spawn.Process, timeout: float) -> None:
    """Wait for the ready byte; an error line from boot, or its death, fails."""
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RuntimeFailure(f"sandbox did not start within {timeout:.0f}s")
        ready, _, _ = select.select([sync_r], [], [], min(left, 1.0))
        if not ready:
            if proc.poll() is not None:
                break
            continue
        chunk = os.read(sync_r, 4096)
        if not chunk:
            break
        data += chunk
        if data == READY:
            return
    status = proc.wait()
    message = data.decode(errors="replace").strip() or f"sandbox exited with status {status}"
    raise RuntimeFailure(f"cannot start sandbox: {message}")


def _terminal_for(process: Process, console_socket: str, terminal_fd: int) -> int:
    """The host pty replica to donate for ``process`` (-1: no terminal).

    OCI ``process.terminal``: a new pty whose master is sent to the console
    socket (runtime.console), or a copy of the replica the caller made and
    relays itself. The result is ours to close once donated."""
    if not process.terminal:
        return -1
    if console_socket:
        return console.new_with_socket(console_socket, process.console_size)
    if terminal_fd >= 0:
        return os.dup(terminal_fd)
    raise RuntimeFailure("process.terminal needs a --console-socket (or a caller that relays it)")


def _spawn(conf: RuntimeConfig, args: CreateArgs) -> Sandbox:
    """Start the gofer and ``pysandbox boot`` and wait until boot is up.

    Donated to boot: the spec FD, the listening control socket, the write
    end of the start-sync pipe, the gofer's mounts pipe and root connection,
    and the container's stdio. On any failure everything started so far is
    killed and removed (seed: the ``cleanup`` guard of ``New``).
    """
    spec = args.spec
    assert spec.process is not None
    terminal = _terminal_for(spec.process, args.console_socket, args.terminal_fd)
    try:
        # A missing CNI namespace is one clear line before anything starts.
        network.check(network.plan(conf.network, spec))
        device_fd = _open_platform_device(conf.platform)
    except BaseException:
        if terminal >= 0:
            os.close(terminal)
        raise
    gofer_stderr = None if conf.debug else subprocess.DEVNULL
    try:
        gofer = launch.spawn(
            conf, spec, overlay_root=launch.wants_overlay(spec), stderr=gofer_stderr
        )
    except BaseException:
        if device_fd >= 0:
            os.close(device_fd)
        if terminal >= 0:
            os.close(terminal)
        raise
    sock_path = ""
    proc: spawn.Process | None = None
    cg: cgroups.Cgroup | None = None
    sync_r = -1
    try:
        sock_path, listener = controlsock.create(conf.root, args.container_id)
        spec_fd = os.open(os.path.join(args.bundle, CONFIG_FILE), os.O_RDONLY | os.O_CLOEXEC)
        sync_r, sync_w = os.pipe2(os.O_CLOEXEC)
        fds: dict[str, Any] = {
            "spec": spec_fd,
            "controller": listener.fileno(),
            "start_sync": sync_w,
            "mounts": gofer.mounts_fd,
            "io": [s.fileno() for s in gofer.sockets],
            "device": device_fd,
            "console": terminal,
        }
        # boot's own 0-2 are /dev/null (seed: sandbox errors never reach
        # the application's streams): the container's go in as copies.
        stdio = [_dup_or_closed(fd) for fd in args.stdio]
        fds["stdio"] = stdio
        try:
            proc = spawn.spawn_self(
                _boot_args(conf, args, fds),
                pass_fds=[
                    spec_fd,
                    listener.fileno(),
                    sync_w,
                    gofer.mounts_fd,
                    *fds["io"],
                    *(fd for fd in stdio if fd >= 0),
                    *([device_fd] if device_fd >= 0 else []),
                    *([terminal] if terminal >= 0 else []),
                ],
                stderr=None if conf.debug else subprocess.DEVNULL,
                env={k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ},
                # Seed: Setsid, so the sandbox gets no SIGHUP/SIGINT of the
                # caller's terminal; it also lets boot take its console as
                # its controlling terminal.
                new_session=True,
            )
        finally:
            # boot holds them now; ours would keep the gofer alive.
            os.close(spec_fd)
            os.close(sync_w)
            listener.close()
            for fd in stdio:
                if fd >= 0:
                    os.close(fd)
            for s in gofer.sockets:
                s.close()
            with contextlib.suppress(OSError):
                os.close(gofer.mounts_fd)
            if device_fd >= 0:
                os.close(device_fd)
            if terminal >= 0:
                os.close(terminal)
        cg, original = place_sandbox(conf, spec, args.container_id, proc.pid)
        if cg is not None:
            cg.add(gofer.process.pid)
        # While boot starts up: the control API's modules, which ``start``
        # needs next (protobuf alone is ~15 ms of imports).
        from runtime import controlclient, sandboxcalls  # noqa: F401

        _await_start_sync(sync_r, proc, START_TIMEOUT)
        return Sandbox(
            id=args.container_id,
            process=ProcessRef.of(proc.pid),
            control_socket=sock_path,
            cgroup=cg.to_json() if cg is not None else None,
            original_oom_score_adj=original,
            gofer=ProcessRef.of(gofer.process.pid) if gofer.process.poll() is None else None,
            # A zygote's child is not ours to waitpid: ``spawn.wait_status``.
            child=not spawn.is_zygote_child(proc.pid),
        )
    except BaseException:
        if proc is not None and proc.poll() is None:
            proc.kill()
        if proc is not None:
            proc.wait()
        gofer.close()
        if sock_path:
            controlsock.remove(sock_path)
        if cg is not None:
            with contextlib.suppress(RuntimeFailure):
                cg.destroy()
        raise
    finally:
        if sync_r >= 0:
            os.close(sync_r)


def _read_gofer_mounts(gofer: launch.Gofer) -> bytes:
    """The gofer's resolved mounts JSON (it writes them once its root is built)."""
    from runtime.gofer import mounts

    try:
        resolved = mounts.read_all(gofer.mounts_fd)  # closes it
    except RuntimeFailure:
        gofer.mounts_fd = -1
        gofer.process.poll()
        raise RuntimeFailure(
            f"the subcontainer's gofer failed (exit status {gofer.process.returncode})"
        ) from None
    gofer.mounts_fd = -1
    return json.dumps(resolved).encode()


def _call(sandbox: Sandbox, method: str, kwargs: dict[str, Any]) -> Any:
    if not sandbox.is_running():
        if method == "Wait" and sandbox.process is not None:
            return sandbox.reap()
        raise RuntimeFailure(
            f"sandbox {sandbox.id} is not running (pid {sandbox.pid}): cannot call {method}"
        )
    if not sandbox.control_socket:
        raise RuntimeFailure(f"sandbox {sandbox.id} has no control socket: cannot call {method}")
    # Imported here: the messages and the client load while boot starts,
    # not before the CLI has spawned it.
    from runtime import controlclient, sandboxcalls

    request, response_type = sandboxcalls.request_for(method, kwargs)
    try:
        resp: Any = controlclient.call(
            sandbox.control_socket,
            method,
            request,
            response_type,
            fds=sandboxcalls.fds_of(method, kwargs),
        )
    except controlclient.SandboxGone:
        # Seed Wait: the sandbox may exit in the middle of the call; its
        # own exit status is the root container's when we can reap it.
        if method in ("Wait", "WaitPID") and sandbox.process is not None:
            return sandbox.reap()
        raise
    except RuntimeFailure as exc:
        if not sandbox.is_running() and method in ("Wait",) and sandbox.process is not None:
            return sandbox.reap()
        if not sandbox.is_running():
            raise RuntimeFailure(f"sandbox {sandbox.id} exited during {method}: {exc}") from None
        raise
    return sandboxcalls.result_of(method, resp)
