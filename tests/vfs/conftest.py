"""Fixtures: a VFS over tmpfs and credentials for root and an ordinary user."""

from __future__ import annotations

import pytest

from sentry.fsimpl.tmpfs import TmpfsFilesystem
from sentry.vfs import FSContext, VirtualFilesystem
from tests.vfs.fakes import FakeCreds


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
