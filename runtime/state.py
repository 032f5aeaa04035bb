"""Container state records under ``--root`` (default /run/pysandbox).

One directory per container, ``<root>/<id>/``, holding ``state.json`` (the
record) and ``lock`` (flock(2) target). Every mutation takes the exclusive
lock, re-reads the record, and writes it back atomically: write a temporary
file and rename(2) it over the record, so readers never see a torn file.
Nothing is fsync'd: a record describes processes that do not outlive a
reboot (runc's runtime.md recommends a temporary file system for the state,
and the default root is one), and two fsyncs per write cost a disk-backed
root several milliseconds on every state change.

A process is identified by (pid, start time): the start time is field 22 of
/proc/PID/stat (proc(5), "starttime", clock ticks since boot), so a pid
recycled by an unrelated process is never mistaken for our sandbox.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import logging
import os
from collections.abc import Iterator
from typing import Any, NamedTuple

from runtime.config import DEFAULT_ROOT
from runtime.errors import ContainerExists, ContainerNotExist, RuntimeFailure
from runtime.spec import validate_id
from runtime.status import Status, is_alive

log = logging.getLogger("pysandbox.state")

STATE_FILE = "state.json"
LOCK_FILE = "lock"
OCI_VERSION = "1.0.2"


def proc_start_time(pid: int, proc: str = "/proc") -> int | None:
    """Start time of ``pid`` (proc(5) stat field 22), or None if it is gone.

    A zombie or dead process counts as gone: it will never run again.
    """
    if pid <= 0:
        return None
    try:
        with open(f"{proc}/{pid}/stat", "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm (field 2) may contain spaces and parentheses; fields after the
    # last ')' start at field 3 (state).
    rest = stat[stat.rindex(b")") + 2 :].split()
    if rest[0] in (b"Z", b"X", b"x"):
        return None
    return int(rest[22 - 3])


class ProcessRef(NamedTuple):
    """A host process named by (pid, start time).

    A NamedTuple rather than a frozen dataclass: every start defines it,
    and a frozen dataclass costs ~1 ms to define (``dataclasses`` several
    more to import).
    """

    pid: int
    start_time: int

    @classmethod
    def of(cls, pid: int, proc: str = "/proc") -> ProcessRef:
        start = proc_start_time(pid, proc)
        if start is None:
            raise RuntimeFailure(f"process {pid} exited before it could be recorded")
        return cls(pid, start)

    def alive(self, proc: str = "/proc") -> bool:
        """True while this very process (not a recycled pid) exists."""
        return self.pid > 0 and proc_start_time(self.pid, proc) == self.start_time


def _now() -> str:
    """RFC 3339 UTC timestamp, as runc writes ``created``."""
    return datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")


class ContainerRecord:
    """What we persist about one container.

    ``status`` is the last status we recorded; ``effective_status`` adds the
    liveness check. ``sandbox`` is the sandbox's own record (pid, control
    socket, cgroup), the same for every container of a pod (seed: "Sandbox
    must be immutable because a copy of it is saved for each container").
    """

    id: str
    bundle: str
    rootfs: str
    status: Status
    process: ProcessRef | None
    created: str
    owner: str
    annotations: dict[str, str]
    sandbox_id: str
    sandbox: dict[str, Any]
    spec: dict[str, Any]
    exit_status: int | None

    def __init__(  # noqa: PLR0917 - positional, as the dataclass's were
        self,
        id: str,
        bundle: str,
        rootfs: str,
        status: Status = Status.CREATING,
        process: ProcessRef | None = None,
        created: str | None = None,
        owner: str = "",
        annotations: dict[str, str] | None = None,
        sandbox_id: str = "",
        sandbox: dict[str, Any] | None = None,
        spec: dict[str, Any] | None = None,
        exit_status: int | None = None,
    ) -> None:
        self.id = id
        self.bundle = bundle
        self.rootfs = rootfs
        self.status = status
        self.process = process
        self.created = _now() if created is None else created
        self.owner = owner
        self.annotations = {} if annotations is None else annotations
        self.sandbox_id = sandbox_id
        self.sandbox = {} if sandbox is None else sandbox
        self.spec = {} if spec is None else spec
        self.exit_status = exit_status

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ContainerRecord):
            return NotImplemented
        return self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass was

    def __repr__(self) -> str:
        return f"ContainerRecord({self.to_json()!r})"

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0

    def effective_status(self, proc: str = "/proc") -> Status:
        """The recorded status, or ``stopped`` once its process is gone."""
        if is_alive(self.status) and (self.process is None or not self.process.alive(proc)):
            return Status.STOPPED
        return self.status

    def oci_state(self, proc: str = "/proc") -> dict[str, Any]:
        """The OCI state JSON (runtime.md "State"), plus runc's extra fields."""
        status = self.effective_status(proc)
        state: dict[str, Any] = {
            "ociVersion": OCI_VERSION,
            "id": self.id,
            "status": status.value,
            # runtime.md: pid is REQUIRED when status is created or running.
            "pid": self.pid if status != Status.STOPPED else 0,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
        }
        if self.annotations:
            state["annotations"] = dict(self.annotations)
        return state

    def to_json(self) -> dict[str, Any]:
        """The persisted form (``from_json`` reverses it). Its dicts are
        copies one level deep: the caller serialises it at once."""
        return {
            "id": self.id,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "status": self.status.value,
            "process": self.process._asdict() if self.process is not None else None,
            "created": self.created,
            "owner": self.owner,
            "annotations": dict(self.annotations),
            "sandbox_id": self.sandbox_id,
            "sandbox": dict(self.sandbox),
            "spec": dict(self.spec),
            "exit_status": self.exit_status,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ContainerRecord:
        proc = d.get("process")
        return cls(
            id=d["id"],
            bundle=d["bundle"],
            rootfs=d["rootfs"],
            status=Status(d["status"]),
            process=ProcessRef(proc["pid"], proc["start_time"]) if proc else None,
            created=d["created"],
            owner=d.get("owner", ""),
            annotations=d.get("annotations", {}),
            sandbox_id=d.get("sandbox_id", ""),
            sandbox=d.get("sandbox", {}),
            spec=d.get("spec", {}),
            exit_status=d.get("exit_status"),
        )


def write_atomic(path: str, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` so readers see the old or new file, never half."""
    directory = os.path.dirname(path)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except BaseException:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    os.close(fd)
    os.rename(tmp, path)


class StateStore:
    """The records under one ``--root`` directory."""

    def __init__(self, root: str = DEFAULT_ROOT, proc: str = "/proc") -> None:
        self.root = os.path.abspath(root)
        self.proc = proc

    def _dir(self, container_id: str) -> str:
        validate_id(container_id)
        return os.path.join(self.root, container_id)

    def exists(self, container_id: str) -> bool:
        return os.path.exists(os.path.join(self._dir(container_id), STATE_FILE))

    def create(self, record: ContainerRecord) -> None:
        """Write the first record of a new container; its ID must be unused.

        mkdir(2) is the atomic "claim the ID" step: two concurrent creates of
        one ID cannot both succeed.
        """
        os.makedirs(self.root, mode=0o711, exist_ok=True)
        directory = self._dir(record.id)
        try:
            os.mkdir(directory, 0o711)
        except FileExistsError:
            raise ContainerExists(record.id) from None
        with self.locked(record.id):
            self.save(record)

    def load(self, container_id: str) -> ContainerRecord:
        """Read one record; ``ContainerNotExist`` if there is none."""
        path = os.path.join(self._dir(container_id), STATE_FILE)
        try:
            with open(path, "rb") as f:
                data = json.load(f)
        except FileNotFoundError:
            raise ContainerNotExist(container_id) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RuntimeFailure(f"corrupt state file {path}: {exc}") from None
        try:
            return ContainerRecord.from_json(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise RuntimeFailure(f"corrupt state file {path}: {exc!r}") from None

    @contextlib.contextmanager
    def locked(self, container_id: str) -> Iterator[None]:
        """Hold the container's exclusive flock(2) for a read-modify-write."""
        directory = self._dir(container_id)
        try:
            fd = os.open(
                os.path.join(directory, LOCK_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
            )
        except FileNotFoundError:
            raise ContainerNotExist(container_id) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def update(self, container_id: str) -> Iterator[ContainerRecord]:
        """Lock, load, let the caller change the record, write it back."""
        with self.locked(container_id):
            record = self.load(container_id)
            yield record
            self.save(record)

    def save(self, record: ContainerRecord) -> None:
        """Write the record (the caller holds the lock)."""
        data = json.dumps(record.to_json(), indent=1).encode()
        write_atomic(os.path.join(self._dir(record.id), STATE_FILE), data)

    def remove(self, container_id: str) -> None:
        """Delete the record and its directory (idempotent)."""
        directory = self._dir(container_id)
        for name in (STATE_FILE, LOCK_FILE):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, name))
        try:
            os.rmdir(directory)
        except FileNotFoundError:
            pass
        except OSError as exc:
            if exc.errno != errno.ENOTEMPTY:
                raise
            # A leftover temporary file from a crashed writer: remove it too.
            for name in os.listdir(directory):
                os.unlink(os.path.join(directory, name))
            os.rmdir(directory)

    def list_ids(self) -> list[str]:
        """IDs with a record, sorted; a missing root means none."""
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if os.path.exists(os.path.join(self.root, n, STATE_FILE)))

    def records(self) -> list[ContainerRecord]:
        """Every readable record; a corrupt one is logged and skipped so one
        bad file does not hide the other containers from ``list``."""
        out = []
        for cid in self.list_ids():
            try:
                out.append(self.load(cid))
            except ContainerNotExist:
                continue  # deleted while we listed
            except RuntimeFailure as exc:
                log.warning("%s", exc)
        return out
