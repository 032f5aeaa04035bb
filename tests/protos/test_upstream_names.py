"""Our .proto files use upstream's package names and field numbers.

The expected values below were read from containerd v1.6.20 (api/types,
runtime/v2/task/shim.proto, api/events/task.proto, api/services/ttrpc/events,
pkg/runtimeoptions, runtime/v2/runc/options), containerd v2.3 (introspection,
bootstrap, runc options 12-13, runtimeoptions config_body) and
containerd/cgroups (stats/v1, v2/stats and the newer cgroup2 fields).
A field is listed by name in number order; "-" marks an unused number.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, FileDescriptor

ROOT = Path(__file__).resolve().parents[2]

# proto file (relative to the repository root) -> upstream proto package
PACKAGES = {
    "protos/containerd/types/mount.proto": "containerd.types",
    "protos/containerd/types/introspection.proto": "containerd.types",
    "protos/containerd/types/task/task.proto": "containerd.v1.types",
    "protos/containerd/task/v2/shim.proto": "containerd.task.v2",
    "protos/containerd/events/task.proto": "containerd.events",
    "protos/containerd/services/events/ttrpc/v1/events.proto": (
        "containerd.services.events.ttrpc.v1"
    ),
    "protos/containerd/runtimeoptions/v1/api.proto": "runtimeoptions.v1",
    "protos/containerd/runc/options/oci.proto": "containerd.runc.v1",
    "protos/containerd/runtime/bootstrap/v1/bootstrap.proto": "containerd.runtime.bootstrap.v1",
    "protos/containerd/cgroups/v1/metrics.proto": "io.containerd.cgroups.v1",
    "protos/containerd/cgroups/v2/metrics.proto": "io.containerd.cgroups.v2",
    "protos/pysandbox/control/v1/control.proto": "pysandbox.control.v1",
}

FIELDS = {
    "containerd.types.Mount": "type source target options",
    "containerd.types.RuntimeVersion": "version revision",
    "containerd.types.RuntimeInfo": "name version options features annotations",
    "containerd.v1.types.Process": (
        "container_id id pid status stdin stdout stderr terminal exit_status exited_at"
    ),
    "containerd.v1.types.ProcessInfo": "pid info",
    "containerd.task.v2.CreateTaskRequest": (
        "id bundle rootfs terminal stdin stdout stderr checkpoint parent_checkpoint options"
    ),
    "containerd.task.v2.CreateTaskResponse": "pid",
    "containerd.task.v2.DeleteRequest": "id exec_id",
    "containerd.task.v2.DeleteResponse": "pid exit_status exited_at",
    "containerd.task.v2.ExecProcessRequest": "id exec_id terminal stdin stdout stderr spec",
    "containerd.task.v2.ExecProcessResponse": "",
    "containerd.task.v2.ResizePtyRequest": "id exec_id width height",
    "containerd.task.v2.StateRequest": "id exec_id",
    "containerd.task.v2.StateResponse": (
        "id bundle pid status stdin stdout stderr terminal exit_status exited_at exec_id"
    ),
    "containerd.task.v2.KillRequest": "id exec_id signal all",
    "containerd.task.v2.CloseIORequest": "id exec_id stdin",
    "containerd.task.v2.PidsRequest": "id",
    "containerd.task.v2.PidsResponse": "processes",
    "containerd.task.v2.CheckpointTaskRequest": "id path options",
    "containerd.task.v2.UpdateTaskRequest": "id resources annotations",
    "containerd.task.v2.StartRequest": "id exec_id",
    "containerd.task.v2.StartResponse": "pid",
    "containerd.task.v2.WaitRequest": "id exec_id",
    "containerd.task.v2.WaitResponse": "exit_status exited_at",
    "containerd.task.v2.StatsRequest": "id",
    "containerd.task.v2.StatsResponse": "stats",
    "containerd.task.v2.ConnectRequest": "id",
    "containerd.task.v2.ConnectResponse": "shim_pid task_pid version",
    "containerd.task.v2.ShutdownRequest": "id now",
    "containerd.task.v2.PauseRequest": "id",
    "containerd.task.v2.ResumeRequest": "id",
    "containerd.events.TaskCreate": "container_id bundle rootfs io checkpoint pid",
    "containerd.events.TaskStart": "container_id pid",
    "containerd.events.TaskDelete": "container_id pid exit_status exited_at id",
    "containerd.events.TaskIO": "stdin stdout stderr terminal",
    "containerd.events.TaskExit": "container_id id pid exit_status exited_at",
    "containerd.events.TaskOOM": "container_id",
    "containerd.events.TaskExecAdded": "container_id exec_id",
    "containerd.events.TaskExecStarted": "container_id exec_id pid",
    "containerd.events.TaskPaused": "container_id",
    "containerd.events.TaskResumed": "container_id",
    "containerd.events.TaskCheckpointed": "container_id checkpoint",
    "containerd.services.events.ttrpc.v1.ForwardRequest": "envelope",
    "containerd.services.events.ttrpc.v1.Envelope": "timestamp namespace topic event",
    "runtimeoptions.v1.Options": "type_url config_path config_body",
    "containerd.runc.v1.Options": (
        "no_pivot_root no_new_keyring shim_cgroup io_uid io_gid binary_name root criu_path"
        " systemd_cgroup criu_image_path criu_work_path task_api_address task_api_version"
    ),
    "containerd.runc.v1.CheckpointOptions": (
        "exit open_tcp external_unix_sockets terminal file_locks empty_namespaces"
        " cgroups_mode image_path work_path"
    ),
    "containerd.runc.v1.ProcessDetails": "exec_id",
    "containerd.runtime.bootstrap.v1.BootstrapParams": (
        "instance_id namespace log_level containerd_version containerd_ttrpc_address"
        " containerd_grpc_address containerd_binary extensions socket_dir"
    ),
    "containerd.runtime.bootstrap.v1.Extension": "value",
    "containerd.runtime.bootstrap.v1.BootstrapResult": (
        "version address protocol capabilities metadata"
    ),
    "io.containerd.cgroups.v1.Metrics": (
        "hugetlb pids cpu memory blkio rdma network cgroup_stats memory_oom_control"
    ),
    "io.containerd.cgroups.v1.HugetlbStat": "usage max failcnt pagesize",
    "io.containerd.cgroups.v1.PidsStat": "current limit",
    "io.containerd.cgroups.v1.CPUStat": "usage throttling",
    "io.containerd.cgroups.v1.CPUUsage": "total kernel user per_cpu",
    "io.containerd.cgroups.v1.Throttle": "periods throttled_periods throttled_time",
    "io.containerd.cgroups.v1.MemoryStat": (
        "cache rss rss_huge mapped_file dirty writeback pg_pg_in pg_pg_out pg_fault"
        " pg_maj_fault inactive_anon active_anon inactive_file active_file unevictable"
        " hierarchical_memory_limit hierarchical_swap_limit total_cache total_rss"
        " total_rss_huge total_mapped_file total_dirty total_writeback total_pg_pg_in"
        " total_pg_pg_out total_pg_fault total_pg_maj_fault total_inactive_anon"
        " total_active_anon total_inactive_file total_active_file total_unevictable"
        " usage swap kernel kernel_tcp"
    ),
    "io.containerd.cgroups.v1.MemoryEntry": "limit usage max failcnt",
    "io.containerd.cgroups.v1.MemoryOomControl": "oom_kill_disable under_oom oom_kill",
    "io.containerd.cgroups.v1.BlkIOStat": (
        "io_service_bytes_recursive io_serviced_recursive io_queued_recursive"
        " io_service_time_recursive io_wait_time_recursive io_merged_recursive"
        " io_time_recursive sectors_recursive"
    ),
    "io.containerd.cgroups.v1.BlkIOEntry": "op device major minor value",
    "io.containerd.cgroups.v1.RdmaStat": "current limit",
    "io.containerd.cgroups.v1.RdmaEntry": "device hca_handles hca_objects",
    "io.containerd.cgroups.v1.NetworkStat": (
        "name rx_bytes rx_packets rx_errors rx_dropped tx_bytes tx_packets tx_errors tx_dropped"
    ),
    "io.containerd.cgroups.v1.CgroupStats": (
        "nr_sleeping nr_running nr_stopped nr_uninterruptible nr_io_wait"
    ),
    "io.containerd.cgroups.v2.Metrics": "pids cpu - memory rdma io hugetlb memory_events network",
    "io.containerd.cgroups.v2.PSIData": "avg10 avg60 avg300 total",
    "io.containerd.cgroups.v2.PSIStats": "some full",
    "io.containerd.cgroups.v2.PidsStat": "current limit",
    "io.containerd.cgroups.v2.CPUStat": (
        "usage_usec user_usec system_usec nr_periods nr_throttled throttled_usec psi"
        " nr_bursts burst_usec"
    ),
    "io.containerd.cgroups.v2.MemoryStat": (
        "anon file kernel_stack slab sock shmem file_mapped file_dirty file_writeback"
        " anon_thp inactive_anon active_anon inactive_file active_file unevictable"
        " slab_reclaimable slab_unreclaimable pgfault pgmajfault workingset_refault"
        " workingset_activate workingset_nodereclaim pgrefill pgscan pgsteal pgactivate"
        " pgdeactivate pglazyfree pglazyfreed thp_fault_alloc thp_collapse_alloc usage"
        " usage_limit swap_usage swap_limit max_usage swap_max_usage psi"
        " workingset_refault_anon workingset_refault_file workingset_activate_anon"
        " workingset_activate_file"
    ),
    "io.containerd.cgroups.v2.MemoryEvents": "low high max oom oom_kill oom_group_kill",
    "io.containerd.cgroups.v2.RdmaStat": "current limit",
    "io.containerd.cgroups.v2.RdmaEntry": "device hca_handles hca_objects",
    "io.containerd.cgroups.v2.IOStat": "usage psi",
    "io.containerd.cgroups.v2.IOEntry": "major minor rbytes wbytes rios wios",
    "io.containerd.cgroups.v2.HugeTlbStat": "current max pagesize failcnt",
    "io.containerd.cgroups.v2.NetworkStat": (
        "name rx_bytes rx_packets rx_errors rx_dropped tx_bytes tx_packets tx_errors tx_dropped"
    ),
}

# service -> methods (in upstream order) and request/response types
SERVICES = {
    "containerd.task.v2.Task": [
        ("State", "StateRequest", "StateResponse"),
        ("Create", "CreateTaskRequest", "CreateTaskResponse"),
        ("Start", "StartRequest", "StartResponse"),
        ("Delete", "DeleteRequest", "DeleteResponse"),
        ("Pids", "PidsRequest", "PidsResponse"),
        ("Pause", "PauseRequest", "google.protobuf.Empty"),
        ("Resume", "ResumeRequest", "google.protobuf.Empty"),
        ("Checkpoint", "CheckpointTaskRequest", "google.protobuf.Empty"),
        ("Kill", "KillRequest", "google.protobuf.Empty"),
        ("Exec", "ExecProcessRequest", "google.protobuf.Empty"),
        ("ResizePty", "ResizePtyRequest", "google.protobuf.Empty"),
        ("CloseIO", "CloseIORequest", "google.protobuf.Empty"),
        ("Update", "UpdateTaskRequest", "google.protobuf.Empty"),
        ("Wait", "WaitRequest", "WaitResponse"),
        ("Stats", "StatsRequest", "StatsResponse"),
        ("Connect", "ConnectRequest", "ConnectResponse"),
        ("Shutdown", "ShutdownRequest", "google.protobuf.Empty"),
    ],
    "containerd.services.events.ttrpc.v1.Events": [
        ("Forward", "ForwardRequest", "google.protobuf.Empty"),
    ],
}


def _module_for(proto: str) -> object:
    return importlib.import_module(proto.removesuffix(".proto").replace("/", ".") + "_pb2")


def _file(proto: str) -> FileDescriptor:
    descriptor = _module_for(proto).DESCRIPTOR  # type: ignore[attr-defined]
    assert isinstance(descriptor, FileDescriptor)
    return descriptor


def _all_messages() -> dict[str, Descriptor]:
    found: dict[str, Descriptor] = {}

    def walk(message: Descriptor) -> None:
        found[message.full_name] = message
        for nested in message.nested_types:
            walk(nested)

    for proto in PACKAGES:
        for message in _file(proto).message_types_by_name.values():
            walk(message)
    return found


def test_every_proto_file_is_listed() -> None:
    on_disk = {str(p.relative_to(ROOT)) for p in (ROOT / "protos").rglob("*.proto")}
    assert on_disk == set(PACKAGES)


@pytest.mark.parametrize("proto", sorted(PACKAGES))
def test_package_matches_upstream(proto: str) -> None:
    descriptor = _file(proto)
    assert descriptor.name == proto
    assert descriptor.package == PACKAGES[proto]
    source = descriptor_pb2.FileDescriptorProto()
    descriptor.CopyToProto(source)
    assert source.syntax == "proto3"
    # Only the standard well-known types and our own files may be imported.
    for dependency in source.dependency:
        assert dependency in PACKAGES or dependency.startswith("google/protobuf/"), dependency


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_field_numbers_match_upstream(name: str) -> None:
    message = _all_messages()[name]
    expected = {
        field: number for number, field in enumerate(FIELDS[name].split(), start=1) if field != "-"
    }
    actual = {f.name: f.number for f in message.fields}
    assert actual == expected


def test_every_containerd_message_is_checked() -> None:
    """New upstream-mirroring messages must be added to FIELDS (ours are exempt)."""
    upstream = {
        name
        for name, message in _all_messages().items()
        if not name.startswith("pysandbox.") and not message.GetOptions().map_entry
    }
    assert upstream == set(FIELDS)


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_service_methods_match_upstream(service: str) -> None:
    package = service.rsplit(".", 1)[0]
    proto = next(p for p, pkg in PACKAGES.items() if pkg == package and "_pb2" not in p)
    found = _file(proto).services_by_name[service.rsplit(".", 1)[1]]
    assert found.full_name == service
    actual = [(m.name, m.input_type.full_name, m.output_type.full_name) for m in found.methods]
    expected = [
        (
            method,
            request if "." in request else f"{package}.{request}",
            response if "." in response else f"{package}.{response}",
        )
        for method, request, response in SERVICES[service]
    ]
    assert actual == expected


def test_status_enum_values() -> None:
    from protos.containerd.types.task import task_pb2

    assert dict(task_pb2.Status.items()) == {
        "UNKNOWN": 0,
        "CREATED": 1,
        "RUNNING": 2,
        "STOPPED": 3,
        "PAUSED": 4,
        "PAUSING": 5,
    }


def test_bootstrap_enum_values() -> None:
    from protos.containerd.runtime.bootstrap.v1 import bootstrap_pb2

    assert dict(bootstrap_pb2.LogLevel.items()) == {
        "LOG_LEVEL_INFO": 0,
        "LOG_LEVEL_TRACE": -8,
        "LOG_LEVEL_DEBUG": -4,
        "LOG_LEVEL_WARN": 4,
        "LOG_LEVEL_ERROR": 8,
        "LOG_LEVEL_FATAL": 10,
        "LOG_LEVEL_PANIC": 12,
    }
    assert dict(bootstrap_pb2.Capability.items()) == {"CAPABILITY_UNSPECIFIED": 0}
