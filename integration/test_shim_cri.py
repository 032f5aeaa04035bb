"""Kubernetes' path: containerd's CRI plugin runs a pod on runtime handler "pysandbox".

The test speaks the CRI gRPC API as kubelet does (a subset of
k8s.io/cri-api runtime.v1, compiled at test time), with containerd
configured from the snippet in docs/kubernetes.md (so the documentation is
what is tested) and a pause image built here. Host network, no CNI.

The containers run on the shim's host-process test backend
(``PYSANDBOX_SHIM_BACKEND``) until sandboxes can be spawned: what this
proves is the shim side — one shim per pod (pod grouping through the CRI
sandbox-id annotation), CRI's Create/Start/ExecSync/Stats/Stop/Remove
sequence over our Task API, separate root file systems per container, and
nothing left behind.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import os
import re
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from integration.containerd import (
    CRI_PLUGIN,
    SHIM_SOCKET_DIR,
    ContainerdConfig,
    PrivateContainerd,
    build_busybox_image,
    find_static_busybox,
    import_busybox_image,
    missing_requirements,
    mounts_under,
    processes_mentioning,
)

pytestmark = [pytest.mark.containerd, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[1]
SHIM_NAME = "containerd-shim-pysandbox-v2"
PAUSE_REF = "docker.io/pysandbox/pause:local"
K8S_NS = "k8s.io"

CRI_PROTO = """// The part of the Kubernetes CRI (runtime.v1) that the pod test speaks, as
// kubelet does. Field numbers and names follow k8s.io/cri-api
// pkg/apis/runtime/v1/api.proto; everything the test does not use is
// left out (protobuf ignores unknown fields either way).
syntax = "proto3";

package runtime.v1;

service RuntimeService {
  rpc Version(VersionRequest) returns (VersionResponse) {}
  rpc RunPodSandbox(RunPodSandboxRequest) returns (RunPodSandboxResponse) {}
  rpc StopPodSandbox(StopPodSandboxRequest) returns (StopPodSandboxResponse) {}
  rpc RemovePodSandbox(RemovePodSandboxRequest) returns (RemovePodSandboxResponse) {}
  rpc CreateContainer(CreateContainerRequest) returns (CreateContainerResponse) {}
  rpc StartContainer(StartContainerRequest) returns (StartContainerResponse) {}
  rpc StopContainer(StopContainerRequest) returns (StopContainerResponse) {}
  rpc RemoveContainer(RemoveContainerRequest) returns (RemoveContainerResponse) {}
  rpc ExecSync(ExecSyncRequest) returns (ExecSyncResponse) {}
  rpc ContainerStats(ContainerStatsRequest) returns (ContainerStatsResponse) {}
  rpc PodSandboxStatus(PodSandboxStatusRequest) returns (PodSandboxStatusResponse) {}
}

message VersionRequest { string version = 1; }
message VersionResponse {
  string version = 1;
  string runtime_name = 2;
  string runtime_version = 3;
  string runtime_api_version = 4;
}

enum NamespaceMode {
  POD = 0;
  CONTAINER = 1;
  NODE = 2;
  TARGET = 3;
}

message NamespaceOption {
  NamespaceMode network = 1;
  NamespaceMode pid = 2;
  NamespaceMode ipc = 3;
  string target_id = 4;
}

message LinuxSandboxSecurityContext {
  NamespaceOption namespace_options = 1;
}

message LinuxPodSandboxConfig {
  string cgroup_parent = 1;
  LinuxSandboxSecurityContext security_context = 2;
}

message PodSandboxMetadata {
  string name = 1;
  string uid = 2;
  string namespace = 3;
  uint32 attempt = 4;
}

message PodSandboxConfig {
  PodSandboxMetadata metadata = 1;
  string hostname = 2;
  string log_directory = 3;
  map<string, string> labels = 6;
  map<string, string> annotations = 7;
  LinuxPodSandboxConfig linux = 8;
}

message RunPodSandboxRequest {
  PodSandboxConfig config = 1;
  string runtime_handler = 2;
}
message RunPodSandboxResponse { string pod_sandbox_id = 1; }
message StopPodSandboxRequest { string pod_sandbox_id = 1; }
message StopPodSandboxResponse {}
message RemovePodSandboxRequest { string pod_sandbox_id = 1; }
message RemovePodSandboxResponse {}

message ContainerMetadata {
  string name = 1;
  uint32 attempt = 2;
}

message ImageSpec { string image = 1; }

message Mount {
  string container_path = 1;
  string host_path = 2;
  bool readonly = 3;
}

message KeyValue {
  string key = 1;
  string value = 2;
}

message LinuxContainerSecurityContext {
  NamespaceOption namespace_options = 3;
}

message LinuxContainerConfig {
  LinuxContainerSecurityContext security_context = 2;
}

message ContainerConfig {
  ContainerMetadata metadata = 1;
  ImageSpec image = 2;
  repeated string command = 3;
  repeated string args = 4;
  string working_dir = 5;
  repeated KeyValue envs = 6;
  repeated Mount mounts = 7;
  map<string, string> labels = 9;
  map<string, string> annotations = 10;
  string log_path = 11;
  bool stdin = 12;
  bool stdin_once = 13;
  bool tty = 14;
  LinuxContainerConfig linux = 15;
}

message CreateContainerRequest {
  string pod_sandbox_id = 1;
  ContainerConfig config = 2;
  PodSandboxConfig sandbox_config = 3;
}
message CreateContainerResponse { string container_id = 1; }
message StartContainerRequest { string container_id = 1; }
message StartContainerResponse {}
message StopContainerRequest {
  string container_id = 1;
  int64 timeout = 2;
}
message StopContainerResponse {}
message RemoveContainerRequest { string container_id = 1; }
message RemoveContainerResponse {}

message ExecSyncRequest {
  string container_id = 1;
  repeated string cmd = 2;
  int64 timeout = 3;
}
message ExecSyncResponse {
  bytes stdout = 1;
  bytes stderr = 2;
  int32 exit_code = 3;
}

message UInt64Value { uint64 value = 1; }

message ContainerAttributes { string id = 1; }

message CpuUsage {
  int64 timestamp = 1;
  UInt64Value usage_core_nano_seconds = 2;
}

message MemoryUsage {
  int64 timestamp = 1;
  UInt64Value working_set_bytes = 2;
}

message ContainerStats {
  ContainerAttributes attributes = 1;
  CpuUsage cpu = 2;
  MemoryUsage memory = 3;
}

message PodIP { string ip = 1; }
message PodSandboxNetworkStatus {
  string ip = 1;
  repeated PodIP additional_ips = 2;
}
message PodSandboxStatus {
  string id = 1;
  PodSandboxMetadata metadata = 2;
  PodSandboxNetworkStatus network = 5;
}
message PodSandboxStatusRequest {
  string pod_sandbox_id = 1;
  bool verbose = 2;
}
message PodSandboxStatusResponse { PodSandboxStatus status = 1; }

message ContainerStatsRequest { string container_id = 1; }
message ContainerStatsResponse { ContainerStats stats = 1; }
"""


def _compile_cri(out: Path) -> tuple[ModuleType, ModuleType]:
    """Compile the CRI subset with grpc_tools (a test dependency) and import it."""
    try:
        importlib.import_module("grpc")
        protoc = importlib.import_module("grpc_tools.protoc")
    except ImportError as exc:
        pytest.skip(f"needs grpcio and grpcio-tools: {exc}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "cri_subset.proto").write_text(CRI_PROTO)
    rc = protoc.main(
        [
            "protoc",
            f"-I{out}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            str(out / "cri_subset.proto"),
        ]
    )
    assert rc == 0, "protoc failed on the CRI subset"
    sys.path.insert(0, str(out))
    try:
        cri_subset_pb2 = importlib.import_module("cri_subset_pb2")
        cri_subset_pb2_grpc = importlib.import_module("cri_subset_pb2_grpc")
    finally:
        sys.path.remove(str(out))
    return cri_subset_pb2, cri_subset_pb2_grpc


def _docs_toml_blocks() -> list[str]:
    text = (ROOT / "docs" / "kubernetes.md").read_text()
    return re.findall(r"```toml\n(.*?)```", text, re.S)


class _CRIContainerd(PrivateContainerd):
    """A private containerd whose CRI section is docs/kubernetes.md's snippet."""

    docs_toml: str = ""

    def _cri_toml(self) -> str:
        snippet = self.docs_toml.replace("version = 2\n", "", 1)
        header = f'[plugins."{CRI_PLUGIN}"]\n'
        assert header in snippet, "docs snippet lost its CRI plugin table"
        extra = f"  sandbox_image = {json.dumps(PAUSE_REF)}\n"
        snippet = snippet.replace(header, header + extra, 1)
        return (
            "\n"
            + snippet
            + (
                f'\n[plugins."{CRI_PLUGIN}".cni]\n'
                f'  bin_dir = "{self.base / "cni" / "bin"}"\n'
                f'  conf_dir = "{self.base / "cni" / "net.d"}"\n'
            )
        )


def _pause_image(base: Path, busybox: Path) -> Path:
    """The busybox image with a long-running command, as a pause image."""
    plain = build_busybox_image(base / "bb.tar", busybox, PAUSE_REF)
    with tarfile.open(plain) as tar:
        files = {
            m.name: (tar.extractfile(m) or io.BytesIO()).read()
            for m in tar.getmembers()
            if m.isfile()
        }
    index = json.loads(files["index.json"])
    manifest_name = "blobs/sha256/" + index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads(files[manifest_name])
    config_name = "blobs/sha256/" + manifest["config"]["digest"].split(":")[1]
    config = json.loads(files[config_name])
    config["config"]["Cmd"] = ["sleep", "100000"]
    new_config = json.dumps(config, sort_keys=True).encode()
    manifest["config"]["digest"] = "sha256:" + hashlib.sha256(new_config).hexdigest()
    manifest["config"]["size"] = len(new_config)
    new_manifest = json.dumps(manifest, sort_keys=True).encode()
    index["manifests"][0]["digest"] = "sha256:" + hashlib.sha256(new_manifest).hexdigest()
    index["manifests"][0]["size"] = len(new_manifest)
    del files[config_name], files[manifest_name]
    files["blobs/sha256/" + manifest["config"]["digest"].split(":")[1]] = new_config
    files["blobs/sha256/" + index["manifests"][0]["digest"].split(":")[1]] = new_manifest
    files["index.json"] = json.dumps(index, sort_keys=True).encode()
    out = base / "pause.tar"
    with tarfile.open(out, "w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return out


HOST = "tests.shim.hostbackend:factory"


SANDBOX = "sandbox"


@pytest.fixture(params=[HOST, SANDBOX])
def cri_containerd(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[PrivateContainerd]:
    import shutil
    import tempfile

    reason = missing_requirements()
    if reason is not None:
        pytest.skip(f"private containerd: {reason}")
    busybox = find_static_busybox()
    if busybox is None:
        pytest.skip("needs a static busybox at /bin/busybox (apt-get install busybox-static)")
    exe = Path(sys.executable).parent / SHIM_NAME
    if not exe.exists():
        pytest.skip(f"{exe} is not installed (pip install -e .)")
    shimbin = tmp_path / "shimbin"
    shimbin.mkdir()
    (shimbin / SHIM_NAME).symlink_to(exe)
    blocks = _docs_toml_blocks()
    containerd_toml = next(b for b in blocks if "runtime_type" in b)
    pysandbox_toml = next(b for b in blocks if "platform" in b and "runtime_type" not in b)
    logs = tmp_path / "logs"
    config_file = tmp_path / "pysandbox.toml"
    config_file.write_text(pysandbox_toml.replace("/var/log/pysandbox", str(logs)))
    containerd_toml = containerd_toml.replace("/etc/containerd/pysandbox.toml", str(config_file))

    saved = dict(os.environ)
    if request.param == HOST:
        os.environ["PYSANDBOX_SHIM_BACKEND"] = HOST
        os.environ["PYTHONPATH"] = str(ROOT)
    else:
        os.environ.pop("PYSANDBOX_SHIM_BACKEND", None)
    base = Path(tempfile.mkdtemp(prefix="pysbx-cri-", dir="/tmp"))
    daemon = _CRIContainerd(
        base=base, config=ContainerdConfig(cri=True, path_prepend=(str(shimbin),))
    )
    daemon.docs_toml = containerd_toml
    try:
        daemon.start()
        daemon.ctr(
            "images", "import", str(_pause_image(base, busybox)), namespace=K8S_NS, timeout=60
        )
        import_busybox_image(daemon, namespace=K8S_NS)
        yield daemon
    finally:
        problems = daemon.stop()
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(base, ignore_errors=True)
        if problems:
            print("private containerd teardown:\n  " + "\n  ".join(problems))


def _shim_daemons(daemon: PrivateContainerd) -> list[int]:
    found = []
    for pid in processes_mentioning(str(daemon.address)):
        try:
            if SHIM_NAME.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            pass
    return found


def test_pod_through_cri(cri_containerd, tmp_path):
    try:
        _pod_through_cri(cri_containerd, tmp_path)
    except BaseException:
        print("containerd log:\n" + cri_containerd.log_tail(60))
        raise


def _pod_through_cri(cri_containerd, tmp_path):
    grpc = importlib.import_module("grpc")

    daemon = cri_containerd
    pb, pb_grpc = _compile_cri(tmp_path / "cri")
    sockets_before = set(SHIM_SOCKET_DIR.glob("*")) if SHIM_SOCKET_DIR.exists() else set()
    channel = grpc.insecure_channel(f"unix://{daemon.address}")
    rt = pb_grpc.RuntimeServiceStub(channel)
    try:
        version = rt.Version(pb.VersionRequest(version="v1"), timeout=10)
    except grpc.RpcError as exc:
        raise AssertionError(f"CRI does not answer: {exc}\n{daemon.log_tail(80)}") from None
    assert version.runtime_name == "containerd"

    logdir = tmp_path / "podlogs"
    logdir.mkdir()
    sandbox_config = pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name="p1", uid="uid-p1", namespace="default"),
        log_directory=str(logdir),
        linux=pb.LinuxPodSandboxConfig(
            security_context=pb.LinuxSandboxSecurityContext(
                namespace_options=pb.NamespaceOption(network=pb.NODE)
            )
        ),
    )
    pod = rt.RunPodSandbox(
        pb.RunPodSandboxRequest(config=sandbox_config, runtime_handler="pysandbox"), timeout=60
    ).pod_sandbox_id
    try:
        ids = []
        for name in ("a", "b"):
            config = pb.ContainerConfig(
                metadata=pb.ContainerMetadata(name=name),
                image=pb.ImageSpec(image="docker.io/pysandbox/busybox:local"),
                command=[
                    "sh",
                    "-c",
                    f"echo {name} > /only-{name}; echo started-{name}; exec sleep 100000",
                ],
                log_path=f"{name}.log",
                linux=pb.LinuxContainerConfig(
                    security_context=pb.LinuxContainerSecurityContext(
                        namespace_options=pb.NamespaceOption(network=pb.NODE)
                    )
                ),
            )
            cid = rt.CreateContainer(
                pb.CreateContainerRequest(
                    pod_sandbox_id=pod, config=config, sandbox_config=sandbox_config
                ),
                timeout=60,
            ).container_id
            rt.StartContainer(pb.StartContainerRequest(container_id=cid), timeout=60)
            ids.append(cid)

        # One shim for the pod: every bundle names the same socket.
        bundles = daemon.state / "io.containerd.runtime.v2.task" / K8S_NS
        addresses = {(bundles / i / "address").read_text() for i in (pod, *ids)}
        assert len(addresses) == 1, addresses
        assert len(_shim_daemons(daemon)) == 1, _shim_daemons(daemon)

        deadline = time.monotonic() + 20
        for name, cid in zip(("a", "b"), ids, strict=True):
            while True:
                res = rt.ExecSync(
                    pb.ExecSyncRequest(container_id=cid, cmd=["cat", f"/only-{name}"], timeout=20),
                    timeout=30,
                )
                if res.exit_code == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert (res.exit_code, res.stdout) == (0, f"{name}\n".encode()), res
        # Each container sees only its own root file system.
        other = rt.ExecSync(
            pb.ExecSyncRequest(container_id=ids[0], cmd=["ls", "/only-b"], timeout=20), timeout=30
        )
        assert other.exit_code != 0 and b"No such file" in other.stderr, other
        failing = rt.ExecSync(
            pb.ExecSyncRequest(
                container_id=ids[1], cmd=["sh", "-c", "echo oops >&2; exit 3"], timeout=20
            ),
            timeout=30,
        )
        assert (failing.exit_code, failing.stderr) == (3, b"oops\n")

        stats = rt.ContainerStats(pb.ContainerStatsRequest(container_id=ids[0]), timeout=30).stats
        assert stats.attributes.id == ids[0]
        if os.path.isdir("/sys/fs/cgroup/memory"):
            assert stats.memory.working_set_bytes.value > 0
            assert stats.cpu.usage_core_nano_seconds.value > 0

        log_a = (logdir / "a.log").read_text()
        assert "started-a" in log_a, log_a

        for cid in ids:
            rt.StopContainer(pb.StopContainerRequest(container_id=cid, timeout=5), timeout=60)
    finally:
        rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=60)
        rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=60)
        channel.close()
    deadline = time.monotonic() + 10
    while _shim_daemons(daemon) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _shim_daemons(daemon) == [], daemon.log_tail()
    assert list((daemon.state / "io.containerd.runtime.v2.task").glob("*/*")) == []
    assert mounts_under(daemon.base) == []
    left = (set(SHIM_SOCKET_DIR.glob("*")) if SHIM_SOCKET_DIR.exists() else set()) - sockets_before
    assert left == set(), left
