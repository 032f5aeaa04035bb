"""/proc/net and /sys/class/net over a stand-in network stack."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentry.abi.errors import EACCES, ENOENT
from sentry.fsimpl import setup_root
from sentry.inet import Interface
from sentry.vfs import FSContext, VirtualFilesystem, set_current_task
from sentry.vfs.flags import O_DIRECTORY, O_RDONLY, O_WRONLY
from tests.vfs.fakes import FakeCreds, FakeKernel, FakeTask

ROUTE = b"Iface\tDestination\tGateway \n"
TCP_HEADER = b"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid"


class FakeStack:
    """Two links; route and tcp files; eth0's MTU can change."""

    def __init__(self) -> None:
        self.mtu = 1500

    def interfaces(self) -> list[Interface]:
        return [
            Interface(1, "lo", 772, 0x10049, 65536, b"\0" * 6, b"\0" * 6, 0, 1000),
            Interface(2, "eth0", 1, 0x11043, self.mtu, bytes.fromhex("0242ac110002"),
                      b"\xff" * 6, 6, 1000),
        ]  # fmt: skip

    def proc_net_names(self) -> list[str]:
        return ["route", "tcp"]

    def proc_net(self, name: str) -> bytes:
        if name == "route":
            return ROUTE
        if name == "tcp":
            return TCP_HEADER + b"\n   0: 0100007F:1F90 00000000:0000 0A 0:0 0:0 0 0 0 4242 1\n"
        raise ENOENT


@pytest.fixture
def net_task(tmp_path: Path) -> tuple[FakeTask, FakeStack]:
    for d in ("proc", "sys", "dev", "tmp"):
        (tmp_path / d).mkdir()
    vfs = VirtualFilesystem()
    stack = FakeStack()
    root = setup_root(vfs, str(tmp_path), net=stack)
    t = FakeTask(FakeKernel(vfs), FSContext(root, root), FakeCreds.root())
    t.kernel.tasks[t.tid] = t
    set_current_task(t)
    return t, stack


def read(t: FakeTask, path: bytes) -> bytes:
    f = t.kernel.vfs.open_path(t.fs, path, O_RDONLY, 0, t.creds)
    f.inc_ref()
    data: bytes = f.read(65536)
    return data


def listdir(t: FakeTask, path: bytes) -> list[bytes]:
    f = t.kernel.vfs.open_path(t.fs, path, O_RDONLY | O_DIRECTORY, 0, t.creds)
    f.inc_ref()
    return sorted(f.getdents(65536, lambda e, _: e.name + b" ").split())


def test_sys_class_net_links(net_task: tuple[FakeTask, FakeStack]) -> None:
    t, stack = net_task
    assert listdir(t, b"/sys/class/net") == [b".", b"..", b"eth0", b"lo"]
    assert read(t, b"/sys/class/net/eth0/address") == b"02:42:ac:11:00:02\n"
    assert read(t, b"/sys/class/net/eth0/flags") == b"0x1003\n"
    assert read(t, b"/sys/class/net/lo/flags") == b"0x9\n"
    assert read(t, b"/sys/class/net/lo/operstate") == b"unknown\n"
    assert read(t, b"/sys/class/net/eth0/operstate") == b"up\n"
    assert read(t, b"/sys/class/net/eth0/ifindex") == b"2\n"
    assert read(t, b"/sys/class/net/eth0/type") == b"1\n"
    stack.mtu = 9000  # read at open: the current value
    assert read(t, b"/sys/class/net/eth0/mtu") == b"9000\n"
    with pytest.raises(ENOENT):
        read(t, b"/sys/class/net/wlan0/mtu")


def test_proc_net_is_self_net(net_task: tuple[FakeTask, FakeStack]) -> None:
    t, _ = net_task
    vfs = t.kernel.vfs
    assert vfs.readlink(vfs.resolve(t.fs, b"/proc/net", t.creds, follow=False)) == b"self/net"
    assert listdir(t, b"/proc/net") == [b".", b"..", b"route", b"tcp", b"unix"]
    assert read(t, b"/proc/net/route") == ROUTE
    assert read(t, b"/proc/%d/net/route" % t.tid) == ROUTE
    # The host's socket 4242 is not the sandbox's: only the header remains.
    assert read(t, b"/proc/net/tcp") == TCP_HEADER + b"\n"
    assert read(t, b"/proc/net/unix").startswith(b"Num       RefCount Protocol Flags")
    with pytest.raises(EACCES):
        vfs.open_path(t.fs, b"/proc/net/route", O_WRONLY, 0, t.creds)
