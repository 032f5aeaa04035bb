"""Calling syscall handlers the way the dispatcher does (errno on LinuxError)."""

from __future__ import annotations

from typing import Any

from sentry.abi.errors import LinuxError
from sentry.fsimpl.tmpfs import TmpfsFilesystem
from sentry.syscalls.table import TABLE
from sentry.vfs import FSContext, VirtualFilesystem
from tests.vfs.fakes import FakeCreds, FakeKernel, FakeTask


def make_task(creds: FakeCreds | None = None) -> FakeTask:
    vfs = VirtualFilesystem()
    mount = vfs.new_root_mount(TmpfsFilesystem(mode=0o1777))
    root = vfs.root_of(mount)
    t = FakeTask(FakeKernel(vfs), FSContext(root, root), creds or FakeCreds.root())
    t.kernel.tasks[t.tid] = t
    return t


def sc(t: Any, name: str, *args: int) -> int:
    """Run syscall ``name``; returns the result or -errno like the dispatcher."""
    entry = next(e for e in TABLE.values() if e.name == name)
    assert entry.handler is not None, name
    regs = tuple(a & 0xFFFFFFFFFFFFFFFF for a in args) + (0,) * (6 - len(args))
    try:
        return entry.handler(t, regs)  # type: ignore[arg-type]
    except LinuxError as exc:
        return -exc.errno
