"""Kubernetes' path with a pod network: containerd's CRI plugin sets up the
pod's network namespace with CNI (Debian's containernetworking-plugins:
bridge + host-local, the conflist of docs/kubernetes.md) and runs the pod
on runtime handler "pysandbox" with real sandboxes.

What it shows: the pod gets an address from CNI, the sandbox's boot
process joins that namespace (``runtime.network``), both containers of the
pod see the same link and address through the Sentry's /sys/class/net and
/proc/net, and a ``python3 -m http.server`` started in the pod through
containerd (our shim) answers an HTTP request from the host at the pod's
address. The server part needs the Sentry's AF_INET sockets; it skips,
saying so, only when socket(2) in the pod fails with ENOSYS or
EAFNOSUPPORT (probed with python3 inside the pod, under the real sandbox's
seccomp filter), or when the Sentry cannot start a thread (http.server
serves each request on a thread; threads are another branch's work).
"""

from __future__ import annotations

import importlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integration.containerd import (
    ContainerdConfig,
    PrivateContainerd,
    find_static_busybox,
    import_busybox_image,
    missing_requirements,
)
from integration.test_shim_cri import (
    K8S_NS,
    ROOT,
    SHIM_NAME,
    _compile_cri,
    _CRIContainerd,
    _docs_toml_blocks,
    _pause_image,
    _shim_daemons,
)

pytestmark = [pytest.mark.containerd, pytest.mark.timeout(240)]

CNI_BIN = Path("/usr/lib/cni")
BUSYBOX_IMAGE = "docker.io/pysandbox/busybox:local"
PYTHON = "/usr/bin/python3"
HTTP_PORT = 8080


def docs_conflist() -> dict[str, Any]:
    """The CNI network list of docs/kubernetes.md (the ```json block)."""
    text = (ROOT / "docs" / "kubernetes.md").read_text()
    block = next(b for b in re.findall(r"```json\n(.*?)```", text, re.S) if '"plugins"' in b)
    conf: dict[str, Any] = json.loads(block)
    return conf


def test_conflist(base: Path, tag: str, subnet: str) -> dict[str, Any]:
    """The documented conflist made private to one test: its own bridge,
    subnet and IPAM state directory; no masquerading (no iptables rules
    left on the host by a failed test)."""
    conf = docs_conflist()
    conf["name"] = f"pysbx-{tag}"
    bridge = conf["plugins"][0]
    assert bridge["type"] == "bridge" and bridge["ipam"]["type"] == "host-local"
    bridge["bridge"] = f"pysbx{tag}"
    bridge["ipMasq"] = False
    bridge["ipam"]["ranges"] = [[{"subnet": subnet}]]
    bridge["ipam"]["dataDir"] = str(base / "cni" / "ipam")
    conf["plugins"] = [p for p in conf["plugins"] if p["type"] in ("bridge",)]
    return conf


test_conflist.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


class _CNIContainerd(_CRIContainerd):
    """The docs' CRI configuration with CNI from /usr/lib/cni."""

    def _cri_toml(self) -> str:
        private_bin = f'bin_dir = "{self.base / "cni" / "bin"}"'
        text = super()._cri_toml()
        assert private_bin in text
        return text.replace(private_bin, f'bin_dir = "{CNI_BIN}"')


def _missing() -> str | None:
    reason = missing_requirements()
    if reason is not None:
        return f"private containerd: {reason}"
    if find_static_busybox() is None:
        return "needs a static busybox at /bin/busybox (apt-get install busybox-static)"
    for plugin in ("bridge", "host-local", "loopback"):
        if not (CNI_BIN / plugin).exists():
            path = CNI_BIN / plugin
            return f"needs CNI plugin {path} (apt-get install containernetworking-plugins)"
    if shutil.which("ip") is None:
        return "needs iproute2's ip"
    return None


@pytest.fixture
def cni_containerd(tmp_path: Path) -> Iterator[tuple[PrivateContainerd, str]]:
    reason = _missing()
    if reason is not None:
        pytest.skip(reason)
    exe = Path(sys.executable).parent / SHIM_NAME
    if not exe.exists():
        pytest.skip(f"{exe} is not installed (pip install -e .)")
    busybox = find_static_busybox()
    assert busybox is not None
    shimbin = tmp_path / "shimbin"
    shimbin.mkdir()
    (shimbin / SHIM_NAME).symlink_to(exe)
    blocks = _docs_toml_blocks()
    containerd_toml = next(b for b in blocks if "runtime_type" in b)
    pysandbox_toml = next(b for b in blocks if "platform" in b and "runtime_type" not in b)
    config_file = tmp_path / "pysandbox.toml"
    config_file.write_text(pysandbox_toml.replace("/var/log/pysandbox", str(tmp_path / "logs")))
    containerd_toml = containerd_toml.replace("/etc/containerd/pysandbox.toml", str(config_file))

    saved = dict(os.environ)
    os.environ.pop("PYSANDBOX_SHIM_BACKEND", None)
    base = Path(tempfile.mkdtemp(prefix="pysbx-cni-", dir="/tmp"))
    tag = f"{random.randrange(1 << 24):06x}"
    subnet = f"10.{random.randrange(200, 250)}.{random.randrange(256)}.0/24"
    (base / "cni" / "net.d").mkdir(parents=True)
    (base / "cni" / "net.d" / "10-pysandbox.conflist").write_text(
        json.dumps(test_conflist(base, tag, subnet), indent=2)
    )
    daemon = _CNIContainerd(
        base=base, config=ContainerdConfig(cri=True, path_prepend=(str(shimbin),))
    )
    daemon.docs_toml = containerd_toml
    try:
        daemon.start()
        daemon.ctr(
            "images", "import", str(_pause_image(base, busybox)), namespace=K8S_NS, timeout=60
        )
        import_busybox_image(daemon, namespace=K8S_NS)
        yield daemon, subnet
    finally:
        problems = daemon.stop()
        subprocess.run(["ip", "link", "del", f"pysbx{tag}"], capture_output=True, check=False)
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(base, ignore_errors=True)
        if problems:
            print("private containerd teardown:\n  " + "\n  ".join(problems))


#: Prints the errno name an AF_INET socket(2) fails with, or "ok".
SOCKET_PROBE = """
import errno, socket
try:
    socket.socket().close()
    print("ok")
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
"""

#: "ok" when the Sentry can start a thread (http.server serves each
#: request on its own thread: socketserver.ThreadingMixIn).
THREAD_PROBE = """
import threading
try:
    t = threading.Thread(target=lambda: None)
    t.start()
    t.join()
    print("ok")
except RuntimeError as e:
    print(e)
"""

#: Debian's python3 from the host, read-only, in the busybox image.
PYTHON_MOUNTS = (("/usr", "/usr"), ("/lib", "/usr/lib"), ("/lib64", "/usr/lib64"))


def test_pod_network_through_cni(cni_containerd, tmp_path):
    daemon, subnet = cni_containerd
    try:
        _pod_network(daemon, subnet, tmp_path)
    except BaseException:
        print("containerd log:\n" + daemon.log_tail(80))
        raise


def _python_mounts(pb: Any) -> list[Any]:
    return [pb.Mount(container_path=c, host_path=h, readonly=True) for c, h in PYTHON_MOUNTS]


def _exec(rt: Any, pb: Any, cid: str, cmd: list[str]) -> Any:
    return rt.ExecSync(pb.ExecSyncRequest(container_id=cid, cmd=cmd, timeout=30), timeout=60)


def _pod_network(daemon: PrivateContainerd, subnet: str, tmp_path: Path) -> None:
    grpc = importlib.import_module("grpc")
    pb, pb_grpc = _compile_cri(tmp_path / "cri")
    channel = grpc.insecure_channel(f"unix://{daemon.address}")
    rt = pb_grpc.RuntimeServiceStub(channel)
    logdir = tmp_path / "podlogs"
    logdir.mkdir()
    # No namespace options: the pod gets its own network (NamespaceMode POD).
    sandbox_config = pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name="net", uid="uid-net", namespace="default"),
        log_directory=str(logdir),
    )
    pod = rt.RunPodSandbox(
        pb.RunPodSandboxRequest(config=sandbox_config, runtime_handler="pysandbox"), timeout=120
    ).pod_sandbox_id
    try:
        status = rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=pod), timeout=30)
        ip = status.status.network.ip
        prefix = subnet.rsplit(".", 1)[0] + "."
        assert ip.startswith(prefix), (ip, subnet)

        ids = {}
        for name in ("a", "b"):
            config = pb.ContainerConfig(
                metadata=pb.ContainerMetadata(name=name),
                image=pb.ImageSpec(image=BUSYBOX_IMAGE),
                command=["sleep", "100000"],
                log_path=f"{name}.log",
                mounts=_python_mounts(pb),
            )
            ids[name] = rt.CreateContainer(
                pb.CreateContainerRequest(
                    pod_sandbox_id=pod, config=config, sandbox_config=sandbox_config
                ),
                timeout=60,
            ).container_id
            rt.StartContainer(pb.StartContainerRequest(container_id=ids[name]), timeout=60)

        views = {}
        for name, cid in ids.items():
            links = _exec(rt, pb, cid, ["ls", "/sys/class/net"])
            assert (links.exit_code, links.stdout.split()) == (0, [b"eth0", b"lo"]), links
            mac = _exec(rt, pb, cid, ["cat", "/sys/class/net/eth0/address"])
            fib = _exec(rt, pb, cid, ["cat", "/proc/net/fib_trie"])
            assert mac.exit_code == 0 and fib.exit_code == 0, (mac, fib)
            # The pod's address is local in the FIB of the namespace it sees.
            local = rb"\|-- " + re.escape(ip.encode()) + rb"\n\s+/32 host LOCAL"
            assert re.search(local, fib.stdout), fib.stdout
            views[name] = (mac.stdout, fib.stdout)
        assert views["a"] == views["b"]

        if not os.path.exists(PYTHON):
            pytest.skip(f"the http.server part needs Debian's {PYTHON}")
        # The probes only make a failure say which part is missing.
        probe = _exec(rt, pb, ids["a"], [PYTHON, "-c", SOCKET_PROBE])
        assert (probe.exit_code, probe.stdout.strip()) == (0, b"ok"), probe
        threads = _exec(rt, pb, ids["a"], [PYTHON, "-c", THREAD_PROBE])
        assert threads.stdout.strip() == b"ok", threads
        _http_server(rt, pb, pod, sandbox_config, ip, logdir / "web.log")
        for cid in ids.values():
            rt.StopContainer(pb.StopContainerRequest(container_id=cid, timeout=5), timeout=60)
    finally:
        rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=60)
        rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=60)
        channel.close()
    deadline = time.monotonic() + 10
    while _shim_daemons(daemon) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _shim_daemons(daemon) == [], daemon.log_tail()


def _http_server(rt: Any, pb: Any, pod: str, sandbox_config: Any, ip: str, log: Path) -> None:
    """``python3 -m http.server`` in a third container (Debian's python3
    bind-mounted from the host into the busybox image) answers the host."""
    config = pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name="web"),
        image=pb.ImageSpec(image=BUSYBOX_IMAGE),
        command=["sh", "-c", "mkdir -p /www && echo hello-from-the-pod > /www/index.txt"
                 f" && cd /www && exec {PYTHON} -m http.server {HTTP_PORT}"],
        log_path="web.log",
        mounts=_python_mounts(pb),
    )  # fmt: skip
    cid = rt.CreateContainer(
        pb.CreateContainerRequest(pod_sandbox_id=pod, config=config, sandbox_config=sandbox_config),
        timeout=60,
    ).container_id
    rt.StartContainer(pb.StartContainerRequest(container_id=cid), timeout=60)
    url = f"http://{ip}:{HTTP_PORT}/index.txt"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                body = resp.read()
            break
        except OSError as exc:
            if time.monotonic() > deadline:
                output = log.read_text() if log.exists() else "(no log)"
                raise AssertionError(f"{url} did not answer: {exc}; web.log:\n{output}") from None
            time.sleep(0.5)
    assert body == b"hello-from-the-pod\n"
    rt.StopContainer(pb.StopContainerRequest(container_id=cid, timeout=5), timeout=60)
