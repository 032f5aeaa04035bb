"""A Backend that runs containers as plain host processes (tests only).

It lets the whole shim — Task API, state machines, stdio, events, OOM,
stats, the binary contract, even containerd driving it — run for real
before sandboxes exist. A container is a process started by a small
Python stub that waits for Start on a pipe, optionally chroots into the
spec's root (when it is not "/"), then execs ``process.args``. With
``terminal`` the process gets a fresh pty as its controlling terminal.
As root, each container gets a real cgroup (``/pysandbox-shimtest/<id>``)
with the spec's memory/pids limits, so Stats and OOM are the kernel's.
Pids are recorded in ``<bundle>/hostbackend.json`` so ``cleanup`` (the
``delete`` binary after a killed shim) can kill what is left.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import termios
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from runtime import cgroups
from runtime import spec as ocispec
from runtime.errors import RuntimeFailure
from shim import reaper
from shim.backend import Launched, ProcessEntry, ProcessIO

CGROUP_PARENT = "/pysandbox-shimtest"
STATE_FILE = "hostbackend.json"

_STUB = r"""
import json, os, sys
import warnings  # os.execvpe imports it lazily: after the chroot it is out of reach
fd = int(sys.argv[1])
cfg = json.loads(sys.argv[2])
if fd >= 0:
    if not os.read(fd, 1):
        os._exit(137)
    os.close(fd)
if cfg["root"]:
    os.chroot(cfg["root"])
os.chdir(cfg["cwd"] or "/")
env = dict(e.split("=", 1) for e in cfg["env"] if "=" in e)
try:
    os.execvpe(cfg["args"][0], cfg["args"], env)
except OSError as exc:
    sys.stderr.write(f"exec {cfg['args'][0]}: {exc.strerror}\n")
    os._exit(127)
"""


@dataclass
class _Proc:
    popen: subprocess.Popen[bytes]
    exec_id: str = ""
    status: int | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def wait(self) -> int:
        rc = self.popen.wait()
        self.status = 128 - rc if rc < 0 else rc
        self.done.set()
        reaper.unprotect(self.popen.pid)
        return self.status


@dataclass
class _Container:
    id: str
    bundle: str
    root: str
    init: _Proc
    start_w: int | None
    cgroup: cgroups.Cgroup | None
    execs: dict[str, _Proc] = field(default_factory=dict)


def _can_use_cgroups() -> bool:
    return os.geteuid() == 0 and os.path.isdir(cgroups.CGROUP_ROOT)


class HostBackend:
    """:class:`shim.backend.Backend` with host processes; ``factory(config)``."""

    def __init__(self, config: object = None, use_cgroups: bool | None = None) -> None:
        self.containers: dict[str, _Container] = {}
        self.use_cgroups = _can_use_cgroups() if use_cgroups is None else use_cgroups
        self.calls: list[tuple[str, str]] = []

    # -- helpers --------------------------------------------------------------

    def _get(self, container_id: str) -> _Container:
        try:
            return self.containers[container_id]
        except KeyError:
            raise RuntimeFailure(f"container {container_id!r} does not exist") from None

    def _spawn(
        self, process: dict[str, Any], root: str, io: ProcessIO, start_r: int, cg: Any
    ) -> tuple[subprocess.Popen[bytes], int | None]:
        cfg = {
            "root": root,
            "cwd": process.get("cwd", "/"),
            "env": process.get(
                "env", ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
            ),
            "args": process["args"],
        }
        master: int | None = None
        if io.terminal:
            master, replica = os.openpty()
            stdin: Any = replica
            stdout: Any = replica
            stderr: Any = replica
        else:
            stdin = io.stdin if io.stdin is not None else subprocess.DEVNULL
            stdout = io.stdout if io.stdout is not None else subprocess.DEVNULL
            stderr = io.stderr if io.stderr is not None else subprocess.DEVNULL

        def preexec() -> None:
            if io.terminal:
                fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            if cg is not None:
                cg.add(os.getpid())

        try:
            popen = subprocess.Popen(
                [sys.executable, "-c", _STUB, str(start_r), json.dumps(cfg)],
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                pass_fds=(start_r,) if start_r >= 0 else (),
                start_new_session=True,
                preexec_fn=preexec,  # noqa: PLW1509 - test backend, TIOCSCTTY needs it
            )
        finally:
            if io.terminal:
                os.close(replica)
        reaper.protect(popen.pid)
        return popen, master

    def _save(self, c: _Container) -> None:
        pids = [c.init.popen.pid, *(p.popen.pid for p in c.execs.values())]
        data = {"pids": pids, "cgroup": c.cgroup.to_json() if c.cgroup else None}
        with open(os.path.join(c.bundle, STATE_FILE), "w") as f:
            json.dump(data, f)

    # -- Backend --------------------------------------------------------------

    def create(
        self, container_id: str, bundle: str, spec: dict[str, Any], io: ProcessIO
    ) -> Launched:
        self.calls.append(("create", container_id))
        process = spec.get("process") or {}
        if not process.get("args"):
            raise RuntimeFailure("process.args must not be empty")
        root = (spec.get("root") or {}).get("path", "/")
        root = os.path.join(bundle, root) if not os.path.isabs(root) else root
        root = "" if os.path.realpath(root) == "/" else root
        cg = None
        if self.use_cgroups:
            cg = cgroups.new(f"{CGROUP_PARENT}/{container_id}")
            cg.create()
            parsed = ocispec.parse({**spec, "root": {"path": "/"}}, bundle)
            cg.apply(parsed.linux.resources)
        start_r, start_w = os.pipe2(os.O_CLOEXEC)
        try:
            popen, master = self._spawn(process, root, io, start_r, cg)
        except BaseException:
            os.close(start_w)
            if cg is not None:
                cg.destroy()
            raise
        finally:
            os.close(start_r)
        c = _Container(container_id, bundle, root, _Proc(popen), start_w, cg)
        self.containers[container_id] = c
        self._save(c)
        return Launched(pid=popen.pid, console=master)

    def start(self, container_id: str) -> None:
        self.calls.append(("start", container_id))
        c = self._get(container_id)
        if c.start_w is None:
            raise RuntimeFailure(f"container {container_id} already started")
        os.write(c.start_w, b"s")
        os.close(c.start_w)
        c.start_w = None

    def exec(
        self, container_id: str, exec_id: str, process: dict[str, Any], io: ProcessIO
    ) -> Launched:
        self.calls.append(("exec", f"{container_id}/{exec_id}"))
        c = self._get(container_id)
        if c.init.done.is_set():
            raise RuntimeFailure(f"container {container_id} is not running")
        popen, master = self._spawn(process, c.root, io, -1, c.cgroup)
        c.execs[exec_id] = _Proc(popen, exec_id)
        self._save(c)
        return Launched(pid=popen.pid, console=master)

    def wait(self, container_id: str, exec_id: str = "") -> int:
        c = self._get(container_id)
        proc = c.execs[exec_id] if exec_id else c.init
        status = proc.wait()
        if not exec_id:
            # Like a sandbox: the container's other processes die with its init.
            for other in c.execs.values():
                if other.popen.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(other.popen.pid, signal.SIGKILL)
        return status

    def _live(self, c: _Container) -> list[_Proc]:
        return [p for p in (c.init, *c.execs.values()) if p.popen.poll() is None]

    def kill(self, container_id: str, exec_id: str, signo: int, all_processes: bool) -> None:
        self.calls.append(("kill", f"{container_id}/{exec_id}/{signo}/{all_processes}"))
        c = self._get(container_id)
        if all_processes:
            targets = self._live(c)
        else:
            targets = [c.execs[exec_id] if exec_id else c.init]
        for p in targets:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.popen.pid, signo)

    def resize(self, container_id: str, exec_id: str, width: int, height: int) -> None:
        """Nothing to do: the host process is the controlling process of
        its pty, so the master's TIOCSWINSZ already sent it SIGWINCH."""

    def pids(self, container_id: str) -> list[ProcessEntry]:
        c = self._get(container_id)
        return [ProcessEntry(p.popen.pid, p.exec_id) for p in self._live(c)]

    def pause(self, container_id: str) -> None:
        for p in self._live(self._get(container_id)):
            os.kill(p.popen.pid, signal.SIGSTOP)

    def resume(self, container_id: str) -> None:
        for p in self._live(self._get(container_id)):
            os.kill(p.popen.pid, signal.SIGCONT)

    def update(self, container_id: str, resources: dict[str, Any]) -> None:
        c = self._get(container_id)
        if c.cgroup is None:
            raise RuntimeFailure(f"container {container_id} has no cgroup")
        parsed = ocispec.parse(
            {"ociVersion": "1.0.2", "root": {"path": "/"}, "linux": {"resources": resources}}
        )
        c.cgroup.apply(parsed.linux.resources)

    def cgroup(self, container_id: str) -> cgroups.Cgroup | None:
        return self._get(container_id).cgroup

    def delete(self, container_id: str) -> None:
        self.calls.append(("delete", container_id))
        c = self.containers.pop(container_id, None)
        if c is None:
            return
        if c.start_w is not None:
            os.close(c.start_w)  # the stub exits 137 without starting
        for p in self._live(c):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.popen.pid, signal.SIGKILL)
        for p in (c.init, *c.execs.values()):
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.popen.wait(5)
        if c.cgroup is not None:
            c.cgroup.destroy()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(c.bundle, STATE_FILE))

    def cleanup(self, container_id: str, bundle: str) -> int:
        """After a dead shim: kill recorded pids, remove the cgroup and the record."""
        path = os.path.join(bundle, STATE_FILE)
        try:
            with open(path) as f:
                data = json.load(f)
        except FileNotFoundError:
            return 0
        pids = [int(p) for p in data.get("pids", [])]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in pids):
            for pid in pids:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)
        if data.get("cgroup"):
            cgroups.from_json(data["cgroup"]).destroy()
        os.unlink(path)
        return pids[0] if pids else 0


def factory(config: object) -> HostBackend:
    """What ``PYSANDBOX_SHIM_BACKEND=tests.shim.hostbackend:factory`` calls."""
    return HostBackend(config)
