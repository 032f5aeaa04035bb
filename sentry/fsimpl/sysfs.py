"""A minimal sysfs (gVisor fsimpl/sys): the CPU topology files libc reads
(glibc get_nprocs reads /sys/devices/system/cpu/online) and empty
directories for the usual top-level names. Read-only; built on procfs's
synthetic nodes."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

from sentry.fsimpl.proc.nodes import ProcDir, ProcFile
from sentry.vfs.inode import Filesystem, Inode, StatFS

SYSFS_MAGIC = 0x62656572


def _cpu_range() -> bytes:
    n = len(os.sched_getaffinity(0)) or 1
    return b"0\n" if n == 1 else b"0-%d\n" % (n - 1)


class SysFilesystem(Filesystem):
    """/sys with devices/system/cpu/{online,possible,present,kernel_max}."""

    name = "sysfs"
    magic = SYSFS_MAGIC

    def __init__(self) -> None:
        super().__init__()
        self._cpus = _cpu_range()
        self._root = self._dir("/", {
            "devices": {"system": {"cpu": {
                "online": self._cpus, "possible": self._cpus, "present": self._cpus,
                "kernel_max": b"8191\n",
            }}},
            "fs": {"cgroup": {}},
            "kernel": {"mm": {}},
            "class": {},
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
            if isinstance(value, bytes):
                entries[name.encode()] = functools.partial(
                    ProcFile, self, path, functools.partial(bytes, value)
                )
            else:
                assert isinstance(value, dict)
                entries[name.encode()] = functools.partial(self._dir, path, value)
        return ProcDir(self, key, lambda: entries, mode=0o755)

    def root(self) -> Inode:
        return self._root

    def source(self) -> str:
        return "sysfs"

    def statfs(self) -> StatFS:
        return StatFS(type=self.magic)
