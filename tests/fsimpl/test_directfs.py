"""directfs: host files reached through FDs, symlinks resolved inside the sandbox root."""

from __future__ import annotations

import errno
import os

import pytest

from sentry.abi.errors import EACCES, EEXIST, ENOENT, ENOTEMPTY, EROFS, EXDEV
from sentry.fsimpl.gofer.directfs import DirectFilesystem
from sentry.vfs import FSContext, VirtualFilesystem
from sentry.vfs.flags import O_CREAT, O_DIRECTORY, O_RDONLY, O_RDWR, O_WRONLY, RENAME_EXCHANGE
from tests.vfs.fakes import FakeCreds


def read_all(vfs, fs, path, creds) -> bytes:
    f = vfs.open_path(fs, path, O_RDONLY, 0, creds)
    f.inc_ref()
    try:
        return f.read(1 << 16)
    finally:
        f.dec_ref()


def test_reads_host_file(sandbox):
    vfs, fs, c = sandbox.kernel.vfs, sandbox.fs, sandbox.creds
    assert read_all(vfs, fs, b"/etc/hostname", c) == b"sandbox\n"


def test_absolute_symlink_resolves_inside_root(sandbox, hostdir):
    vfs, fs, c = sandbox.kernel.vfs, sandbox.fs, sandbox.creds
    # /abs-link -> /etc/hostname must name the sandbox's file, never the host's.
    assert read_all(vfs, fs, b"/abs-link", c) == b"sandbox\n"
    # ../../.. cannot climb out of the sandbox root.
    assert vfs.resolve(fs, b"/up-link", c).same(vfs.resolve(fs, b"/etc", c))
    assert read_all(vfs, fs, b"/up-link/hostname", c) == b"sandbox\n"


def test_create_write_rename_unlink_roundtrip_on_host(sandbox, hostdir):
    vfs, fs, c = sandbox.kernel.vfs, sandbox.fs, sandbox.creds
    f = vfs.open_path(fs, b"/data", O_CREAT | O_RDWR, 0o600, c)
    f.inc_ref()
    assert f.write(b"abc") == 3
    assert f.pread(10, 1) == b"bc"
    f.dec_ref()
    assert (hostdir / "data").read_bytes() == b"abc"
    assert (hostdir / "data").stat().st_mode & 0o777 == 0o600
    vfs.mkdir(fs, None, b"/d", 0o750, c)
    vfs.rename(fs, None, b"/data", None, b"/d/moved", 0, c)
    assert (hostdir / "d" / "moved").read_bytes() == b"abc"
    with pytest.raises(ENOTEMPTY):
        vfs.rmdir(fs, None, b"/d", c)
    vfs.symlink(fs, b"moved", None, b"/d/ln", c)
    assert os.readlink(hostdir / "d" / "ln") == "moved"
    vfs.link(fs, vfs.resolve(fs, b"/d/moved", c), None, b"/d/hard", c)
    assert (hostdir / "d" / "hard").stat().st_nlink == 2
    vfs.unlink(fs, None, b"/d/moved", c)
    vfs.unlink(fs, None, b"/d/ln", c)
    vfs.unlink(fs, None, b"/d/hard", c)
    vfs.rmdir(fs, None, b"/d", c)
    assert not (hostdir / "d").exists()


def test_rename_exchange_and_cross_mount(sandbox, hostdir):
    vfs, fs, c = sandbox.kernel.vfs, sandbox.fs, sandbox.creds
    (hostdir / "a").write_text("A")
    (hostdir / "b").write_text("B")
    vfs.rename(fs, None, b"/a", None, b"/b", RENAME_EXCHANGE, c)
    assert (hostdir / "a").read_text() == "B"
    with pytest.raises(EXDEV):
        vfs.rename(fs, None, b"/a", None, b"/tmp/a", 0, c)


def test_attributes(sandbox, hostdir):
    vfs, fs, c = sandbox.kernel.vfs, sandbox.fs, sandbox.creds
    vd = vfs.resolve(fs, b"/etc/hostname", c)
    vfs.chmod(vd, 0o640, c)
    assert (hostdir / "etc" / "hostname").stat().st_mode & 0o7777 == 0o640
    vfs.chown(vd, 1234, 4321, c)
    st = (hostdir / "etc" / "hostname").stat()
    assert (st.st_uid, st.st_gid) == (1234, 4321)
    vfs.utimes(vd, 5 * 10**9, 7 * 10**9, c, explicit=True)
    st = (hostdir / "etc" / "hostname").stat()
    assert (st.st_atime_ns, st.st_mtime_ns) == (5 * 10**9, 7 * 10**9)
    vfs.truncate(vd, 3, c)
    assert (hostdir / "etc" / "hostname").read_bytes() == b"san"
    assert vfs.stat(vd).size == 3


def test_created_files_belong_to_the_creator(sandbox, hostdir):
    vfs, fs = sandbox.kernel.vfs, sandbox.fs
    user = FakeCreds(uid=1000, gid=1000)
    (hostdir / "tmp").chmod(0o777)
    # /tmp is a tmpfs in the sandbox; use a host directory instead.
    (hostdir / "pub").mkdir(mode=0o777)
    (hostdir / "pub").chmod(0o777)
    vfs.mkdir(fs, None, b"/pub/u", 0o755, user)
    st = (hostdir / "pub" / "u").stat()
    assert (st.st_uid, st.st_gid) == (1000, 1000)
    with pytest.raises(EACCES):
        vfs.mkdir(fs, None, b"/etc/x", 0o755, user)


def test_readdir_lists_host_entries(sandbox):
    vfs, fs, c = sandbox.kernel.vfs, sandbox.fs, sandbox.creds
    d = vfs.open_path(fs, b"/", O_RDONLY | O_DIRECTORY, 0, c)
    names = d.getdents(1 << 16, lambda e, _: e.name + b"\n").split(b"\n")
    assert {b".", b"..", b"bin", b"etc", b"abs-link", b"up-link"} <= set(names)


def test_readonly_mount(hostdir):
    vfs = VirtualFilesystem()
    mount = vfs.new_root_mount(
        DirectFilesystem.from_path(str(hostdir), readonly=True), readonly=True
    )
    root = vfs.root_of(mount)
    fs = FSContext(root, root)
    c = FakeCreds.root()
    with pytest.raises(EROFS):
        vfs.open_path(fs, b"/etc/hostname", O_WRONLY, 0, c)
    with pytest.raises(EROFS):
        vfs.mkdir(fs, None, b"/new", 0o755, c)
    with pytest.raises(EEXIST):
        vfs.mkdir(fs, None, b"/etc", 0o755, c)
    with pytest.raises(ENOENT):
        vfs.resolve(fs, b"/nope", c)
    assert read_all(vfs, fs, b"/etc/hostname", c) == b"sandbox\n"
    # EROFS is checked before permissions, as mnt_want_write comes first in Linux.
    user = FakeCreds(uid=1000, gid=1000)
    with pytest.raises(EROFS):
        vfs.mkdir(fs, None, b"/etc/new", 0o755, user)
    with pytest.raises(EROFS):
        vfs.open_path(fs, b"/etc/hostname", O_WRONLY, 0, user)
    with pytest.raises(EROFS):
        vfs.chmod(vfs.resolve(fs, b"/etc/hostname", user), 0o600, user)
    with pytest.raises(EROFS):
        vfs.unlink(fs, None, b"/etc/hostname", user)


def test_host_errors_are_translated(sandbox):
    vfs, fs, c = sandbox.kernel.vfs, sandbox.fs, sandbox.creds
    with pytest.raises(ENOENT) as info:
        vfs.open_path(fs, b"/etc/missing", O_RDONLY, 0, c)
    assert info.value.errno == errno.ENOENT
