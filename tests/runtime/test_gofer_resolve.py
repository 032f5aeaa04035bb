"""Symlink resolution inside a root: hostile links never leave it."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from runtime.errors import UsageError
from runtime.gofer import mountconf
from runtime.gofer.resolve import container_path, resolve_symlinks


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "rootfs"
    (r / "etc").mkdir(parents=True)
    (r / "usr/lib").mkdir(parents=True)
    (r / "etc/passwd").write_text("root:x:0:0\n")
    return r


def rs(root: Path, path: str) -> str:
    return resolve_symlinks(str(root), path)


def test_plain_and_missing_paths(root: Path) -> None:
    assert rs(root, "/etc/passwd") == f"{root}/etc/passwd"
    assert rs(root, "/") == str(root)
    assert rs(root, "/new/dir/x") == f"{root}/new/dir/x"
    assert rs(root, "//etc/./passwd") == f"{root}/etc/passwd"


def test_dotdot_clamps_at_root(root: Path) -> None:
    assert rs(root, "/../../../etc") == f"{root}/etc"
    assert rs(root, "/usr/../../..//etc/passwd") == f"{root}/etc/passwd"
    assert rs(root, "/missing/../etc") == f"{root}/etc"


def test_relative_link_escaping_upwards(root: Path) -> None:
    os.symlink("../../etc", root / "evil")
    assert rs(root, "/evil/x") == f"{root}/etc/x"
    os.symlink("../../../../../../../..", root / "usr/lib/up")
    assert rs(root, "/usr/lib/up/etc/passwd") == f"{root}/etc/passwd"


def test_absolute_link_restarts_at_root(root: Path) -> None:
    os.symlink("/etc", root / "abs")
    assert rs(root, "/abs/y") == f"{root}/etc/y"
    os.symlink("/", root / "slash")
    assert rs(root, "/slash/slash/etc") == f"{root}/etc"


def test_link_chain_and_link_to_link(root: Path) -> None:
    os.symlink("b", root / "a")
    os.symlink("/usr/lib", root / "b")
    assert rs(root, "/a/x") == f"{root}/usr/lib/x"


def test_link_to_missing_outside_target(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    os.symlink(str(outside), root / "out")  # absolute host path that exists on the host
    outside.mkdir()
    assert rs(root, "/out/z") == f"{root}{outside}/z"


def test_root_name_prefix_is_not_inside(tmp_path: Path) -> None:
    """A sibling named like the root ("rootfs2") is not inside "rootfs"."""
    r = tmp_path / "rootfs"
    r.mkdir()
    (tmp_path / "rootfs2").mkdir()
    os.symlink("../rootfs2", r / "sib")
    assert resolve_symlinks(str(r), "/sib") == f"{r}/rootfs2"


def test_symlink_loop_is_eloop(root: Path) -> None:
    os.symlink("loop", root / "loop")
    with pytest.raises(OSError) as info:
        rs(root, "/loop/x")
    assert info.value.errno == errno.ELOOP


def test_exponential_links_hit_the_budget_fast(root: Path) -> None:
    # l0 -> etc; lN -> l(N-1)/../l(N-1): resolving l30 naively follows 2**30 links.
    os.symlink("etc", root / "l0")
    for n in range(1, 31):
        os.symlink(f"l{n - 1}/../l{n - 1}", root / f"l{n}")
    with pytest.raises(OSError) as info:
        rs(root, "/l30")
    assert info.value.errno == errno.ELOOP
    assert rs(root, "/l3") == f"{root}/etc"


def test_component_through_a_file(root: Path) -> None:
    with pytest.raises(OSError) as info:
        rs(root, "/etc/passwd/x")
    assert info.value.errno == errno.ENOTDIR


def test_container_path() -> None:
    assert container_path("/r", "/r") == "/"
    assert container_path("/r", "/r/.hidden/x") == "/.hidden/x"


def test_mount_confs_round_trip_and_errors() -> None:
    confs = mountconf.parse("lisafs:none,lisafs:memory,none")
    assert [c.served for c in confs] == [True, True, False]
    assert [c.overlaid for c in confs] == [False, True, False]
    assert mountconf.encode(confs) == "lisafs:none,lisafs:memory,none:none"
    for bad in ("erofs:none", "lisafs:disk", ""):
        with pytest.raises(UsageError, match="invalid gofer mount conf"):
            mountconf.parse(bad)
