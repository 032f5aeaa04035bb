"""Random sequences of namespace operations on tmpfs through the VFS, compared
with the host kernel doing the same inside a chroot of an empty directory.

The chroot makes absolute symlinks and ".." at the top behave as at the
sandbox's root. Outcomes are errnos or normalized attributes (type, mode,
size of files and links, link counts of non-directories). Needs root (chroot).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentry.abi.errors import LinuxError
from sentry.fsimpl.gofer.directfs import DirectFilesystem
from sentry.fsimpl.tmpfs import TmpfsFilesystem
from sentry.vfs import FSContext, VirtualFilesystem
from sentry.vfs.flags import O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_RDONLY, O_TRUNC, O_WRONLY
from sentry.vfs.stat import S_IFDIR, S_IFLNK, S_IFMT, S_IFREG
from tests.vfs.fakes import FakeCreds

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the native side chroots: needs root")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAMES = ["a", "b", "c", "l"]
COMPONENTS = [*NAMES, ".", ".."]


@st.composite
def paths(draw: Any) -> str:
    comps = draw(st.lists(st.sampled_from(COMPONENTS), min_size=1, max_size=3))
    lead = draw(st.sampled_from(["", "/"]))
    trail = draw(st.sampled_from(["", "", "", "/"]))
    return lead + "/".join(comps) + trail


FLAGS = st.sampled_from([
    O_CREAT | O_WRONLY, O_CREAT | O_EXCL | O_WRONLY, O_RDONLY, O_RDONLY | O_DIRECTORY,
    O_WRONLY | O_TRUNC, O_RDONLY | O_NOFOLLOW, O_CREAT | O_WRONLY | O_NOFOLLOW,
])  # fmt: skip

WHO = st.sampled_from(["root", "root", "user"])
OPS = st.one_of(
    st.tuples(WHO, st.just("mkdir"), paths()),
    st.tuples(WHO, st.just("open"), paths(), FLAGS, st.sampled_from(["", "xy"])),
    st.tuples(WHO, st.just("symlink"), paths(), paths()),
    st.tuples(WHO, st.just("unlink"), paths()),
    st.tuples(WHO, st.just("rmdir"), paths()),
    st.tuples(WHO, st.just("rename"), paths(), paths()),
    st.tuples(WHO, st.just("link"), paths(), paths()),
    st.tuples(
        WHO, st.just("chmod"), paths(), st.sampled_from([0o777, 0o1777, 0o700, 0o555, 0o644])
    ),
    st.tuples(WHO, st.just("stat"), paths()),
    st.tuples(WHO, st.just("lstat"), paths()),
    st.tuples(WHO, st.just("readlink"), paths()),
    st.tuples(WHO, st.just("listdir"), paths()),
)


def _stat_outcome(s: Any) -> list[Any]:
    kind = s.mode & S_IFMT
    size = s.size if kind in (S_IFREG, S_IFLNK) else 0
    nlink = s.nlink if kind != S_IFDIR else 0
    return ["stat", kind, s.mode & 0o7777, size, nlink, s.uid, s.gid]


def sandbox_run(ops: list[list[Any]], backend: str = "tmpfs") -> list[list[Any]]:
    if backend == "directfs":
        with tempfile.TemporaryDirectory(dir="/var/tmp") as d:
            os.chmod(d, 0o755)
            return _sandbox_run(ops, DirectFilesystem.from_path(d))
    return _sandbox_run(ops, TmpfsFilesystem(mode=0o755))


def _sandbox_run(ops: list[list[Any]], filesystem: Any) -> list[list[Any]]:
    vfs = VirtualFilesystem()
    root = vfs.root_of(vfs.new_root_mount(filesystem))
    fs = FSContext(root, root, umask=0o022)
    root_creds, user_creds = FakeCreds.root(), FakeCreds(uid=1000, gid=1000)
    out = []
    for op in ops:
        c = user_creds if op[0] == "user" else root_creds
        name = op[1]
        args: list[Any] = [a.encode() if isinstance(a, str) else a for a in op[2:]]
        try:
            if name == "mkdir":
                vfs.mkdir(fs, None, args[0], 0o755, c)
            elif name == "open":
                f = vfs.open_path(fs, args[0], args[1], 0o644, c)
                f.inc_ref()
                if args[2]:
                    f.write(args[2])
                f.dec_ref()
            elif name == "symlink":
                vfs.symlink(fs, args[0], None, args[1], c)
            elif name == "unlink":
                vfs.unlink(fs, None, args[0], c)
            elif name == "rmdir":
                vfs.rmdir(fs, None, args[0], c)
            elif name == "rename":
                vfs.rename(fs, None, args[0], None, args[1], 0, c)
            elif name == "link":
                vfs.link(fs, vfs.resolve(fs, args[0], c, follow=False), None, args[1], c)
            elif name in ("stat", "lstat"):
                out.append(
                    _stat_outcome(vfs.resolve(fs, args[0], c, follow=name == "stat").inode.stat())
                )
                continue
            elif name == "readlink":
                out.append(
                    ["link", vfs.readlink(vfs.resolve(fs, args[0], c, follow=False)).decode()]
                )
                continue
            elif name == "chmod":
                vfs.chmod(vfs.resolve(fs, args[0], c), args[1], c)
            elif name == "listdir":
                d = vfs.open_path(fs, args[0], O_RDONLY | O_DIRECTORY, 0, c)
                names = d.getdents(1 << 16, lambda e, _: e.name + b"\0").split(b"\0")
                out.append(
                    ["dir", sorted(n.decode() for n in names if n not in (b"", b".", b".."))]
                )
                continue
            out.append(["ok"])
        except LinuxError as exc:
            out.append(["err", exc.errno])
    return out


def native_run(ops: list[list[Any]]) -> list[list[Any]]:
    with tempfile.TemporaryDirectory(dir="/var/tmp") as d:
        os.chmod(d, 0o755)
        proc = subprocess.run(
            [sys.executable, "-m", "tests.vfs._native_ops", d],
            input=json.dumps(ops).encode(),
            capture_output=True,
            check=True,
            cwd=REPO,
        )
        result: list[list[Any]] = json.loads(proc.stdout)
        return result


@pytest.mark.parametrize("backend", ["tmpfs", "directfs"])
@settings(
    max_examples=int(os.environ.get("VFS_DIFF_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(ops=st.lists(OPS, min_size=1, max_size=14))
def test_matches_linux(backend: str, ops: list[tuple[Any, ...]]) -> None:
    ops_json = [list(op) for op in ops]
    native = native_run(ops_json)
    ours = sandbox_run(ops_json, backend)
    for op, n, o in zip(ops_json, native, ours, strict=True):
        assert o == n, f"{op}: Linux {n}, Sentry {o}\nsequence: {ops_json}"
