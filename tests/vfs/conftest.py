"""Fixtures: a VFS over tmpfs and credentials for root and an ordinary user."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sentry.fsimpl.tmpfs import TmpfsFilesystem
from sentry.vfs import FSContext, VirtualFilesystem
from sentry.vfs.context import set_current_task
from tests.vfs.fakes import FakeCreds


@pytest.fixture(autouse=True)
def _no_current_task_left() -> Iterator[None]:
    """The syscall handlers these tests call record their fake task as the
    thread's current task (``sentry.vfs.context``); later tests in the same
    thread must not find it."""
    yield
    set_current_task(None)


@pytest.fixture
def vfs() -> VirtualFilesystem:
    return VirtualFilesystem()


@pytest.fixture
def root_creds() -> FakeCreds:
    return FakeCreds.root()


@pytest.fixture
def user_creds() -> FakeCreds:
    return FakeCreds(uid=1000, gid=1000, groups=(1000, 50))


@pytest.fixture
def fs(vfs: VirtualFilesystem) -> FSContext:
    mount = vfs.new_root_mount(TmpfsFilesystem(mode=0o755))
    root = vfs.root_of(mount)
    return FSContext(root, root, umask=0o022)
