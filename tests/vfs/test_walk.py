"""Path resolution: symlinks, '..', trailing slashes, limits, mounts."""

from __future__ import annotations

import pytest

from sentry.abi.errors import EACCES, ELOOP, ENAMETOOLONG, ENOENT, ENOTDIR
from sentry.fsimpl.tmpfs import TmpfsFilesystem
from sentry.vfs import FSContext
from sentry.vfs.flags import O_CREAT, O_RDONLY, O_WRONLY


def mkfile(vfs, fs, creds, path: bytes, data: bytes = b"") -> None:
    f = vfs.open_path(fs, path, O_CREAT | O_WRONLY, 0o644, creds)
    f.inc_ref()
    f.write(data)
    f.dec_ref()


def test_absolute_relative_and_dot(vfs, fs, root_creds):
    vfs.mkdir(fs, None, b"/a", 0o755, root_creds)
    vfs.mkdir(fs, None, b"a/b", 0o755, root_creds)
    mkfile(vfs, fs, root_creds, b"/a/b/f", b"hi")
    vd = vfs.resolve(fs, b"/a/./b/../b//f", root_creds)
    assert vd.inode.stat().size == 2
    assert vfs.path_of(vd, fs.root) == b"/a/b/f"


def test_dotdot_does_not_escape_root(vfs, fs, root_creds):
    vfs.mkdir(fs, None, b"/a", 0o755, root_creds)
    vd = vfs.resolve(fs, b"/../../a/../..", root_creds)
    assert vd.same(fs.root)
    # A chrooted context stops at its own root.
    sub = vfs.resolve(fs, b"/a", root_creds)
    jailed = FSContext(sub, sub)
    assert vfs.resolve(jailed, b"../../..", root_creds).same(sub)
    with pytest.raises(ENOENT):
        vfs.resolve(jailed, b"/a", root_creds)


def test_symlinks_absolute_relative_and_final(vfs, fs, root_creds):
    vfs.mkdir(fs, None, b"/d", 0o755, root_creds)
    mkfile(vfs, fs, root_creds, b"/d/target", b"xyz")
    vfs.symlink(fs, b"target", None, b"/d/rel", root_creds)
    vfs.symlink(fs, b"/d", None, b"/abs", root_creds)
    assert vfs.resolve(fs, b"/abs/rel", root_creds).inode.stat().size == 3
    lnk = vfs.resolve(fs, b"/abs/rel", root_creds, follow=False)
    assert lnk.inode.is_symlink()
    assert vfs.readlink(lnk) == b"target"


def test_eloop_after_40_links(vfs, fs, root_creds):
    mkfile(vfs, fs, root_creds, b"/f")
    prev = b"f"
    for i in range(40):
        vfs.symlink(fs, prev, None, b"/l%d" % i, root_creds)
        prev = b"l%d" % i
    assert vfs.resolve(fs, b"/l39", root_creds).inode.stat().is_regular()
    vfs.symlink(fs, b"l39", None, b"/l40", root_creds)
    with pytest.raises(ELOOP):
        vfs.resolve(fs, b"/l40", root_creds)
    vfs.symlink(fs, b"self", None, b"/self", root_creds)
    with pytest.raises(ELOOP):
        vfs.resolve(fs, b"/self/x", root_creds)


def test_trailing_slash_and_enotdir(vfs, fs, root_creds):
    mkfile(vfs, fs, root_creds, b"/f")
    with pytest.raises(ENOTDIR):
        vfs.resolve(fs, b"/f/", root_creds)
    with pytest.raises(ENOTDIR):
        vfs.resolve(fs, b"/f/x", root_creds)
    with pytest.raises(ENOENT):
        vfs.resolve(fs, b"/missing/x", root_creds)
    with pytest.raises(ENOENT):
        vfs.resolve(fs, b"", root_creds)


def test_name_and_path_limits(vfs, fs, root_creds):
    with pytest.raises(ENAMETOOLONG):
        vfs.resolve(fs, b"/" + b"a" * 256, root_creds)
    with pytest.raises(ENOENT):
        vfs.resolve(fs, b"/" + b"a" * 255, root_creds)
    with pytest.raises(ENAMETOOLONG):
        vfs.resolve(fs, b"/a" * 2048, root_creds)


def test_search_permission(vfs, fs, root_creds, user_creds):
    vfs.mkdir(fs, None, b"/priv", 0o700, root_creds)
    mkfile(vfs, fs, root_creds, b"/priv/f")
    assert vfs.resolve(fs, b"/priv/f", root_creds)
    with pytest.raises(EACCES):
        vfs.resolve(fs, b"/priv/f", user_creds)
    with pytest.raises(EACCES):
        vfs.open_path(fs, b"/priv/f", O_RDONLY, 0, user_creds)


def test_mount_crossing_both_ways(vfs, fs, root_creds):
    vfs.mkdir(fs, None, b"/mnt", 0o755, root_creds)
    vfs.mount(vfs.resolve(fs, b"/mnt", root_creds), TmpfsFilesystem())
    mkfile(vfs, fs, root_creds, b"/mnt/inner")
    assert vfs.resolve(fs, b"/mnt/inner", root_creds).mount is not fs.root.mount
    with pytest.raises(ENOENT):
        vfs.resolve(fs, b"/inner", root_creds)
    back = vfs.resolve(fs, b"/mnt/..", root_creds)
    assert back.same(fs.root)
    assert vfs.path_of(vfs.resolve(fs, b"/mnt/inner", root_creds), fs.root) == b"/mnt/inner"


def test_open_exec_needs_only_x(vfs, fs, root_creds, user_creds):
    from sentry.abi.errors import EACCES

    mkfile(vfs, fs, root_creds, b"/prog", b"\x7fELF")
    vfs.chmod(vfs.resolve(fs, b"/prog", root_creds), 0o711, root_creds)
    with pytest.raises(EACCES):
        vfs.open_path(fs, b"/prog", O_RDONLY, 0, user_creds)
    f = vfs.open_exec(fs, b"/prog", user_creds)
    assert f.mappable().read_at(0, 4) == b"\x7fELF"
    assert f.mappable().map_name() == "/prog"
    vfs.chmod(vfs.resolve(fs, b"/prog", root_creds), 0o644, root_creds)
    with pytest.raises(EACCES):
        vfs.open_exec(fs, b"/prog", root_creds)  # no x bit: not even root
    with pytest.raises(EACCES):
        vfs.open_exec(fs, b"/", root_creds)
