"""Our ttrpc client and Task protos against Debian's containerd-shim-runc-v2.

Nobody here wrote the peer: if our framing, service names, field numbers or
status decoding were wrong, the Go shim would not answer as asserted.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TypeVar

import anyio
import pytest
from google.protobuf import any_pb2, empty_pb2
from google.protobuf.message import Message

import ttrpc
from integration.containerd import (
    EventWatcher,
    PrivateContainerd,
    StartedShim,
    default_oci_spec,
    extract_busybox_rootfs,
    find_static_busybox,
    mounts_under,
    start_shim,
    unique_id,
    wait_gone,
)
from protos import typeurl
from protos.containerd.runc.options import oci_pb2
from protos.containerd.task.v2 import shim_pb2
from protos.containerd.types import mount_pb2
from protos.containerd.types.task import task_pb2

# A hung peer must not hold the run for the global 300 s timeout.
pytestmark = [pytest.mark.containerd, pytest.mark.timeout(60)]

RUNC_SHIM = Path("/usr/bin/containerd-shim-runc-v2")
TASK = "containerd.task.v2.Task"
M = TypeVar("M", bound=Message)


@pytest.fixture
def runc_shim_binary() -> Path:
    if not RUNC_SHIM.is_file():
        pytest.skip(f"needs {RUNC_SHIM} (apt-get install containerd)")
    return RUNC_SHIM


async def _connect_state_shutdown(shim: StartedShim) -> int:
    async with await ttrpc.Client.connect(shim.address) as client:
        connect = await client.call(
            TASK, "Connect", shim_pb2.ConnectRequest(id=shim.task_id),
            shim_pb2.ConnectResponse, timeout=5,
        )  # fmt: skip
        # The daemon is a re-exec of `start`, not us; no task was created yet.
        assert connect.shim_pid > 1
        assert connect.shim_pid != os.getpid()
        assert connect.task_pid == 0
        assert Path(f"/proc/{connect.shim_pid}").exists()

        with pytest.raises(ttrpc.TTRPCError) as caught:
            await client.call(
                TASK, "State", shim_pb2.StateRequest(id="no-such-task"),
                shim_pb2.StateResponse, timeout=5,
            )  # fmt: skip
        assert not isinstance(caught.value, ttrpc.ConnectionClosed)
        assert caught.value.code == ttrpc.Code.NOT_FOUND, caught.value
        assert "container not created" in caught.value.message  # runc service.go getContainer

        try:
            await client.call(
                TASK, "Shutdown", shim_pb2.ShutdownRequest(id=shim.task_id),
                empty_pb2.Empty, timeout=5,
            )  # fmt: skip
        except ttrpc.ConnectionClosed:
            # The Go shim may exit before its reply is read; containerd
            # tolerates ErrClosed here too (runtime/v2/shim.go Shutdown).
            pass
    return connect.shim_pid


def test_runc_shim_connect_state_shutdown(
    containerd: PrivateContainerd, runc_shim_binary: Path
) -> None:
    shim = start_shim(containerd, runc_shim_binary, unique_id("interop-runc"))
    shim_pid: int | None = None
    try:
        assert shim.address.startswith("unix:///run/containerd/s/")
        assert (shim.bundle / "address").read_text() == shim.address
        assert shim.socket_path.is_socket()

        shim_pid = anyio.run(_connect_state_shutdown, shim)

        assert wait_gone(shim_pid, timeout=5), (
            f"runc shim {shim_pid} still runs after Shutdown; log:\n{shim.log.text()}"
        )
        # On its way out the shim removes the socket named in <bundle>/address.
        assert not shim.socket_path.exists()
    finally:
        shim.cleanup(shim_pid)


def test_runc_shim_unknown_method_is_unimplemented(
    containerd: PrivateContainerd, runc_shim_binary: Path
) -> None:
    """A Go ttrpc server answers unknown services with UNIMPLEMENTED, not a dropped connection."""
    shim = start_shim(containerd, runc_shim_binary, unique_id("interop-runc"))

    async def talk() -> int:
        async with await ttrpc.Client.connect(shim.address) as client:
            with pytest.raises(ttrpc.TTRPCError) as caught:
                await client.call(
                    "containerd.task.v2.NoSuchService", "State", shim_pb2.StateRequest(id="x"),
                    shim_pb2.StateResponse, timeout=5,
                )  # fmt: skip
            assert caught.value.code == ttrpc.Code.UNIMPLEMENTED
            # The connection is still usable afterwards.
            connect = await client.call(
                TASK, "Connect", shim_pb2.ConnectRequest(id=shim.task_id),
                shim_pb2.ConnectResponse, timeout=5,
            )  # fmt: skip
            return connect.shim_pid

    shim_pid: int | None = None
    try:
        shim_pid = anyio.run(talk)
    finally:
        shim.cleanup(shim_pid)


@pytest.fixture
def busybox_rootfs(containerd: PrivateContainerd) -> Path:
    """An unpacked busybox root for runc (bind-mounted read-only by the shim)."""
    if shutil.which("runc") is None:
        pytest.skip("needs runc (apt-get install runc)")
    if find_static_busybox() is None:
        pytest.skip("needs a static busybox at /bin/busybox (apt-get install busybox-static)")
    return extract_busybox_rootfs(containerd.base / "busybox-rootfs")


def _bind_rootfs(source: Path) -> list[mount_pb2.Mount]:
    return [mount_pb2.Mount(type="bind", source=str(source), options=["rbind", "ro"])]


def test_runc_shim_task_lifecycle(
    containerd: PrivateContainerd,
    runc_shim_binary: Path,
    busybox_rootfs: Path,
    ctr_events: EventWatcher,
) -> None:
    """Create/State/Start/Wait/Kill/Delete a real task through the Task API, message by message.

    What containerd does for `ctr run`, with our protos on the wire: the
    rootfs arrives as a bind Mount, stdout as a file:// URI.
    """
    task_id = unique_id("interop-runc")
    rootfs = busybox_rootfs
    out = containerd.base / "task-out.log"
    spec = default_oci_spec(containerd, task_id, ["sh", "-c", "echo hello-from-runc; exit 3"])
    shim = start_shim(containerd, runc_shim_binary, task_id, spec=spec)

    async def lifecycle() -> int:
        async with await ttrpc.Client.connect(shim.address) as client:

            async def call(method: str, request: Message, response: type[M]) -> M:
                return await client.call(TASK, method, request, response, timeout=10)

            created = await call(
                "Create",
                shim_pb2.CreateTaskRequest(
                    id=task_id,
                    bundle=str(shim.bundle),
                    rootfs=_bind_rootfs(rootfs),
                    # cio.LogFile sends the same URI for both; the 1.6 runc
                    # shim crashes on a file:// stdout with an empty stderr.
                    stdout=f"file://{out}",
                    stderr=f"file://{out}",
                ),
                shim_pb2.CreateTaskResponse,
            )
            assert created.pid > 0
            state = await call("State", shim_pb2.StateRequest(id=task_id), shim_pb2.StateResponse)
            assert (state.id, state.status, state.pid) == (task_id, task_pb2.CREATED, created.pid)
            assert state.bundle == str(shim.bundle)

            started = await call("Start", shim_pb2.StartRequest(id=task_id), shim_pb2.StartResponse)
            assert started.pid == created.pid
            waited = await call("Wait", shim_pb2.WaitRequest(id=task_id), shim_pb2.WaitResponse)
            assert waited.exit_status == 3
            assert waited.exited_at.seconds > 0

            state = await call("State", shim_pb2.StateRequest(id=task_id), shim_pb2.StateResponse)
            assert (state.status, state.exit_status) == (task_pb2.STOPPED, 3)
            assert state.exited_at == waited.exited_at

            with pytest.raises(ttrpc.TTRPCError) as caught:
                await call("Kill", shim_pb2.KillRequest(id=task_id, signal=9), empty_pb2.Empty)
            assert caught.value.code == ttrpc.Code.NOT_FOUND  # "process already finished"

            deleted = await call(
                "Delete", shim_pb2.DeleteRequest(id=task_id), shim_pb2.DeleteResponse
            )
            assert (deleted.pid, deleted.exit_status) == (created.pid, 3)
            assert deleted.exited_at == waited.exited_at

            connect = await call(
                "Connect", shim_pb2.ConnectRequest(id=task_id), shim_pb2.ConnectResponse
            )
            try:
                await call("Shutdown", shim_pb2.ShutdownRequest(id=task_id), empty_pb2.Empty)
            except ttrpc.ConnectionClosed:
                pass
            return connect.shim_pid

    shim_pid: int | None = None
    try:
        shim_pid = anyio.run(lifecycle)
        assert out.read_text() == "hello-from-runc\n"
        assert wait_gone(shim_pid, timeout=5)
        assert not mounts_under(shim.bundle)
        # The shim published the lifecycle to containerd (TTRPC_ADDRESS), in order.
        published = ctr_events.collect("/tasks/delete", timeout=5, container_id=task_id)
        assert [e.topic for e in published] == [
            "/tasks/create",
            "/tasks/start",
            "/tasks/exit",
            "/tasks/delete",
        ]
        exit_event = published[2].payload
        assert (exit_event["id"], exit_event["exit_status"]) == (task_id, 3)
    except BaseException:
        print(f"runc shim log:\n{shim.log.text()}")
        raise
    finally:
        shim.cleanup(shim_pid)


PROCESS_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Process"


def test_runc_shim_exec_and_pids(
    containerd: PrivateContainerd,
    runc_shim_binary: Path,
    busybox_rootfs: Path,
    ctr_events: EventWatcher,
) -> None:
    """Exec with an OCI Process as JSON in an Any; Pids tags execs with ProcessDetails.

    The facts our shim must match: ExecProcessRequest.spec carries the JSON
    of runtime-spec Process under containerd's typeurl name, and PidsResponse
    marks exec processes with Any{containerd.runc.v1.ProcessDetails}.
    """
    task_id = unique_id("interop-exec")
    out = containerd.base / "exec-out.log"
    spec = default_oci_spec(containerd, task_id, ["sleep", "30"])
    shim = start_shim(containerd, runc_shim_binary, task_id, spec=spec)
    process = dict(spec["process"])  # type: ignore[call-overload]

    def exec_spec(args: list[str]) -> any_pb2.Any:
        body = json.dumps({**process, "args": args}).encode()
        return any_pb2.Any(type_url=PROCESS_TYPE_URL, value=body)

    async def scenario() -> int:
        async with await ttrpc.Client.connect(shim.address) as client:

            async def call(method: str, request: Message, response: type[M]) -> M:
                return await client.call(TASK, method, request, response, timeout=10)

            empty = empty_pb2.Empty
            await call(
                "Create",
                shim_pb2.CreateTaskRequest(
                    id=task_id, bundle=str(shim.bundle), rootfs=_bind_rootfs(busybox_rootfs)
                ),
                shim_pb2.CreateTaskResponse,
            )
            init = await call("Start", shim_pb2.StartRequest(id=task_id), shim_pb2.StartResponse)

            await call(
                "Exec",
                shim_pb2.ExecProcessRequest(
                    id=task_id, exec_id="sleeper", spec=exec_spec(["sleep", "30"])
                ),
                empty,
            )
            with pytest.raises(ttrpc.TTRPCError) as caught:
                await call(
                    "Exec",
                    shim_pb2.ExecProcessRequest(
                        id=task_id, exec_id="sleeper", spec=exec_spec(["true"])
                    ),
                    empty,
                )
            assert caught.value.code == ttrpc.Code.ALREADY_EXISTS, caught.value
            sleeper = await call(
                "Start",
                shim_pb2.StartRequest(id=task_id, exec_id="sleeper"),
                shim_pb2.StartResponse,
            )
            assert sleeper.pid not in (0, init.pid)

            pids = await call("Pids", shim_pb2.PidsRequest(id=task_id), shim_pb2.PidsResponse)
            by_pid = {p.pid: p for p in pids.processes}
            assert set(by_pid) == {init.pid, sleeper.pid}
            assert not by_pid[init.pid].HasField("info")
            details = typeurl.unpack(by_pid[sleeper.pid].info, oci_pb2.ProcessDetails)
            assert details.exec_id == "sleeper"

            await call("Kill", shim_pb2.KillRequest(id=task_id, exec_id="sleeper", signal=9), empty)
            waited = await call(
                "Wait", shim_pb2.WaitRequest(id=task_id, exec_id="sleeper"), shim_pb2.WaitResponse
            )
            assert waited.exit_status == 128 + 9

            await call(
                "Exec",
                shim_pb2.ExecProcessRequest(
                    id=task_id, exec_id="echo",
                    spec=exec_spec(["sh", "-c", "echo exec-out; exit 5"]),
                    stdout=f"file://{out}", stderr=f"file://{out}",
                ),
                empty,
            )  # fmt: skip
            await call(
                "Start", shim_pb2.StartRequest(id=task_id, exec_id="echo"), shim_pb2.StartResponse
            )
            waited = await call(
                "Wait", shim_pb2.WaitRequest(id=task_id, exec_id="echo"), shim_pb2.WaitResponse
            )
            assert waited.exit_status == 5
            state = await call(
                "State", shim_pb2.StateRequest(id=task_id, exec_id="echo"), shim_pb2.StateResponse
            )
            # containerd 1.6's runc shim answers with the process's own id
            # (p.ID() = the exec id) in `id` and leaves exec_id unset.
            assert (state.id, state.status, state.exit_status) == ("echo", task_pb2.STOPPED, 5)

            for exec_id in ("sleeper", "echo"):
                await call(
                    "Delete",
                    shim_pb2.DeleteRequest(id=task_id, exec_id=exec_id),
                    shim_pb2.DeleteResponse,
                )
            await call("Kill", shim_pb2.KillRequest(id=task_id, signal=9), empty)
            await call("Wait", shim_pb2.WaitRequest(id=task_id), shim_pb2.WaitResponse)
            await call("Delete", shim_pb2.DeleteRequest(id=task_id), shim_pb2.DeleteResponse)
            connect = await call(
                "Connect", shim_pb2.ConnectRequest(id=task_id), shim_pb2.ConnectResponse
            )
            try:
                await call("Shutdown", shim_pb2.ShutdownRequest(id=task_id), empty)
            except ttrpc.ConnectionClosed:
                pass
            return connect.shim_pid

    shim_pid: int | None = None
    try:
        shim_pid = anyio.run(scenario)
        assert out.read_text() == "exec-out\n"
        assert wait_gone(shim_pid, timeout=5)
        published = ctr_events.collect("/tasks/delete", timeout=5, container_id=task_id)
        exec_events = [
            (e.topic, e.payload.get("exec_id") or e.payload.get("id"))
            for e in published
            if e.topic.startswith("/tasks/exec") or e.payload.get("id") in ("sleeper", "echo")
        ]
        assert exec_events == [
            ("/tasks/exec-added", "sleeper"),
            ("/tasks/exec-started", "sleeper"),
            ("/tasks/exit", "sleeper"),
            ("/tasks/exec-added", "echo"),
            ("/tasks/exec-started", "echo"),
            ("/tasks/exit", "echo"),
        ]
    except BaseException:
        print(f"runc shim log:\n{shim.log.text()}")
        raise
    finally:
        shim.cleanup(shim_pid)


def test_runc_shim_concurrent_calls_while_wait_blocks(
    containerd: PrivateContainerd, runc_shim_binary: Path, busybox_rootfs: Path
) -> None:
    """One connection, a Wait pending, other calls answered meanwhile (as containerd relies on)."""
    task_id = unique_id("interop-wait")
    spec = default_oci_spec(containerd, task_id, ["sleep", "30"])
    shim = start_shim(containerd, runc_shim_binary, task_id, spec=spec)

    async def scenario() -> int:
        async with await ttrpc.Client.connect(shim.address) as client:

            async def call(method: str, request: Message, response: type[M]) -> M:
                return await client.call(TASK, method, request, response, timeout=10)

            await call(
                "Create",
                shim_pb2.CreateTaskRequest(
                    id=task_id, bundle=str(shim.bundle), rootfs=_bind_rootfs(busybox_rootfs)
                ),
                shim_pb2.CreateTaskResponse,
            )
            await call("Start", shim_pb2.StartRequest(id=task_id), shim_pb2.StartResponse)
            results: dict[str, int] = {}

            async def wait() -> None:
                waited = await call("Wait", shim_pb2.WaitRequest(id=task_id), shim_pb2.WaitResponse)
                results["exit_status"] = waited.exit_status

            async with anyio.create_task_group() as group:
                group.start_soon(wait)
                for _ in range(20):
                    state = await call(
                        "State", shim_pb2.StateRequest(id=task_id), shim_pb2.StateResponse
                    )
                    assert state.status == task_pb2.RUNNING
                    assert "exit_status" not in results
                # SIGKILL: `sleep` is pid 1 of its namespace, which ignores
                # signals it has no handler for (pid_namespaces(7)).
                await call("Kill", shim_pb2.KillRequest(id=task_id, signal=9), empty_pb2.Empty)
            assert results["exit_status"] == 128 + 9
            await call("Delete", shim_pb2.DeleteRequest(id=task_id), shim_pb2.DeleteResponse)
            connect = await call(
                "Connect", shim_pb2.ConnectRequest(id=task_id), shim_pb2.ConnectResponse
            )
            try:
                await call("Shutdown", shim_pb2.ShutdownRequest(id=task_id), empty_pb2.Empty)
            except ttrpc.ConnectionClosed:
                pass
            return connect.shim_pid

    shim_pid: int | None = None
    try:
        shim_pid = anyio.run(scenario)
        assert wait_gone(shim_pid, timeout=5)
    except BaseException:
        print(f"runc shim log:\n{shim.log.text()}")
        raise
    finally:
        shim.cleanup(shim_pid)
