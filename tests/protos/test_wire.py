"""Bytes on the wire: what containerd sends and expects, checked byte by byte.

Expected encodings are written out by hand from the protobuf encoding rules
(tag = field_number << 3 | wire_type; 2 = length-delimited, 0 = varint) and
from bytes captured from containerd 1.6.20 (shim `start` stdin).
"""

from __future__ import annotations

import pytest
from google.protobuf import any_pb2, timestamp_pb2

from protos import typeurl
from protos.containerd.cgroups.v1 import metrics_pb2 as v1_metrics
from protos.containerd.cgroups.v2 import metrics_pb2 as v2_metrics
from protos.containerd.events import task_pb2 as events
from protos.containerd.runc.options import oci_pb2
from protos.containerd.runtime.bootstrap.v1 import bootstrap_pb2
from protos.containerd.runtimeoptions.v1 import api_pb2 as runtimeoptions
from protos.containerd.services.events.ttrpc.v1 import events_pb2 as events_service
from protos.containerd.task.v2 import shim_pb2
from protos.containerd.types import introspection_pb2, mount_pb2
from protos.containerd.types.task import task_pb2
from protos.pysandbox.control.v1 import control_pb2


def _len(data: bytes) -> bytes:
    assert len(data) < 128
    return bytes([len(data)])


def test_create_task_options_is_field_10() -> None:
    request = shim_pb2.CreateTaskRequest(options=any_pb2.Any(type_url="x"))
    # field 10, wire type 2 -> 0x52; Any{type_url="x"} = 0a 01 78
    assert request.SerializeToString() == b"\x52\x03\x0a\x01x"


def test_create_task_request_decodes_containerd_layout() -> None:
    mount = b"\x0a\x07overlay" + b"\x12\x07overlay" + b"\x22\x09index=off"
    wire = (
        b"\x0a\x02p3"
        + b"\x12\x04/b/x"
        + b"\x1a"
        + _len(mount)
        + mount
        + b"\x20\x01"
        + b"\x2a\x02in"
        + b"\x32\x03out"
    )
    request = shim_pb2.CreateTaskRequest.FromString(wire)
    assert request.id == "p3"
    assert request.bundle == "/b/x"
    assert list(request.rootfs) == [
        mount_pb2.Mount(type="overlay", source="overlay", options=["index=off"])
    ]
    assert request.terminal is True
    assert (request.stdin, request.stdout, request.stderr) == ("in", "out", "")


def test_start_stdin_runtime_options_any() -> None:
    """`ctr run --runtime-config-path P` writes Any{runtimeoptions.v1.Options} to `start` stdin."""
    path = "/etc/pysandbox.toml"
    options = b"\x12" + _len(path.encode()) + path.encode()
    captured = b"\x0a\x19runtimeoptions.v1.Options\x12" + _len(options) + options
    value = any_pb2.Any.FromString(captured)
    assert typeurl.unpack(value, runtimeoptions.Options).config_path == path
    assert typeurl.pack(runtimeoptions.Options(config_path=path)).SerializeToString() == captured


def test_task_oom_type_url_is_bare() -> None:
    packed = typeurl.pack(events.TaskOOM(container_id="c1"))
    assert packed.type_url == "containerd.events.TaskOOM"
    assert packed.value == b"\x0a\x02c1"


@pytest.mark.parametrize(
    ("cls", "url"),
    [
        (events.TaskCreate, "containerd.events.TaskCreate"),
        (events.TaskExit, "containerd.events.TaskExit"),
        (events.TaskExecStarted, "containerd.events.TaskExecStarted"),
        (v1_metrics.Metrics, "io.containerd.cgroups.v1.Metrics"),
        (v2_metrics.Metrics, "io.containerd.cgroups.v2.Metrics"),
        (oci_pb2.Options, "containerd.runc.v1.Options"),
        (oci_pb2.ProcessDetails, "containerd.runc.v1.ProcessDetails"),
        (runtimeoptions.Options, "runtimeoptions.v1.Options"),
    ],
)
def test_type_urls(cls: type, url: str) -> None:
    assert typeurl.type_url(cls) == url


def test_envelope_fields() -> None:
    envelope = events_service.Envelope(
        timestamp=timestamp_pb2.Timestamp(seconds=1, nanos=2),
        namespace="default",
        topic="/tasks/oom",
        event=typeurl.pack(events.TaskOOM(container_id="c")),
    )
    event = b"\x0a\x19containerd.events.TaskOOM\x12\x03\x0a\x01c"
    expected = (
        b"\x0a\x04\x08\x01\x10\x02"  # timestamp = 1
        + b"\x12\x07default"  # namespace = 2
        + b"\x1a\x0a/tasks/oom"  # topic = 3
        + b"\x22"
        + _len(event)
        + event  # event = 4
    )
    assert envelope.SerializeToString() == expected
    forward = events_service.ForwardRequest(envelope=envelope).SerializeToString()
    assert forward == b"\x0a" + _len(expected) + expected


def test_delete_response_zero_time_is_still_encoded() -> None:
    """Go shims send exited_at even when zero (gogoproto stdtime, non-nullable)."""
    response = shim_pb2.DeleteResponse(pid=7, exit_status=137)
    response.exited_at.CopyFrom(timestamp_pb2.Timestamp(seconds=0))
    assert response.SerializeToString() == b"\x08\x07\x10\x89\x01\x1a\x00"
    # An empty `delete` stdout is a valid, all-zero DeleteResponse.
    assert shim_pb2.DeleteResponse.FromString(b"") == shim_pb2.DeleteResponse()


def test_state_response_status_enum() -> None:
    wire = shim_pb2.StateResponse(status=task_pb2.STOPPED, exit_status=1).SerializeToString()
    assert wire == b"\x20\x03\x48\x01"


def test_update_annotations_map() -> None:
    request = shim_pb2.UpdateTaskRequest.FromString(b"\x1a\x06\x0a\x01k\x12\x01v")
    assert dict(request.annotations) == {"k": "v"}


def test_bootstrap_negative_log_level_is_ten_byte_varint() -> None:
    params = bootstrap_pb2.BootstrapParams(log_level=bootstrap_pb2.LOG_LEVEL_DEBUG)
    assert params.SerializeToString() == b"\x18" + b"\xfc" + b"\xff" * 8 + b"\x01"


def test_bootstrap_socket_dir_presence() -> None:
    params = bootstrap_pb2.BootstrapParams()
    assert not params.HasField("socket_dir")
    params.socket_dir = ""
    assert params.HasField("socket_dir")
    assert params.SerializeToString() == b"\x4a\x00"


def test_bootstrap_result_for_task_v2() -> None:
    result = bootstrap_pb2.BootstrapResult(
        version=2, address="unix:///run/containerd/s/ab", protocol="ttrpc"
    )
    wire = result.SerializeToString()
    assert wire.startswith(b"\x08\x02\x12\x1bunix:///run/containerd/s/ab\x1a\x05ttrpc")


def test_plain_address_is_not_a_bootstrap_result() -> None:
    """containerd 2.3 falls back to a plain address when stdout is not a BootstrapResult."""
    from google.protobuf.message import DecodeError

    with pytest.raises(DecodeError):
        bootstrap_pb2.BootstrapResult.FromString(b"unix:///run/containerd/s/0123abcd")


def test_runtime_info() -> None:
    info = introspection_pb2.RuntimeInfo(
        name="io.pysandbox.v2",
        version=introspection_pb2.RuntimeVersion(version="0.1.0"),
    )
    assert info.SerializeToString() == b"\x0a\x0fio.pysandbox.v2\x12\x07\x0a\x050.1.0"


def test_cgroups_v2_memory_is_field_4() -> None:
    metrics = v2_metrics.Metrics(memory=v2_metrics.MemoryStat(usage=5))
    assert metrics.SerializeToString() == b"\x22\x03\x80\x02\x05"  # usage = 32


def test_cgroups_v1_memory_usage_entry() -> None:
    metrics = v1_metrics.Metrics(
        memory=v1_metrics.MemoryStat(usage=v1_metrics.MemoryEntry(usage=9))
    )
    assert metrics.SerializeToString() == b"\x22\x05\x8a\x02\x02\x10\x09"  # usage = 33


def test_typeurl_unpack_accepts_prefixed_url() -> None:
    value = any_pb2.Any(
        type_url="type.googleapis.com/containerd.events.TaskOOM", value=b"\x0a\x01z"
    )
    assert typeurl.unpack(value, events.TaskOOM).container_id == "z"


def test_typeurl_unpack_rejects_other_type() -> None:
    value = typeurl.pack(events.TaskOOM(container_id="z"))
    with pytest.raises(ValueError, match=r"holds 'containerd.events.TaskOOM', expected"):
        typeurl.unpack(value, events.TaskExit)


def test_typeurl_unpack_rejects_bad_bytes() -> None:
    value = any_pb2.Any(type_url="containerd.events.TaskOOM", value=b"\x0a\x05ab")
    with pytest.raises(ValueError, match="undecodable"):
        typeurl.unpack(value, events.TaskOOM)


def test_control_fd_indices_distinguish_zero_from_absent() -> None:
    stdio = control_pb2.Stdio(stdin_fd=0)
    assert stdio.HasField("stdin_fd")
    assert not stdio.HasField("stdout_fd")
    assert stdio.SerializeToString() == b"\x08\x00"


def test_control_service_methods() -> None:
    service = control_pb2.DESCRIPTOR.services_by_name["Control"]
    assert service.full_name == "pysandbox.control.v1.Control"
    assert [m.name for m in service.methods] == [
        "StartRoot",
        "CreateSubcontainer",
        "StartSubcontainer",
        "Execute",
        "Processes",
        "Signal",
        "Wait",
        "WaitPID",
        "Pause",
        "Resume",
        "Event",
        "DestroySubcontainer",
        "ResizeTerminal",
    ]
