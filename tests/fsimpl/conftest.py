"""Fixtures: a sandbox VFS over a temporary host directory (directfs)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sentry.fsimpl import setup_root
from sentry.vfs import FSContext, VirtualFilesystem, set_current_task
from tests.vfs.fakes import FakeCreds, FakeKernel, FakeTask


@pytest.fixture
def hostdir(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    for d in ("bin", "etc", "dev", "proc", "sys", "tmp"):
        (root / d).mkdir(parents=True)
    (root / "etc" / "hostname").write_text("sandbox\n")
    (root / "bin" / "tool").write_bytes(b"\x7fELF fake")
    (root / "bin" / "tool").chmod(0o755)
    # A symlink pointing outside: the Sentry must resolve it inside the root.
    os.symlink("/etc/hostname", root / "abs-link")
    os.symlink("../../../../../../../../etc", root / "up-link")
    return root


@pytest.fixture
def sandbox(hostdir: Path) -> FakeTask:
    vfs = VirtualFilesystem()
    root = setup_root(vfs, str(hostdir))
    t = FakeTask(FakeKernel(vfs), FSContext(root, root), FakeCreds.root())
    t.kernel.tasks[t.tid] = t
    set_current_task(t)
    return t
