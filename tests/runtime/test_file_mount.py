"""Single-file mounts in the Sentry's VFS (a file on a file, as CRI's /etc/hosts)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sentry.abi.errors import ENOTDIR, EROFS, LinuxError
from sentry.fsimpl.gofer.directfs import DirectFilesystem
from sentry.vfs import FSContext, VirtualFilesystem


class _Root:
    fsuid = 0
    fsgid = 0
    groups: tuple[int, ...] = ()

    def has_capability(self, cap: int) -> bool:
        return True


def _tree(tmp_path: Path) -> tuple[VirtualFilesystem, FSContext]:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hosts").write_text("image\n")
    vfs = VirtualFilesystem()
    mount = vfs.new_root_mount(DirectFilesystem.from_path(str(root)))
    top = vfs.root_of(mount)
    return vfs, FSContext(top, top)


def _file_fs(path: Path, mode: int) -> DirectFilesystem:
    return DirectFilesystem(os.open(path, mode | os.O_CLOEXEC), source=str(path))


def test_file_on_file_reads_and_writes_the_host_file(tmp_path: Path) -> None:
    vfs, ctx = _tree(tmp_path)
    host = tmp_path / "hosts"
    host.write_text("host\n")
    target = vfs.resolve(ctx, b"/etc/hosts", _Root())
    vfs.mount(target, _file_fs(host, os.O_RDWR))
    inode = vfs.resolve(ctx, b"/etc/hosts", _Root()).inode
    impl = inode.open(os.O_RDWR, _Root())
    assert impl.read(0, 100) == b"host\n"
    assert impl.write(5, b"more\n") == 5
    impl.release()
    assert host.read_text() == "host\nmore\n"
    # The image's own file is untouched underneath.
    assert (tmp_path / "root" / "etc" / "hosts").read_text() == "image\n"


def test_read_only_donated_file_refuses_writes(tmp_path: Path) -> None:
    host = tmp_path / "hosts"
    host.write_text("host\n")
    fs = _file_fs(host, os.O_RDONLY)
    with pytest.raises(EROFS):
        fs.root().open(os.O_WRONLY, _Root())
    assert fs.root().open(os.O_RDONLY, _Root()).read(0, 10) == b"host\n"


def test_file_on_directory_and_directory_on_file_are_enotdir(tmp_path: Path) -> None:
    vfs, ctx = _tree(tmp_path)
    host = tmp_path / "hosts"
    host.write_text("host\n")
    with pytest.raises(ENOTDIR):
        vfs.mount(vfs.resolve(ctx, b"/etc", _Root()), _file_fs(host, os.O_RDONLY))
    other = tmp_path / "dir"
    other.mkdir()
    with pytest.raises(LinuxError) as err:
        vfs.mount(vfs.resolve(ctx, b"/etc/hosts", _Root()), DirectFilesystem.from_path(str(other)))
    assert isinstance(err.value, ENOTDIR)
