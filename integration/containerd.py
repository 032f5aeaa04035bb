"""A private containerd for end-to-end tests, and helpers around it.

Every test that talks to containerd gets its own daemon: its own root and
state directories, its own gRPC socket (and ``<socket>.ttrpc``), a minimal
``config.toml`` (version 2) and a log file, all under one short directory in
/tmp (unix socket paths are limited to 108 bytes, unix(7)). It is stopped
and everything it left behind is cleaned up on the way out, even when the
test fails: tasks are deleted through containerd first; then shim processes
started for it and their containers are killed, runc state and cgroups of
those containers removed, shim sockets in /run/containerd/s (shims put them
there whatever containerd's --state is) deleted, mounts under its
directories detached, and the directory removed.

Task ids are host-wide for runc (state in /run/containerd/runc/<ns>/<id>,
cgroup /<ns>/<id>): tests use :func:`unique_id`.

The module also builds a busybox OCI image from the host's static busybox
(no registry is reachable from tests) and imports it with ``ctr``.
"""

from __future__ import annotations

import contextlib
import ctypes
import gzip
import hashlib
import io
import json
import os
import queue
import re
import secrets
import select
import shutil
import signal
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CONTAINERD = "containerd"
CTR = "ctr"
# Shims create their sockets here regardless of containerd's state dir
# (containerd 1.6 runtime/v2/shim/util_unix.go: socketRoot).
SHIM_SOCKET_DIR = Path("/run/containerd/s")
CRI_PLUGIN = "io.containerd.grpc.v1.cri"
DEFAULT_NAMESPACE = "default"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0


class ContainerdError(Exception):
    """The private containerd could not be started or did not answer."""


def unique_id(prefix: str) -> str:
    """A task id no other run on this host uses at the same time.

    runc keeps state in /run/containerd/runc/<ns>/<id> and cgroups at
    /<ns>/<id>, shared by every containerd on the host; concurrent test runs
    must not pick the same id.
    """
    return f"{prefix}-{secrets.token_hex(4)}"


def missing_requirements() -> str | None:
    """Why a private containerd cannot run here, or None if it can."""
    if os.geteuid() != 0:
        return "needs root (containerd manages mounts, cgroups and /run/containerd)"
    for binary in (CONTAINERD, CTR):
        if shutil.which(binary) is None:
            return f"needs the {binary!r} binary on PATH (apt-get install containerd)"
    return None


@dataclass(frozen=True)
class ContainerdConfig:
    """What a test may change in its containerd."""

    cri: bool = False
    """Load the CRI plugin (disabled by default: noisy without CNI). Its CNI
    directories are then private too (it would create /etc/cni/net.d)."""
    sandbox_image: str | None = None
    """CRI ``sandbox_image`` (the pause image); import it first, nothing can be pulled."""
    disabled_plugins: tuple[str, ...] = ()
    """More plugin ids to disable, e.g. "io.containerd.snapshotter.v1.btrfs"."""
    log_level: str = "info"
    extra_toml: str = ""
    """Appended verbatim to config.toml (e.g. runtime tables for the CRI plugin)."""
    path_prepend: tuple[str, ...] = ()
    """Directories put first on containerd's PATH, where it looks up shim
    binaries by runtime name (``io.pysandbox.v2`` -> ``containerd-shim-pysandbox-v2``,
    runtime/v2/manager.go resolveRuntimePath). containerd's cwd (``base``)
    is searched before PATH."""


@dataclass
class PrivateContainerd:
    """A running private containerd (what the ``containerd`` fixture yields)."""

    base: Path
    config: ContainerdConfig
    process: subprocess.Popen[bytes] | None = None
    _log_file: io.BufferedWriter | None = field(default=None, repr=False)

    @property
    def address(self) -> Path:
        """containerd's gRPC socket (what ``ctr -a`` and the shim's ``-address`` take)."""
        return self.base / "c.sock"

    @property
    def ttrpc_address(self) -> Path:
        """containerd's ttrpc socket (events Forward; the shim's TTRPC_ADDRESS)."""
        return Path(f"{self.address}.ttrpc")

    @property
    def root(self) -> Path:
        return self.base / "root"

    @property
    def state(self) -> Path:
        return self.base / "state"

    @property
    def config_path(self) -> Path:
        return self.base / "config.toml"

    @property
    def log_path(self) -> Path:
        return self.base / "containerd.log"

    @property
    def fifo_dir(self) -> Path:
        """A private FIFO directory to pass as ``ctr --fifo-dir``."""
        return self.base / "fifo"

    def env(self) -> dict[str, str]:
        """Environment a shim started by hand would get from this containerd."""
        env = dict(os.environ)
        env["TTRPC_ADDRESS"] = str(self.ttrpc_address)
        env["GOMAXPROCS"] = "2"
        return env

    def ctr(
        self,
        *args: str,
        namespace: str = DEFAULT_NAMESPACE,
        timeout: float = 30.0,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``ctr`` against this containerd; on failure raise with its output."""
        argv = [CTR, "-a", str(self.address), "-n", namespace, *args]
        result = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise ContainerdError(
                f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
            )
        return result

    def log_tail(self, lines: int = 40) -> str:
        """The end of containerd's log, for failure messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(no log: {exc})"
        return "\n".join(text.splitlines()[-lines:])

    # -- lifecycle ---------------------------------------------------------

    def write_config(self) -> None:
        disabled = list(self.config.disabled_plugins)
        if not self.config.cri:
            disabled.append(CRI_PLUGIN)
        # The "opt" plugin would otherwise create /opt/containerd on the host.
        self.config_path.write_text(
            "version = 2\n"
            f'root = "{self.root}"\n'
            f'state = "{self.state}"\n'
            f"disabled_plugins = {json.dumps(disabled)}\n"
            "\n[grpc]\n"
            f'  address = "{self.address}"\n'
            "\n[ttrpc]\n"
            f'  address = "{self.ttrpc_address}"\n'
            "\n[debug]\n"
            f'  level = "{self.config.log_level}"\n'
            '\n[plugins."io.containerd.internal.v1.opt"]\n'
            f'  path = "{self.base / "opt"}"\n' + self._cri_toml() + self.config.extra_toml
        )

    def _cri_toml(self) -> str:
        if not self.config.cri:
            return ""
        text = f'\n[plugins."{CRI_PLUGIN}"]\n'
        if self.config.sandbox_image is not None:
            text += f"  sandbox_image = {json.dumps(self.config.sandbox_image)}\n"
        return text + (
            f'\n[plugins."{CRI_PLUGIN}".cni]\n'
            f'  bin_dir = "{self.base / "cni" / "bin"}"\n'
            f'  conf_dir = "{self.base / "cni" / "net.d"}"\n'
        )

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the daemon and wait until ``ctr version`` answers."""
        self.fifo_dir.mkdir(parents=True, exist_ok=True)
        self.write_config()
        self._log_file = open(self.log_path, "wb")  # noqa: SIM115 - lives as long as the daemon
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([*self.config.path_prepend, env.get("PATH", os.defpath)])
        self.process = subprocess.Popen(
            [CONTAINERD, "--config", str(self.config_path)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=self.base,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ContainerdError(
                    f"containerd exited with {self.process.returncode} while starting:\n"
                    + self.log_tail()
                )
            if self.address.exists():
                probe = self.ctr("version", check=False, timeout=5)
                if probe.returncode == 0:
                    return
                last = probe.stderr
            time.sleep(0.1)
        raise ContainerdError(
            f"containerd did not answer within {timeout:.0f}s ({last.strip()}):\n" + self.log_tail()
        )

    def stop(self) -> list[str]:
        """Stop containerd and remove every trace of it; returns what went wrong.

        Never raises: it runs in fixture teardown, where an exception would
        hide the test's own failure. Problems are returned for the caller to
        report.
        """
        problems: list[str] = []
        shim_sockets = self._shim_sockets()
        if self.process is not None and self.process.poll() is None:
            problems.extend(self._remove_tasks())
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                problems.append("containerd ignored SIGTERM; killed")
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        if self._log_file is not None:
            self._log_file.close()
        # Shims outlive containerd (own process group); their containers are
        # their descendants (the shim is a child subreaper).
        for pid in processes_mentioning(str(self.address)):
            doomed = [pid, *descendants(pid)]
            problems.append(f"killed leftover {pid} {_cmdline(pid)} and descendants {doomed[1:]}")
            for victim in doomed:
                _kill(victim)
        problems.extend(remove_runc_states(self.base))
        for sock in shim_sockets:
            with contextlib.suppress(FileNotFoundError):
                sock.unlink()
        for mountpoint in mounts_under(self.base):
            try:
                umount_detach(mountpoint)
            except OSError as exc:
                problems.append(f"cannot unmount {mountpoint}: {exc}")
        shutil.rmtree(self.base, ignore_errors=True)
        if self.base.exists():
            problems.append(f"could not remove {self.base}")
        return problems

    @property
    def scratch_bundles(self) -> Path:
        """Where tests make bundles for shims they start by hand (see start_shim)."""
        return self.base / "bundles"

    def _remove_tasks(self) -> list[str]:
        """Kill and delete every task and container through containerd (best effort)."""
        problems = []
        try:
            namespaces = self.ctr("namespaces", "ls", "-q", timeout=10).stdout.split()
            for namespace in namespaces:
                for task in self.ctr("tasks", "ls", "-q", namespace=namespace).stdout.split():
                    result = self.ctr(
                        "tasks", "delete", "--force", task, namespace=namespace, check=False
                    )
                    if result.returncode != 0:
                        problems.append(f"ctr tasks delete --force {task}: {result.stderr.strip()}")
                for container in self.ctr(
                    "containers", "ls", "-q", namespace=namespace
                ).stdout.split():
                    self.ctr("containers", "delete", container, namespace=namespace, check=False)
        except (ContainerdError, subprocess.TimeoutExpired) as exc:
            problems.append(f"could not remove tasks through containerd: {exc}")
        return problems

    def _shim_sockets(self) -> list[Path]:
        """Sockets in /run/containerd/s named by this containerd's (or our) bundles."""
        found = []
        address_files = [
            *self.state.glob("io.containerd.runtime.v2.task/*/*/address"),
            *self.scratch_bundles.glob("*/address"),
        ]
        for address_file in address_files:
            with contextlib.suppress(OSError):
                found.append(Path(address_file.read_text().strip().removeprefix("unix://")))
        return found


@contextlib.contextmanager
def private_containerd(config: ContainerdConfig | None = None) -> Iterator[PrivateContainerd]:
    """Start a private containerd, yield it, always stop and clean up."""
    base = Path(tempfile.mkdtemp(prefix="pysbx-cd-", dir="/tmp"))
    daemon = PrivateContainerd(base=base, config=config or ContainerdConfig())
    try:
        daemon.start()
        yield daemon
    finally:
        problems = daemon.stop()
        if problems:
            # Printed (pytest shows it with the test's output); not raised, so
            # that a failing test's own error stays the one reported.
            print("private containerd teardown:\n  " + "\n  ".join(problems))


# -- watching events ---------------------------------------------------------


@dataclass(frozen=True)
class CtrEvent:
    """One line of ``ctr events``: ``<time> <namespace> <topic> <event as JSON>``."""

    namespace: str
    topic: str
    payload: dict[str, object]
    line: str

    @classmethod
    def parse(cls, line: str) -> CtrEvent | None:
        # Go's time.Time.String() takes four fields: date, clock, offset, zone
        # (cmd/ctr/commands/events/events.go prints it first).
        parts = line.split(" ", 6)
        if len(parts) < 6 or not parts[5].startswith("/"):
            return None
        try:
            payload = json.loads(parts[6]) if len(parts) == 7 else {}
        except ValueError:
            return None
        return cls(parts[4], parts[5], payload if isinstance(payload, dict) else {}, line)


class EventWatcher:
    """``ctr events`` against a private containerd, subscribed once constructed.

    ctr prints an event only if it can decode the Any by its type URL, so a
    printed event proves containerd and ctr understood its bytes.
    Subscription is asynchronous; it is proven live by creating namespaces
    (containerd publishes /namespaces/create) until one shows up.
    """

    def __init__(self, daemon: PrivateContainerd, timeout: float = 10.0) -> None:
        self.seen: list[CtrEvent] = []
        self.other_output: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self._process = subprocess.Popen(
            [CTR, "-a", str(daemon.address), "events"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, name="ctr events", daemon=True).start()
        deadline = time.monotonic() + timeout
        attempt = 0
        while time.monotonic() < deadline:
            name = f"eventwatch{attempt}"
            daemon.ctr("namespaces", "create", name)
            if self.wait_for("/namespaces/create", timeout=0.25, name=name) is not None:
                return
            attempt += 1
        self.close()
        raise ContainerdError(f"ctr events showed no namespace event within {timeout}s")

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._queue.put(line.rstrip("\n"))

    def wait_for(self, topic: str, timeout: float, **fields: object) -> CtrEvent | None:
        """The next event on ``topic`` whose payload has ``fields``, or None after ``timeout``."""
        for earlier in self.seen:
            if earlier.topic == topic and all(
                earlier.payload.get(k) == v for k, v in fields.items()
            ):
                self.seen.remove(earlier)
                return earlier
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            event = CtrEvent.parse(line)
            if event is None:
                self.other_output.append(line)
            elif event.topic == topic and all(event.payload.get(k) == v for k, v in fields.items()):
                return event
            else:
                self.seen.append(event)
        return None

    def collect(self, until_topic: str, timeout: float, **fields: object) -> list[CtrEvent]:
        """Events whose payload has ``fields``, in arrival order, up to ``until_topic``.

        Stops early (without it) after ``timeout``; earlier unclaimed events
        count too, so nothing seen before the call is lost.
        """
        matching: list[CtrEvent] = []

        def wanted(event: CtrEvent) -> bool:
            return all(event.payload.get(k) == v for k, v in fields.items())

        for earlier in list(self.seen):
            if wanted(earlier):
                self.seen.remove(earlier)
                matching.append(earlier)
                if earlier.topic == until_topic:
                    return matching
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            event = CtrEvent.parse(line)
            if event is None:
                self.other_output.append(line)
            elif wanted(event):
                matching.append(event)
                if event.topic == until_topic:
                    break
            else:
                self.seen.append(event)
        return matching

    def close(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(STOP_TIMEOUT)


# -- shims started by hand -------------------------------------------------


class FifoLog:
    """The bundle's ``log`` FIFO, drained into memory by a thread.

    containerd creates ``<bundle>/log`` and reads it; a Go shim daemon opens
    it O_WRONLY before it serves, which blocks until a reader exists
    (fifo(7)). The reader is opened O_RDWR so that neither side blocks and it
    never sees EOF between writers.
    """

    def __init__(self, path: Path) -> None:
        os.mkfifo(path, 0o700)
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        self._chunks: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, name=f"fifo-log {path}", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._fd], [], [], 0.1)
            if ready:
                with contextlib.suppress(BlockingIOError):
                    self._chunks.append(os.read(self._fd, 65536))

    def text(self) -> str:
        return b"".join(self._chunks).decode(errors="replace")

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        os.close(self._fd)


@dataclass
class StartedShim:
    """A shim daemon launched with the shim v2 ``start`` contract."""

    binary: Path
    task_id: str
    namespace: str
    bundle: Path
    address: str
    """What ``start`` printed: ``unix:///run/containerd/s/<sha256>``."""
    log: FifoLog

    @property
    def socket_path(self) -> Path:
        return Path(self.address.removeprefix("unix://"))

    def cleanup(self, shim_pid: int | None = None) -> None:
        """Kill the daemon if it still runs, remove its socket, stop draining its log."""
        if shim_pid is not None and not is_gone(shim_pid):
            _kill(shim_pid)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        self.log.close()


MINIMAL_SPEC = {
    "ociVersion": "1.0.2",
    "process": {"args": ["sh"], "cwd": "/"},
    "root": {"path": "rootfs"},
}


def start_shim(
    daemon: PrivateContainerd,
    binary: Path,
    task_id: str,
    namespace: str = DEFAULT_NAMESPACE,
    spec: dict[str, object] | None = None,
    stdin: bytes = b"",
    timeout: float = 10.0,
) -> StartedShim:
    """Run ``<binary> ... start`` in a fresh bundle the way containerd 1.6 does.

    Bundle: ``config.json``, an empty ``rootfs/`` and the ``log`` FIFO
    (runtime/v2/bundle.go, shim_unix.go openShimLog). argv: ``-namespace
    <ns> -address <grpc socket> -publish-binary <containerd> -id <id>
    start``, cwd = bundle, env + TTRPC_ADDRESS (runtime/v2/binary.go,
    shim/util.go Command). stdout and stderr are read together, as
    containerd's CombinedOutput does; the trimmed output is the address.
    """
    bundle = daemon.scratch_bundles / task_id
    bundle.mkdir(parents=True)
    (bundle / "rootfs").mkdir()
    (bundle / "config.json").write_text(json.dumps(spec or MINIMAL_SPEC))
    log = FifoLog(bundle / "log")
    containerd_binary = shutil.which(CONTAINERD) or CONTAINERD
    argv = [
        str(binary),
        "-namespace", namespace,
        "-address", str(daemon.address),
        "-publish-binary", containerd_binary,
        "-id", task_id,
        "start",
    ]  # fmt: skip
    try:
        result = subprocess.run(
            argv,
            cwd=bundle,
            env=daemon.env(),
            input=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        log.close()
        raise ContainerdError(f"{binary} start did not return within {timeout}s") from exc
    output = result.stdout.decode(errors="replace").strip()
    if result.returncode != 0 or not output.startswith("unix://"):
        log.close()
        raise ContainerdError(
            f"{binary} start failed ({result.returncode}): {output!r}\nshim log:\n{log.text()}"
        )
    return StartedShim(binary, task_id, namespace, bundle, output, log)


# -- host helpers ----------------------------------------------------------


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def processes_mentioning(needle: str) -> list[int]:
    """Pids (not ours) whose argv or environment names ``needle``.

    Shims started for a containerd carry its socket in ``-address`` and in
    ``TTRPC_ADDRESS``; the socket path is unique to one private daemon.
    """
    found = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        pid = int(entry.name)
        try:
            blob = (entry / "cmdline").read_bytes() + b"\0" + (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle.encode() in blob and not is_zombie(pid):
            found.append(pid)
    return found


def descendants(pid: int) -> list[int]:
    """All live descendants of ``pid`` (from the ppid field of /proc/*/stat)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def _start_time(pid: int) -> int | None:
    """Field 22 of /proc/pid/stat (clock ticks since boot), to detect pid reuse."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


RUNC_ROOT = Path("/run/containerd/runc")


def remove_runc_states(base: Path) -> list[str]:
    """Clean runc containers whose rootfs lies under ``base``; returns what was done.

    containerd's runc shim keeps runc state in /run/containerd/runc/<ns>/<id>
    and cgroups at /<ns>/<id>; a force-killed shim leaves both, and the next
    private containerd using the same namespace and id would collide.
    """
    done = []
    for state_file in RUNC_ROOT.glob("*/*/state.json"):
        try:
            state = json.loads(state_file.read_text())
        except (OSError, ValueError):
            continue
        if not str(state.get("config", {}).get("rootfs", "")).startswith(str(base) + "/"):
            continue
        pid = state.get("init_process_pid")
        if (
            isinstance(pid, int)
            and pid > 0
            and not is_gone(pid)
            and _start_time(pid) == state.get("init_process_start")
        ):
            _kill(pid)
            done.append(f"killed runc container init {pid} of {state_file.parent.name}")
        for cgroup in sorted(set((state.get("cgroup_paths") or {}).values())):
            with contextlib.suppress(OSError):
                Path(cgroup).rmdir()
        shutil.rmtree(state_file.parent, ignore_errors=True)
        done.append(f"removed runc state {state_file.parent}")
    return done


def is_zombie(pid: int) -> bool:
    """True if ``pid`` has exited but not been reaped (state Z in /proc/pid/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state follows the parenthesised comm, which may contain spaces (proc(5)).
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def is_gone(pid: int) -> bool:
    """True if ``pid`` no longer runs (absent, or a zombie nobody reaped yet)."""
    return not Path(f"/proc/{pid}").exists() or is_zombie(pid)


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_gone(pid):
            return True
        time.sleep(0.05)
    return is_gone(pid)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_gone(pid, STOP_TIMEOUT)


def mounts_under(base: Path) -> list[Path]:
    """Mount points at or below ``base``, deepest first (from /proc/self/mountinfo)."""
    prefix = str(base).rstrip("/") + "/"
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        # Field 5 is the mount point; space, tab, newline and backslash are
        # written as \ooo octal escapes (fs/proc_namespace.c, mangle()).
        mountpoint = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])
        if mountpoint == str(base) or mountpoint.startswith(prefix):
            found.append(Path(mountpoint))
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


_MNT_DETACH = 2  # include/uapi/linux/mount.h


def umount_detach(target: Path) -> None:
    """umount2(target, MNT_DETACH): lazy unmount, so busy mounts still go (umount(2))."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.umount2(os.fsencode(target), _MNT_DETACH) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno), str(target))


# -- busybox OCI image -----------------------------------------------------

BUSYBOX_REF = "docker.io/pysandbox/busybox:local"
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")


def find_static_busybox() -> Path | None:
    """The host's busybox if it is statically linked (it runs in an empty rootfs)."""
    for candidate in BUSYBOX_CANDIDATES:
        path = Path(candidate)
        if path.is_file() and _is_static_elf(path):
            return path.resolve()
    return None


def _is_static_elf(path: Path) -> bool:
    """No PT_INTERP program header means no dynamic loader (elf(5))."""
    import struct

    with open(path, "rb") as f:
        header = f.read(64)
        if header[:4] != b"\x7fELF" or header[4] != 2:  # 64-bit only
            return False
        (phoff,) = struct.unpack_from("<Q", header, 32)
        phentsize, phnum = struct.unpack_from("<HH", header, 54)
        for index in range(phnum):
            f.seek(phoff + index * phentsize)
            (p_type,) = struct.unpack("<I", f.read(4))
            if p_type == 3:  # PT_INTERP
                return False
    return True


def _busybox_applets(busybox: Path) -> list[str]:
    out = subprocess.run(
        [str(busybox), "--list-full"], capture_output=True, text=True, check=True, timeout=10
    ).stdout
    return sorted({line.strip() for line in out.splitlines() if line.strip()})


def _tar_bytes(members: Sequence[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _tar_entry(name: str, kind: bytes, mode: int, **extra: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = 0
    for key, value in extra.items():
        setattr(info, key, value)
    return info


def busybox_rootfs_layer(busybox: Path) -> bytes:
    """An uncompressed layer tar: bin/busybox, an applet symlink per applet, a few dirs."""
    data = busybox.read_bytes()
    members: list[tuple[tarfile.TarInfo, bytes | None]] = []
    for directory in (
        "bin",
        "sbin",
        "usr",
        "usr/bin",
        "usr/sbin",
        "etc",
        "tmp",
        "proc",
        "dev",
        "sys",
        "run",
        "root",
        "var",
    ):
        members.append(
            (_tar_entry(directory, tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755), None)
        )
    members.append((_tar_entry("bin/busybox", tarfile.REGTYPE, 0o755, size=len(data)), data))
    for applet in _busybox_applets(busybox):
        name = applet.lstrip("/")
        if name == "bin/busybox" or "/" not in name:
            continue
        target = os.path.relpath("bin/busybox", os.path.dirname(name))
        members.append((_tar_entry(name, tarfile.SYMTYPE, 0o777, linkname=target), None))
    passwd = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
    group = b"root:x:0:\nnogroup:x:65534:\n"
    members.append((_tar_entry("etc/passwd", tarfile.REGTYPE, 0o644, size=len(passwd)), passwd))
    members.append((_tar_entry("etc/group", tarfile.REGTYPE, 0o644, size=len(group)), group))
    return _tar_bytes(members)


def _blob(content: bytes) -> tuple[str, bytes]:
    return "sha256:" + hashlib.sha256(content).hexdigest(), content


def build_busybox_image(out: Path, busybox: Path, ref: str = BUSYBOX_REF) -> Path:
    """Write an OCI image layout tar (image-spec "image-layout") for ``ref`` to ``out``.

    One gzip layer holding static busybox, a config running ``sh``; the
    index carries ``io.containerd.image.name`` so ``ctr images import``
    names the image ``ref`` without --base-name.
    """
    layer = busybox_rootfs_layer(busybox)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    layer_digest, layer_gz = _blob(gzip.compress(layer, mtime=0))
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"],
            "WorkingDir": "/",
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "pysandbox integration: static busybox"}],
    }
    config_digest, config_json = _blob(json.dumps(config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": len(config_json),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": layer_digest,
                "size": len(layer_gz),
            }
        ],
    }
    manifest_digest, manifest_json = _blob(json.dumps(manifest, sort_keys=True).encode())
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": len(manifest_json),
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {
                    "io.containerd.image.name": ref,
                    "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[-1],
                },
            }
        ],
    }
    members: list[tuple[tarfile.TarInfo, bytes | None]] = []
    for name, content in (
        ("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
        ("index.json", json.dumps(index, sort_keys=True).encode()),
    ):
        members.append((_tar_entry(name, tarfile.REGTYPE, 0o644, size=len(content)), content))
    members.append((_tar_entry("blobs", tarfile.DIRTYPE, 0o755), None))
    members.append((_tar_entry("blobs/sha256", tarfile.DIRTYPE, 0o755), None))
    for digest, content in (
        (config_digest, config_json),
        (layer_digest, layer_gz),
        (manifest_digest, manifest_json),
    ):
        name = "blobs/sha256/" + digest.removeprefix("sha256:")
        members.append((_tar_entry(name, tarfile.REGTYPE, 0o644, size=len(content)), content))
    out.write_bytes(_tar_bytes(members))
    return out


def extract_busybox_rootfs(dest: Path, busybox: Path | None = None) -> Path:
    """Unpack the busybox layer into directory ``dest`` (a rootfs to bind-mount)."""
    busybox = busybox or find_static_busybox()
    if busybox is None:
        raise ContainerdError(
            "no statically linked busybox at /bin/busybox (apt-get install busybox-static)"
        )
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(busybox_rootfs_layer(busybox))) as tar:
        tar.extractall(dest, filter="tar")
    return dest


def default_oci_spec(
    daemon: PrivateContainerd, task_id: str, args: Sequence[str], namespace: str = DEFAULT_NAMESPACE
) -> dict[str, object]:
    """containerd's default OCI spec (``ctr oci spec``) running ``args``, rootfs "rootfs".

    The cgroup is /<namespace>/<task id>, as ctr would choose, so that runc
    never uses a cgroup shared with another task.
    """
    spec = json.loads(daemon.ctr("oci", "spec", namespace=namespace).stdout)
    spec["process"]["args"] = list(args)
    spec["process"]["terminal"] = False
    spec["process"]["env"] = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
    spec["root"] = {"path": "rootfs", "readonly": True}
    spec["linux"]["cgroupsPath"] = f"/{namespace}/{task_id}"
    return dict(spec)


def import_busybox_image(
    daemon: PrivateContainerd,
    namespace: str = DEFAULT_NAMESPACE,
    ref: str = BUSYBOX_REF,
    busybox: Path | None = None,
) -> str:
    """Build the busybox image and ``ctr images import`` it; returns the image ref."""
    busybox = busybox or find_static_busybox()
    if busybox is None:
        raise ContainerdError(
            "no statically linked busybox at /bin/busybox (apt-get install busybox-static)"
        )
    tar = build_busybox_image(daemon.base / "busybox-oci.tar", busybox, ref)
    daemon.ctr("images", "import", str(tar), namespace=namespace, timeout=60)
    listed = daemon.ctr("images", "ls", "-q", namespace=namespace).stdout.split()
    if ref not in listed:
        raise ContainerdError(f"imported {tar} but {ref!r} is not listed: {listed}")
    return ref
