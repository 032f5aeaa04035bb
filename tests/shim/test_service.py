"""The Task API end to end over ttrpc: state machines, events, Wait/Kill."""

from __future__ import annotations

import json
import os
import signal

import anyio
import pytest
from google.protobuf import any_pb2, empty_pb2

import ttrpc
from protos import typeurl
from protos.containerd.events import task_pb2 as events
from protos.containerd.runc.options import oci_pb2
from protos.containerd.task.v2 import shim_pb2
from protos.containerd.types.task import task_pb2
from tests.shim.conftest import make_bundle, running_shim

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def exec_spec(args: list[str]) -> any_pb2.Any:
    process = {
        "args": args,
        "cwd": "/",
        "env": ["PATH=/usr/bin:/bin"],
        "user": {"uid": 0, "gid": 0},
    }
    return any_pb2.Any(
        type_url="types.containerd.io/opencontainers/runtime-spec/1/Process",
        value=json.dumps(process).encode(),
    )


async def create(shim, cid: str, args: list[str], **kw) -> shim_pb2.CreateTaskResponse:
    bundle = make_bundle(shim.dir, cid, args, **kw)
    return await shim.call(
        "Create",
        shim_pb2.CreateTaskRequest(id=cid, bundle=str(bundle)),
        shim_pb2.CreateTaskResponse,
    )


async def expect_error(coro, code: ttrpc.Code, text: str) -> None:
    with pytest.raises(ttrpc.TTRPCError) as caught:
        await coro
    assert caught.value.code == code, caught.value
    assert text in caught.value.message, caught.value.message


async def test_lifecycle_states_and_event_order(short_tmp):
    async with running_shim(short_tmp) as shim:
        created = await create(shim, "c1", ["sh", "-c", "exit 3"])
        assert created.pid > 0
        state = await shim.call("State", shim_pb2.StateRequest(id="c1"), shim_pb2.StateResponse)
        assert state.status == task_pb2.CREATED
        assert state.pid == created.pid
        assert state.bundle.endswith("/c1")

        started = await shim.call("Start", shim_pb2.StartRequest(id="c1"), shim_pb2.StartResponse)
        assert started.pid == created.pid
        waited = await shim.call("Wait", shim_pb2.WaitRequest(id="c1"), shim_pb2.WaitResponse)
        assert waited.exit_status == 3
        assert waited.exited_at.seconds > 0
        state = await shim.call("State", shim_pb2.StateRequest(id="c1"), shim_pb2.StateResponse)
        assert state.status == task_pb2.STOPPED
        assert state.exit_status == 3

        deleted = await shim.call(
            "Delete", shim_pb2.DeleteRequest(id="c1"), shim_pb2.DeleteResponse
        )
        assert deleted.exit_status == 3
        assert deleted.pid == created.pid
        await shim.sink.wait_for("/tasks/delete")
        assert shim.sink.topics() == [
            "/tasks/create",
            "/tasks/start",
            "/tasks/exit",
            "/tasks/delete",
        ]
        decoded = dict(shim.sink.decoded())
        assert decoded["/tasks/create"].container_id == "c1"
        assert decoded["/tasks/create"].pid == created.pid
        assert decoded["/tasks/exit"].exit_status == 3
        assert decoded["/tasks/exit"].id == "c1"
        assert decoded["/tasks/delete"].exit_status == 3
        assert all(e.namespace == "testns" and e.timestamp.seconds > 0 for e in shim.sink.envelopes)
        # Bare type URLs, as containerd 1.6 resolves them.
        assert shim.sink.envelopes[0].event.type_url == "containerd.events.TaskCreate"
        await expect_error(
            shim.call("State", shim_pb2.StateRequest(id="c1"), shim_pb2.StateResponse),
            ttrpc.Code.NOT_FOUND,
            "container not created",
        )


async def test_wrong_state_errors_use_runc_wording(short_tmp):
    async with running_shim(short_tmp) as shim:
        await create(shim, "c2", ["sleep", "30"])
        await expect_error(
            shim.call("Pause", shim_pb2.PauseRequest(id="c2"), empty_pb2.Empty),
            ttrpc.Code.FAILED_PRECONDITION,
            "cannot pause task in created state",
        )
        await expect_error(
            shim.call("Resume", shim_pb2.ResumeRequest(id="c2"), empty_pb2.Empty),
            ttrpc.Code.FAILED_PRECONDITION,
            "cannot resume task in created state",
        )
        await shim.call("Start", shim_pb2.StartRequest(id="c2"), shim_pb2.StartResponse)
        await expect_error(
            shim.call("Start", shim_pb2.StartRequest(id="c2"), shim_pb2.StartResponse),
            ttrpc.Code.FAILED_PRECONDITION,
            "cannot start a running process",
        )
        await expect_error(
            shim.call("Delete", shim_pb2.DeleteRequest(id="c2"), shim_pb2.DeleteResponse),
            ttrpc.Code.FAILED_PRECONDITION,
            "cannot delete a running process",
        )
        await expect_error(
            shim.call(
                "Create",
                shim_pb2.CreateTaskRequest(id="c2", bundle="/nonexistent"),
                shim_pb2.CreateTaskResponse,
            ),
            ttrpc.Code.ALREADY_EXISTS,
            "already exists",
        )
        await expect_error(
            shim.call(
                "State", shim_pb2.StateRequest(id="c2", exec_id="nope"), shim_pb2.StateResponse
            ),
            ttrpc.Code.NOT_FOUND,
            "nope",
        )
        await expect_error(
            shim.call("Checkpoint", shim_pb2.CheckpointTaskRequest(id="c2"), empty_pb2.Empty),
            ttrpc.Code.UNIMPLEMENTED,
            "checkpoint is not supported",
        )

        await shim.call("Pause", shim_pb2.PauseRequest(id="c2"), empty_pb2.Empty)
        state = await shim.call("State", shim_pb2.StateRequest(id="c2"), shim_pb2.StateResponse)
        assert state.status == task_pb2.PAUSED
        await expect_error(
            shim.call("Delete", shim_pb2.DeleteRequest(id="c2"), shim_pb2.DeleteResponse),
            ttrpc.Code.FAILED_PRECONDITION,
            "cannot delete a paused process",
        )
        await expect_error(
            shim.call("Pause", shim_pb2.PauseRequest(id="c2"), empty_pb2.Empty),
            ttrpc.Code.FAILED_PRECONDITION,
            "cannot pause a paused container",
        )
        await shim.call("Resume", shim_pb2.ResumeRequest(id="c2"), empty_pb2.Empty)

        await shim.call(
            "Kill", shim_pb2.KillRequest(id="c2", signal=signal.SIGKILL), empty_pb2.Empty
        )
        waited = await shim.call("Wait", shim_pb2.WaitRequest(id="c2"), shim_pb2.WaitResponse)
        assert waited.exit_status == 128 + signal.SIGKILL
        await expect_error(
            shim.call(
                "Kill", shim_pb2.KillRequest(id="c2", signal=signal.SIGTERM), empty_pb2.Empty
            ),
            ttrpc.Code.NOT_FOUND,
            "process already finished",
        )
        await expect_error(
            shim.call("Start", shim_pb2.StartRequest(id="c2"), shim_pb2.StartResponse),
            ttrpc.Code.FAILED_PRECONDITION,
            "cannot start a stopped process",
        )
        await shim.sink.wait_for("/tasks/exit")
        assert shim.sink.topics() == [
            "/tasks/create",
            "/tasks/start",
            "/tasks/paused",
            "/tasks/resumed",
            "/tasks/exit",
        ]


async def test_wait_blocks_while_kill_answers(short_tmp):
    async with running_shim(short_tmp) as shim:
        await create(shim, "c3", ["sleep", "60"])
        await shim.call("Start", shim_pb2.StartRequest(id="c3"), shim_pb2.StartResponse)
        result: list[shim_pb2.WaitResponse] = []

        async def waiter() -> None:
            result.append(
                await shim.call(
                    "Wait", shim_pb2.WaitRequest(id="c3"), shim_pb2.WaitResponse, timeout=30
                )
            )

        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            await anyio.sleep(0.2)
            assert not result  # still blocked, and the connection still answers:
            state = await shim.call("State", shim_pb2.StateRequest(id="c3"), shim_pb2.StateResponse)
            assert state.status == task_pb2.RUNNING
            await shim.call(
                "Kill", shim_pb2.KillRequest(id="c3", signal=signal.SIGTERM), empty_pb2.Empty
            )
        assert result[0].exit_status == 128 + signal.SIGTERM


async def test_delete_created_task_publishes_delete_without_exit(short_tmp):
    async with running_shim(short_tmp) as shim:
        created = await create(shim, "c4", ["sleep", "60"])
        await shim.call("Delete", shim_pb2.DeleteRequest(id="c4"), shim_pb2.DeleteResponse)
        await shim.sink.wait_for("/tasks/delete")
        await anyio.sleep(0.3)
        assert shim.sink.topics() == ["/tasks/create", "/tasks/delete"]
        # The never-started init was killed and reaped by Delete.
        assert not os.path.exists(f"/proc/{created.pid}")


async def test_exec_events_pids_and_exec_state(short_tmp):
    async with running_shim(short_tmp) as shim:
        await create(shim, "c5", ["sleep", "60"])
        await shim.call("Start", shim_pb2.StartRequest(id="c5"), shim_pb2.StartResponse)
        await shim.call(
            "Exec",
            shim_pb2.ExecProcessRequest(id="c5", exec_id="e1", spec=exec_spec(["sleep", "60"])),
            empty_pb2.Empty,
        )
        await expect_error(
            shim.call(
                "Exec",
                shim_pb2.ExecProcessRequest(id="c5", exec_id="e1", spec=exec_spec(["true"])),
                empty_pb2.Empty,
            ),
            ttrpc.Code.ALREADY_EXISTS,
            "id e1",
        )
        state = await shim.call(
            "State", shim_pb2.StateRequest(id="c5", exec_id="e1"), shim_pb2.StateResponse
        )
        assert state.status == task_pb2.CREATED
        started = await shim.call(
            "Start", shim_pb2.StartRequest(id="c5", exec_id="e1"), shim_pb2.StartResponse
        )
        assert started.pid > 0
        pids = await shim.call("Pids", shim_pb2.PidsRequest(id="c5"), shim_pb2.PidsResponse)
        by_pid = {p.pid: p for p in pids.processes}
        assert started.pid in by_pid
        details = typeurl.unpack(by_pid[started.pid].info, oci_pb2.ProcessDetails)
        assert details.exec_id == "e1"
        assert len(pids.processes) == 2

        await shim.call(
            "Kill", shim_pb2.KillRequest(id="c5", exec_id="e1", signal=9), empty_pb2.Empty
        )
        waited = await shim.call(
            "Wait", shim_pb2.WaitRequest(id="c5", exec_id="e1"), shim_pb2.WaitResponse
        )
        assert waited.exit_status == 137
        await shim.call(
            "Delete", shim_pb2.DeleteRequest(id="c5", exec_id="e1"), shim_pb2.DeleteResponse
        )
        await shim.call("Kill", shim_pb2.KillRequest(id="c5", signal=9, all=True), empty_pb2.Empty)
        await shim.call("Wait", shim_pb2.WaitRequest(id="c5"), shim_pb2.WaitResponse)
        await shim.call("Delete", shim_pb2.DeleteRequest(id="c5"), shim_pb2.DeleteResponse)
        await shim.sink.wait_for("/tasks/delete")
        decoded = shim.sink.decoded()
        assert [t for t, _ in decoded] == [
            "/tasks/create",
            "/tasks/start",
            "/tasks/exec-added",
            "/tasks/exec-started",
            "/tasks/exit",
            "/tasks/exit",
            "/tasks/delete",
        ]
        exec_exit = decoded[4][1]
        assert isinstance(exec_exit, events.TaskExit)
        assert (exec_exit.id, exec_exit.pid, exec_exit.exit_status) == ("e1", started.pid, 137)
        assert decoded[3][1].exec_id == "e1"


async def test_exec_refused_when_not_running_and_bad_spec(short_tmp):
    async with running_shim(short_tmp) as shim:
        await create(shim, "c6", ["sleep", "60"])
        await expect_error(
            shim.call(
                "Exec",
                shim_pb2.ExecProcessRequest(id="c6", exec_id="e", spec=exec_spec(["true"])),
                empty_pb2.Empty,
            ),
            ttrpc.Code.FAILED_PRECONDITION,
            "container is not started",
        )
        await shim.call("Start", shim_pb2.StartRequest(id="c6"), shim_pb2.StartResponse)
        bad = any_pb2.Any(
            type_url="types.containerd.io/opencontainers/runtime-spec/1/Process", value=b"{"
        )
        await expect_error(
            shim.call(
                "Exec", shim_pb2.ExecProcessRequest(id="c6", exec_id="e", spec=bad), empty_pb2.Empty
            ),
            ttrpc.Code.INVALID_ARGUMENT,
            "not JSON",
        )
        await expect_error(
            shim.call(
                "Exec",
                shim_pb2.ExecProcessRequest(id="c6", exec_id="e", spec=any_pb2.Any(type_url="x.Y")),
                empty_pb2.Empty,
            ),
            ttrpc.Code.INVALID_ARGUMENT,
            "not an OCI Process",
        )


async def test_create_failure_is_reported_and_leaves_nothing(short_tmp):
    async with running_shim(short_tmp) as shim:
        bundle = make_bundle(shim.dir, "c7", [])
        await expect_error(
            shim.call(
                "Create",
                shim_pb2.CreateTaskRequest(id="c7", bundle=str(bundle)),
                shim_pb2.CreateTaskResponse,
            ),
            ttrpc.Code.UNKNOWN,
            "process.args must not be empty",
        )
        await expect_error(
            shim.call(
                "Create",
                shim_pb2.CreateTaskRequest(id="c8", bundle=str(shim.dir / "missing")),
                shim_pb2.CreateTaskResponse,
            ),
            ttrpc.Code.INVALID_ARGUMENT,
            "config.json",
        )
        assert shim.service.tasks == {}
        assert shim.sink.topics() == []


async def test_shutdown_waits_for_last_container_and_v3_alias(short_tmp):
    async with running_shim(short_tmp) as shim:
        await create(shim, "c9", ["true"])
        await shim.call("Shutdown", shim_pb2.ShutdownRequest(id="c9"), empty_pb2.Empty)
        assert not shim.service.shutdown_requested.is_set()
        connect = await shim.client.call(
            "containerd.task.v3.Task",
            "Connect",
            shim_pb2.ConnectRequest(id="c9"),
            shim_pb2.ConnectResponse,
        )
        assert connect.shim_pid == os.getpid()
        assert connect.task_pid > 0
        await shim.call("Delete", shim_pb2.DeleteRequest(id="c9"), shim_pb2.DeleteResponse)
        await shim.call("Shutdown", shim_pb2.ShutdownRequest(id="c9"), empty_pb2.Empty)
        assert shim.service.shutdown_requested.is_set()


async def test_events_are_retried_in_order(short_tmp):
    async with running_shim(short_tmp) as shim:
        shim.sink.fail_next = 1
        await create(shim, "c10", ["true"])
        await shim.call("Start", shim_pb2.StartRequest(id="c10"), shim_pb2.StartResponse)
        await shim.sink.wait_for("/tasks/exit", timeout=15)
        assert shim.sink.topics() == ["/tasks/create", "/tasks/start", "/tasks/exit"]
