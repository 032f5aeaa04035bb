"""The /proc tree: system files and one directory per sandbox process.

State is read through the Task/Kernel attributes of the Sentry contracts
(``kernel.tasks``, ``task.mm``, ``task.fd_table``, ``task.fs``, ``task.creds``
...), found through the calling task (``sentry.vfs.current_task``) unless a
kernel is given. Only sandbox tasks appear; the host's /proc is never read
after construction (host CPU facts are captured once, before the boot
sequence unmounts the host /proc). /proc/net comes from the ``sentry.inet``
stack given at construction (the sandbox's network namespace).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from sentry.abi.errors import ENOENT
from sentry.arch.cpufeatures import filter_cpuinfo
from sentry.fsimpl.proc import net as procnet
from sentry.fsimpl.proc import render
from sentry.fsimpl.proc.nodes import ProcDir, ProcFile, ProcLink
from sentry.inet import Stack
from sentry.vfs.context import current_task
from sentry.vfs.inode import Filesystem, Inode, StatFS
from sentry.vfs.mount import VirtualDentry

PROC_SUPER_MAGIC = 0x9FA0


def _host_cpuinfo() -> bytes:
    try:
        with open("/proc/cpuinfo", "rb") as f:
            return f.read()
    except OSError:
        n = os.cpu_count() or 1
        return b"".join(b"processor\t: %d\nvendor_id\t: unknown\n\n" % i for i in range(n))


def _fs(t: Any) -> Any:
    """The task's FSContext; ENOENT once it is gone (an exiting task), as Linux."""
    fs = getattr(t, "fs", None)
    if fs is None:
        raise ENOENT
    return fs


def _files(t: Any) -> list[tuple[int, Any]]:
    table = getattr(t, "fd_table", None)
    return list(table) if table is not None else []


class ProcFilesystem(Filesystem):
    """One procfs instance."""

    name = "proc"
    magic = PROC_SUPER_MAGIC

    def __init__(self, kernel: Any = None, net: Stack | None = None) -> None:
        super().__init__()
        self._kernel = kernel
        self._net = net
        self._cpuinfo: bytes | None = None
        self._fixed_root: dict[bytes, Callable[[], Inode]] | None = None
        self._root = ProcDir(self, "/", self._root_entries, find=self._root_entry)

    def source(self) -> str:
        return "proc"

    def root(self) -> Inode:
        return self._root

    def statfs(self) -> StatFS:
        return StatFS(type=self.magic)

    def cpuinfo(self) -> bytes:
        """The host's /proc/cpuinfo, its flags filtered to the CPUID the
        platform presents (kvm), read once."""
        if self._cpuinfo is None:
            text = _host_cpuinfo()
            leaves = self.kernel().platform.cpuid_leaves()
            if leaves is not None:
                text = filter_cpuinfo(text, leaves)
            self._cpuinfo = text
        return self._cpuinfo

    # -- context ---------------------------------------------------------------
    def kernel(self) -> Any:
        if self._kernel is not None:
            return self._kernel
        t = current_task()
        if t is None:
            raise ENOENT
        return t.kernel

    def caller(self) -> Any:
        t = current_task()
        if t is None:
            raise ENOENT
        return t

    def task(self, tid: int) -> Any:
        t = self.kernel().tasks.get(tid)
        if t is None:
            raise ENOENT
        return t

    # -- root -------------------------------------------------------------------
    def _root_entries(self) -> dict[bytes, Callable[[], Inode]]:
        """The fixed entries (built once: every lookup under /proc, e.g.
        each exec's readlink of /proc/self/exe, asks for them) and a
        directory per thread group."""
        if self._fixed_root is None:
            self._fixed_root = self._fixed_root_entries()
        out = dict(self._fixed_root)
        for tid, t in sorted(self.kernel().tasks.items()):
            if t.tgid == tid:
                out[b"%d" % tid] = functools.partial(self.pid_dir, tid)
        return out

    def _root_entry(self, name: bytes) -> Callable[[], Inode] | None:
        """``_root_entries().get(name)`` without building the listing."""
        if self._fixed_root is None:
            self._fixed_root = self._fixed_root_entries()
        factory = self._fixed_root.get(name)
        if factory is not None or not name.isdigit() or name[:1] == b"0":
            return factory
        tid = int(name)
        t = self.kernel().tasks.get(tid)
        if t is None or t.tgid != tid:
            return None
        return functools.partial(self.pid_dir, tid)

    def _fixed_root_entries(self) -> dict[bytes, Callable[[], Inode]]:
        files: dict[str, Callable[[], bytes]] = {
            "cpuinfo": self.cpuinfo,
            "meminfo": render.meminfo,
            "uptime": lambda: render.uptime(self.kernel()),
            "version": lambda: render.version(self.kernel()),
            "filesystems": render.filesystems,
            "loadavg": lambda: render.loadavg(self.kernel()),
            "stat": lambda: render.stat(self.kernel()),
        }
        out: dict[bytes, Callable[[], Inode]] = {}
        for name, fn in files.items():
            out[name.encode()] = functools.partial(ProcFile, self, "/" + name, fn)
        out[b"self"] = functools.partial(
            ProcLink, self, "/self", lambda: b"%d" % self.caller().tgid
        )
        out[b"thread-self"] = functools.partial(
            ProcLink, self, "/thread-self",
            lambda: b"%d/task/%d" % (self.caller().tgid, self.caller().tid),
        )  # fmt: skip
        out[b"mounts"] = functools.partial(ProcLink, self, "/mounts", lambda: b"self/mounts")
        out[b"sys"] = functools.partial(ProcDir, self, "/sys", self._sys_entries)
        if self._net is not None:
            # fs/proc/proc_net.c: /proc/net is a symlink to self/net.
            out[b"net"] = functools.partial(ProcLink, self, "/net", lambda: b"self/net")
        return out

    # -- /proc/sys ----------------------------------------------------------------
    def _uts_field(self, field: str, default: str) -> bytes:
        return (str(getattr(self.kernel().uts, field, default)) + "\n").encode()

    def _sys_entries(self) -> dict[bytes, Callable[[], Inode]]:
        """A read-only /proc/sys with the kernel/ and vm/ values programs probe."""

        def uts(field: str, default: str) -> Callable[[], bytes]:
            return functools.partial(self._uts_field, field, default)

        groups = {
            "kernel": {
                "hostname": uts("hostname", "localhost"),
                "domainname": uts("domainname", "(none)"),
                "osrelease": uts("release", "4.4.0"),
                "ostype": uts("sysname", "Linux"),
                "version": uts("version", "#1 SMP"),
                "pid_max": lambda: b"4194304\n",
                "ngroups_max": lambda: b"65536\n",
                "cap_last_cap": lambda: b"40\n",
            },
            "vm": {
                "overcommit_memory": lambda: b"0\n",
                "max_map_count": lambda: b"65530\n",
                "mmap_min_addr": lambda: b"4096\n",
            },
            "fs": {
                "nr_open": lambda: b"1048576\n",
                "file-max": lambda: b"9223372036854775807\n",
                "mqueue": self._mqueue_limits(),
            },
        }
        return self._sys_dir("/sys", groups)

    def _sys_dir(self, key: str, tree: dict[str, Any]) -> dict[bytes, Callable[[], Inode]]:
        """Entries of a /proc/sys directory: files, or nested dicts as directories."""
        out: dict[bytes, Callable[[], Inode]] = {}
        for name, value in tree.items():
            path = f"{key}/{name}"
            if isinstance(value, dict):
                entries = functools.partial(self._sys_dir, path, value)
                out[name.encode()] = functools.partial(ProcDir, self, path, entries)
            else:
                out[name.encode()] = functools.partial(ProcFile, self, path, value)
        return out

    def _mqueue_limits(self) -> dict[str, Callable[[], bytes]]:
        """/proc/sys/fs/mqueue (ipc/mq_sysctl.c): the IPC namespace's limits."""

        def limit(field: str) -> bytes:
            registry = getattr(self.kernel(), "mq_registry", None)
            if registry is None:
                raise ENOENT
            return b"%d\n" % getattr(registry.limits, field)

        fields = ("queues_max", "msg_max", "msgsize_max", "msg_default", "msgsize_default")
        return {f: functools.partial(limit, f) for f in fields}

    # -- /proc/PID ----------------------------------------------------------------
    def pid_dir(self, tid: int, prefix: str = "") -> Inode:
        t = self.task(tid)
        key = f"{prefix}/{tid}"
        owner = (t.creds.euid, t.creds.egid)

        def entries() -> dict[bytes, Callable[[], Inode]]:
            t = self.task(tid)
            files: dict[str, Callable[[], bytes]] = {
                "cmdline": lambda: render.mem_range(t, "arg"),
                "environ": lambda: render.mem_range(t, "env"),
                "maps": lambda: render.maps(t),
                "status": lambda: render.status(t, self.kernel()),
                "stat": lambda: render.pid_stat(t, self.kernel(), whole=not prefix),
                "statm": lambda: render.statm(t),
                "comm": lambda: t.comm.encode()[:15] + b"\n",
                "mounts": lambda: render.mounts(self.kernel().vfs, _fs(t).root),
                "mountinfo": lambda: render.mountinfo(self.kernel().vfs, _fs(t).root),
                "limits": lambda: render.limits(t),
                "cgroup": self._cgroups,
            }
            out: dict[bytes, Callable[[], Inode]] = {
                n.encode(): functools.partial(ProcFile, self, f"{key}/{n}", fn, owner)
                for n, fn in files.items()
            }
            out[b"exe"] = functools.partial(
                ProcLink, self, f"{key}/exe", lambda: os.fsencode(t.exe), None, owner
            )
            out[b"cwd"] = functools.partial(
                ProcLink,
                self,
                f"{key}/cwd",
                lambda: self._path(_fs(t).cwd),
                lambda: _fs(t).cwd,
                owner,
            )
            out[b"root"] = functools.partial(
                ProcLink, self, f"{key}/root", lambda: self._path(_fs(t).root), lambda: _fs(t).root,
                owner,
            )  # fmt: skip
            out[b"fd"] = functools.partial(
                ProcDir, self, f"{key}/fd", lambda: self._fd_entries(tid, key, owner), owner, 0o500
            )
            out[b"fdinfo"] = functools.partial(
                ProcDir, self, f"{key}/fdinfo", lambda: self._fdinfo_entries(tid, key, owner),
                owner, 0o500,
            )  # fmt: skip
            if self._net is not None:
                out[b"net"] = functools.partial(
                    ProcDir, self, f"{key}/net", functools.partial(self._net_entries, key)
                )
            if not prefix:
                out[b"task"] = functools.partial(
                    ProcDir, self, f"{key}/task", lambda: self._task_entries(tid, key), owner
                )
            return out

        return ProcDir(self, key, entries, owner)

    # -- /proc/PID/net ------------------------------------------------------------
    def _net_entries(self, key: str) -> dict[bytes, Callable[[], Inode]]:
        """The sandbox's one network namespace, the same for every task."""
        net = self._net
        assert net is not None
        return {
            name.encode(): functools.partial(
                ProcFile, self, f"{key}/net/{name}", functools.partial(self._net_file, name)
            )
            for name in procnet.names(net)
        }

    def _net_file(self, name: str) -> bytes:
        assert self._net is not None
        return procnet.render(self._net, self.kernel(), name)

    def _cgroups(self) -> bytes:
        """/proc/PID/cgroup: the hierarchies cgroupfs mounts made visible."""
        registry = getattr(self.kernel(), "cgroups", None)
        return registry.proc_cgroup() if registry is not None else b""

    def _path(self, vd: VirtualDentry) -> bytes:
        caller = current_task()
        root = caller.fs.root if caller is not None else None
        path: bytes = self.kernel().vfs.path_of(vd, root)
        return path

    def _fdinfo_entries(
        self, tid: int, key: str, owner: tuple[int, int]
    ) -> dict[bytes, Callable[[], Inode]]:
        t = self.task(tid)
        out: dict[bytes, Callable[[], Inode]] = {}
        for fd, desc in _files(t):
            out[b"%d" % fd] = functools.partial(
                ProcFile, self, f"{key}/fdinfo/{fd}",
                functools.partial(render.fdinfo, t, fd, desc), owner, 0o400,
            )  # fmt: skip
        return out

    def _fd_entries(
        self, tid: int, key: str, owner: tuple[int, int]
    ) -> dict[bytes, Callable[[], Inode]]:
        t = self.task(tid)
        out: dict[bytes, Callable[[], Inode]] = {}
        for fd, desc in _files(t):

            def target(desc: Any = desc) -> bytes:
                if desc.vd is not None and not desc.vd.mount.anonymous:
                    return self._path(desc.vd)
                return os.fsencode(desc.path_name())

            def jump(desc: Any = desc) -> Any:
                return desc.vd

            # fs/proc/fd.c proc_fd_link modes: r-x for readers, -wx for writers.
            perm = (0o500 if desc.readable else 0) | (0o300 if desc.writable else 0) or 0o500
            out[b"%d" % fd] = functools.partial(
                ProcLink, self, f"{key}/fd/{fd}", target, jump, owner, perm
            )
        return out

    def _task_entries(self, tgid: int, key: str) -> dict[bytes, Callable[[], Inode]]:
        k = self.kernel()
        return {
            b"%d" % tid: functools.partial(self.pid_dir, tid, f"{key}/task")
            for tid, t in sorted(k.tasks.items())
            if t.tgid == tgid
        }
