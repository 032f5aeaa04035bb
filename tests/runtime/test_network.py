"""runtime.network: which network namespace a sandbox gets, and the errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runtime import network
from runtime import spec as ocispec
from runtime.errors import RuntimeFailure
from tests.runtime.conftest import minimal_config


def spec_with(namespaces: list[dict[str, Any]]) -> ocispec.Spec:
    cfg = minimal_config()
    cfg["linux"]["namespaces"] = namespaces
    return ocispec.parse(cfg, "/bundle")


NET_PATH = [{"type": "network", "path": "/var/run/netns/cni-1"}, {"type": "mount"}, {"type": "uts"}]
NET_NEW = [{"type": "network"}, {"type": "mount"}, {"type": "uts"}]
NO_NET = [{"type": "mount"}, {"type": "uts"}]


@pytest.mark.parametrize(
    ("flag", "namespaces", "expected"),
    [
        ("sandbox", NET_PATH, network.Plan(network.Mode.JOIN, "/var/run/netns/cni-1")),
        ("sandbox", NET_NEW, network.Plan(network.Mode.NEW)),
        ("sandbox", NO_NET, network.Plan(network.Mode.NEW)),
        # runsc: the orchestrator's namespace wins over --network=host ...
        ("host", NET_PATH, network.Plan(network.Mode.JOIN, "/var/run/netns/cni-1")),
        ("host", NET_NEW, network.Plan(network.Mode.HOST)),
        ("host", NO_NET, network.Plan(network.Mode.HOST)),
        # ... but never over --network=none.
        ("none", NET_PATH, network.Plan(network.Mode.NEW)),
        ("none", NO_NET, network.Plan(network.Mode.NEW)),
    ],
)
def test_plan(flag: str, namespaces: list[dict[str, Any]], expected: network.Plan) -> None:
    assert network.plan(flag, spec_with(namespaces)) == expected


def test_describe_names_the_path() -> None:
    assert "/run/netns/x" in network.Plan(network.Mode.JOIN, "/run/netns/x").describe()
    assert "loopback" in network.Plan(network.Mode.NEW).describe()


def test_missing_namespace_path_is_one_line(tmp_path: Path) -> None:
    path = str(tmp_path / "cni-gone")
    with pytest.raises(RuntimeFailure) as info:
        network.check(network.Plan(network.Mode.JOIN, path))
    assert str(info.value) == f"network namespace {path} does not exist"


def test_a_regular_file_is_not_a_namespace(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(RuntimeFailure) as info:
        network.check(network.Plan(network.Mode.JOIN, str(path)))
    assert str(info.value) == f"{path} is not a network namespace"


def test_another_namespace_type_is_not_a_network_namespace() -> None:
    with pytest.raises(RuntimeFailure, match="is not a network namespace"):
        network.check(network.Plan(network.Mode.JOIN, "/proc/self/ns/uts"))


def test_own_namespace_passes_the_check() -> None:
    network.check(network.Plan(network.Mode.JOIN, "/proc/self/ns/net"))
    network.check(network.Plan(network.Mode.NEW))  # nothing to check
    network.check(network.Plan(network.Mode.HOST))


CHILD = """
import fcntl, os, socket, struct, sys
from runtime import network
before = os.readlink("/proc/self/ns/net")
network.enter(network.Plan(network.Mode[sys.argv[1]], sys.argv[2]))
ifreq = struct.pack("16sh22x", b"lo", 0)
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    flags = struct.unpack_from("16xh", fcntl.ioctl(s, network.SIOCGIFFLAGS, ifreq))[0]
print(before != os.readlink("/proc/self/ns/net"), os.readlink("/proc/self/ns/net"), flags & 1)
"""


def _enter_in_child(mode: str, path: str = "") -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, path],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    return out.stdout.split()


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a network namespace needs root")
def test_new_namespace_has_loopback_up() -> None:
    moved, _, lo_up = _enter_in_child("NEW")
    assert (moved, lo_up) == ("True", "1")


@pytest.mark.skipif(os.geteuid() != 0, reason="setns(2) into a network namespace needs root")
def test_join_enters_that_namespace(tmp_path: Path) -> None:
    # A namespace held by a process of ours (as CNI holds one with a bind mount).
    holder = subprocess.Popen(["unshare", "--net", "sleep", "60"], stdin=subprocess.DEVNULL)
    try:
        target = f"/proc/{holder.pid}/ns/net"
        for _ in range(1000):
            if os.readlink(target) != os.readlink("/proc/self/ns/net"):
                break
            os.sched_yield()
        moved, now, lo_up = _enter_in_child("JOIN", target)
        assert (moved, now) == ("True", os.readlink(target))
        assert lo_up == "0"  # joined as CNI left it: nothing brought up
    finally:
        holder.kill()
        holder.wait()
