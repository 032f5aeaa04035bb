"""A minimal sysfs (gVisor fsimpl/sys): the CPU topology files libc reads
(glibc get_nprocs reads /sys/devices/system/cpu/online), the sandbox's
network links under class/net (gVisor fsimpl/sys/net.go; values from the
``sentry.inet`` stack, looked up at each open so they stay current) and
empty directories for the usual top-level names. Read-only; built on
procfs's synthetic nodes."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

from sentry.abi.errors import ENOENT
from sentry.fsimpl.proc.nodes import ProcDir, ProcFile
from sentry.inet import Interface, Stack
from sentry.vfs.inode import Filesystem, Inode, StatFS

SYSFS_MAGIC = 0x62656572


def _cpu_range() -> bytes:
    n = len(os.sched_getaffinity(0)) or 1
    return b"0\n" if n == 1 else b"0-%d\n" % (n - 1)


def _hw(address: bytes) -> str:
    """A link-layer address as sysfs prints it (``%*phC``: aa:bb:cc)."""
    return ":".join(f"{b:02x}" for b in address)


class SysFilesystem(Filesystem):
    """/sys with devices/system/cpu/{online,possible,present,kernel_max}
    and, given a network stack, class/net/<link>/{address,mtu,...}."""

    name = "sysfs"
    magic = SYSFS_MAGIC

    def __init__(self, net: Stack | None = None) -> None:
        super().__init__()
        self._net = net
        self._cpus = _cpu_range()
        self._root = self._dir("/", {
            "devices": {"system": {"cpu": {
                "online": self._cpus, "possible": self._cpus, "present": self._cpus,
                "kernel_max": b"8191\n",
            }}},
            "fs": {"cgroup": {}},
            "kernel": {"mm": {}},
            "class": {"net": self._net_dir} if net is not None else {},
            "bus": {},
            "block": {},
            "module": {},
            "firmware": {},
            "power": {},
        })  # fmt: skip

    def _dir(self, key: str, tree: dict[str, object]) -> Inode:
        entries: dict[bytes, Callable[[], Inode]] = {}
        for name, value in tree.items():
            path = f"{key.rstrip('/')}/{name}"
            if callable(value):
                entries[name.encode()] = functools.partial(value, path)
            elif isinstance(value, bytes):
                entries[name.encode()] = functools.partial(
                    ProcFile, self, path, functools.partial(bytes, value)
                )
            else:
                assert isinstance(value, dict)
                entries[name.encode()] = functools.partial(self._dir, path, value)
        return ProcDir(self, key, lambda: entries, mode=0o755)

    def root(self) -> Inode:
        return self._root

    # -- class/net ----------------------------------------------------------------
    def _net_dir(self, key: str) -> Inode:
        def entries() -> dict[bytes, Callable[[], Inode]]:
            assert self._net is not None
            return {
                i.name.encode(): functools.partial(self._link_dir, f"{key}/{i.name}", i.name)
                for i in self._net.interfaces()
            }

        return ProcDir(self, key, entries, mode=0o755)

    def _link(self, name: str) -> Interface:
        assert self._net is not None
        for i in self._net.interfaces():
            if i.name == name:
                return i
        raise ENOENT

    def _link_dir(self, key: str, name: str) -> Inode:
        def attr(fmt: Callable[[Interface], str]) -> Callable[[], bytes]:
            def render() -> bytes:
                return (fmt(self._link(name)) + "\n").encode()

            return render

        files: dict[str, Callable[[], bytes]] = {
            "address": attr(lambda i: _hw(i.address)),
            "addr_len": attr(lambda i: str(len(i.address))),
            "broadcast": attr(lambda i: _hw(i.broadcast)),
            "flags": attr(lambda i: f"{i.device_flags:#x}"),
            "ifindex": attr(lambda i: str(i.index)),
            "mtu": attr(lambda i: str(i.mtu)),
            "operstate": attr(lambda i: i.operstate_name),
            "tx_queue_len": attr(lambda i: str(i.tx_queue_len)),
            "type": attr(lambda i: str(i.type)),
        }
        entries: dict[bytes, Callable[[], Inode]] = {
            n.encode(): functools.partial(ProcFile, self, f"{key}/{n}", fn)
            for n, fn in files.items()
        }
        return ProcDir(self, key, lambda: entries, mode=0o755)

    def source(self) -> str:
        return "sysfs"

    def statfs(self) -> StatFS:
        return StatFS(type=self.magic)
