"""End to end: the sandbox's network namespace (``--network``, the spec's
namespace path) as the host sees it and as the application sees it
through the Sentry's /sys/class/net and /proc/net, under the real boot
sequence (pivot_root, /proc unmounted, seccomp).

Needs root, ptrace, busybox-static and iproute2 (``ip``, ``nsenter``);
each test skips with its reason otherwise.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integration.test_runtime_boot import PYSANDBOX, Runtime, _missing, make_bundle
from runtime.spec import default_spec

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def requirements() -> None:
    reason = _missing()
    if reason is None and not (shutil.which("ip") and shutil.which("nsenter")):
        reason = "needs iproute2's ip and util-linux's nsenter"
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture
def pysandbox(tmp_path: Path, requirements: None) -> Runtime:
    return Runtime(PYSANDBOX, tmp_path / "state")


@pytest.fixture
def netns() -> Iterator[str]:
    """A named network namespace (as CNI leaves one: /var/run/netns/NAME)
    holding a veth pair, one end up with an address and MTU 1400."""
    name = f"pysbx-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        ip = ["ip", "-n", name]
        subprocess.run([*ip, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1"],
                       check=True)  # fmt: skip
        subprocess.run([*ip, "link", "set", "veth0", "mtu", "1400", "up"], check=True)
        subprocess.run([*ip, "link", "set", "veth1", "up"], check=True)
        subprocess.run([*ip, "addr", "add", "10.77.0.2/24", "dev", "veth0"], check=True)
        yield f"/var/run/netns/{name}"
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def _bundle(tmp_path: Path, script: str, netns_path: str | None = None) -> Path:
    namespaces = [dict(ns) for ns in default_spec()["linux"]["namespaces"]]
    if netns_path is not None:
        for ns in namespaces:
            if ns["type"] == "network":
                ns["path"] = netns_path
    bundle = make_bundle(tmp_path, ["/bin/sh", "-c", script])
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["linux"]["namespaces"] = namespaces
    (bundle / "config.json").write_text(json.dumps(cfg))
    return bundle


LINKS = "ls /sys/class/net; cat /sys/class/net/lo/operstate /sys/class/net/lo/flags"


def _host_links() -> list[str]:
    with open("/proc/net/dev") as f:
        return sorted(line.split(":")[0].strip() for line in f.readlines()[2:])


def _links_in(pid: int) -> dict[str, dict[str, Any]]:
    out = subprocess.run(
        ["nsenter", f"--net=/proc/{pid}/ns/net", "ip", "-j", "link"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return {link["ifname"]: link for link in json.loads(out.stdout)}


def test_default_is_a_new_namespace_with_loopback_up(pysandbox: Runtime, tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, f"{LINKS}; cat /proc/net/dev | wc -l")
    r = pysandbox("run", "--bundle", str(bundle), f"t{uuid.uuid4().hex[:10]}")
    assert r.returncode == 0, r.stderr
    # Only lo; up (IFF_UP|IFF_LOOPBACK); /proc/net/dev: two header lines + lo.
    assert r.stdout.split() == ["lo", "unknown", "0x9", "3"]


def test_the_host_sees_the_sandbox_in_its_own_namespace(pysandbox: Runtime, tmp_path: Path) -> None:
    cid = f"t{uuid.uuid4().hex[:10]}"
    bundle = _bundle(tmp_path, "sleep 100")
    try:
        r = pysandbox("create", "--bundle", str(bundle), cid)
        assert r.returncode == 0, r.stderr
        pid = pysandbox.state(cid)["pid"]
        assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
        links = _links_in(pid)
        assert list(links) == ["lo"]
        assert "UP" in links["lo"]["flags"]
    finally:
        pysandbox.force_delete(cid)


def test_spec_namespace_path_is_joined(pysandbox: Runtime, tmp_path: Path, netns: str) -> None:
    script = (
        "ls /sys/class/net; cat /sys/class/net/veth0/mtu /sys/class/net/veth0/operstate;"
        " grep -c 10.77.0.2 /proc/net/fib_trie; grep veth0 /proc/net/route | cut -f1,2"
    )
    cid = f"t{uuid.uuid4().hex[:10]}"
    r = pysandbox("run", "--bundle", str(_bundle(tmp_path, script, netns)), cid)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:3] == ["lo", "veth0", "veth1"]
    assert lines[3:5] == ["1400", "up"]
    assert int(lines[5]) >= 1  # the address is local in the namespace's FIB
    assert lines[6] == "veth0\t00004D0A"  # 10.77.0.0/24, little-endian hex


def test_host_network_sees_the_hosts_links(pysandbox: Runtime, tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, "ls /sys/class/net")
    host = Runtime([*PYSANDBOX, "--network=host"], pysandbox.root)
    r = host("run", "--bundle", str(bundle), f"t{uuid.uuid4().hex[:10]}")
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.split()) == _host_links()


def test_none_ignores_the_spec_path(pysandbox: Runtime, tmp_path: Path, netns: str) -> None:
    bundle = _bundle(tmp_path, "ls /sys/class/net", netns)
    none = Runtime([*PYSANDBOX, "--network=none"], pysandbox.root)
    r = none("run", "--bundle", str(bundle), f"t{uuid.uuid4().hex[:10]}")
    assert (r.returncode, r.stdout) == (0, "lo\n"), r.stderr


def test_missing_namespace_path_is_one_clear_line(pysandbox: Runtime, tmp_path: Path) -> None:
    cid = f"t{uuid.uuid4().hex[:10]}"
    bundle = _bundle(tmp_path, "true", "/var/run/netns/pysbx-does-not-exist")
    r = pysandbox("run", "--bundle", str(bundle), cid)
    assert r.returncode != 0
    (line,) = r.stderr.strip().splitlines()
    assert 'msg="network namespace /var/run/netns/pysbx-does-not-exist does not exist"' in line
    assert pysandbox("state", cid).returncode != 0


def test_ip_addr_through_the_sentrys_netlink(
    pysandbox: Runtime, tmp_path: Path, netns: str
) -> None:
    """busybox ``ip addr``/``ip route`` (NETLINK_ROUTE sockets of the
    Sentry, host-backed) see the namespace the sandbox joined."""
    script = "/bin/busybox ip addr; /bin/busybox ip route"
    r = pysandbox(
        "run", "--bundle", str(_bundle(tmp_path, script, netns)), f"t{uuid.uuid4().hex[:10]}"
    )
    assert r.returncode == 0, r.stderr + r.stdout
    assert re.search(r"\d+: veth0@veth1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1400 ", r.stdout)
    assert "inet 10.77.0.2/24 scope global veth0" in r.stdout
    assert "10.77.0.0/24 dev veth0 scope link  src 10.77.0.2" in r.stdout


NETSTAT = """
import os, socket, subprocess
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print("port", s.getsockname()[1], flush=True)
subprocess.run(["/bin/busybox", "netstat", "-ltn"], check=True)
"""


def test_netstat_lists_only_the_sandboxs_sockets(sentry_platform: str) -> None:
    """In the host's own namespace (``python -m sentry run``), netstat in
    the sandbox sees its listening socket and none of the host's."""
    if not os.path.exists("/usr/bin/python3") or not os.path.exists("/bin/busybox"):
        pytest.skip("needs Debian's /usr/bin/python3 and busybox-static")
    from integration.syscalls import harness

    reason = harness.ptrace_skip_reason()
    if reason:
        pytest.skip(reason)
    host = subprocess.run(["/bin/busybox", "netstat", "-ltn"], capture_output=True, text=True)
    r = subprocess.run(
        [sys.executable, "-m", "sentry", "run", "--platform", sentry_platform, "--",
         "/usr/bin/python3", "-c", NETSTAT],
        capture_output=True, text=True, timeout=120, cwd=harness.REPO,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    port = int(r.stdout.split("\n", 1)[0].split()[1])
    listening = [line.split()[3] for line in r.stdout.splitlines() if line.startswith("tcp ")]
    assert listening == [f"127.0.0.1:{port}"], (r.stdout, host.stdout)
