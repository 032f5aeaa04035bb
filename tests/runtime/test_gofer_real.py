"""The gofer for real, as root: mount namespace, bind mounts with hostile
symlinks, resolved mounts over the mounts FD, six capabilities, FD donation.

Gated on a probe: root and a working unshare(CLONE_NEWNS). Every test kills
and reaps its gofer in ``finally``; the gofer's mounts live only in its own
mount namespace, so nothing is left on the host.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runtime import capabilities, spawn
from runtime import spec as ocispec
from runtime.config import RuntimeConfig
from runtime.errors import RuntimeFailure
from runtime.gofer import directfs, launch, mounts
from tests.runtime.conftest import minimal_config


def _probe() -> str | None:
    if os.geteuid() != 0:
        return "needs root (mount namespaces and bind mounts)"
    code = "from runtime import hostsys; hostsys.unshare(hostsys.CLONE_NEWNS)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return f"unshare(CLONE_NEWNS) fails here: {r.stderr.strip().splitlines()[-1:]}"
    return None


_REASON = _probe()
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(_REASON is not None, reason=_REASON or ""),
]


def _mountinfo() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split(" ", 4)[4] for line in f]  # drop the ids, keep paths/options


def _status_field(pid: int, name: str) -> str:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split()[1]
    raise AssertionError(name)


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    bundle = tmp_path / "bundle"
    rootfs = bundle / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "bin").mkdir()
    (rootfs / "bin" / "app").write_text("app")
    src = tmp_path / "src"
    src.mkdir()
    (src / "marker").write_text("hello")
    outside = tmp_path / "outside"
    outside.mkdir()
    # Hostile image: relative links climbing out, absolute links to host paths.
    os.symlink("../../etc", rootfs / "evil")
    os.symlink("/etc", rootfs / "abs")
    os.symlink(str(outside), rootfs / "out")
    return {"bundle": bundle, "rootfs": rootfs, "src": src, "outside": outside}


def _spec(world: dict[str, Path], mounts_: list[dict[str, Any]], **over: Any) -> ocispec.Spec:
    cfg = minimal_config()
    cfg["mounts"] += mounts_
    cfg["process"]["cwd"] = over.get("cwd", "/")
    cfg["root"]["readonly"] = over.get("readonly", True)
    (world["bundle"] / "config.json").write_text(json.dumps(cfg))
    return ocispec.load(str(world["bundle"]))


def _spawn(spec: ocispec.Spec, tmp_path: Path) -> launch.Gofer:
    err = open(tmp_path / "gofer.err", "wb")  # noqa: SIM115 - closed with the gofer
    try:
        return launch.spawn(RuntimeConfig(root=str(tmp_path / "state")), spec, stderr=err)
    finally:
        err.close()


def _finish(g: launch.Gofer) -> int:
    """Close our sockets: the gofer must then exit on its own."""
    for s in g.sockets:
        s.close()
    g.sockets = []
    return g.process.wait(timeout=30)


def test_gofer_builds_root_and_donates_fds(world: dict[str, Path], tmp_path: Path) -> None:
    spec = _spec(
        world,
        [
            {
                "destination": "/evil/ro",
                "type": "bind",
                "source": str(world["src"]),
                "options": ["rbind", "ro"],
            },
            {
                "destination": "/abs/rw",
                "type": "bind",
                "source": str(world["src"]),
                "options": ["rbind", "rw"],
            },
            {
                "destination": "/out/z",
                "type": "bind",
                "source": str(world["src"]),
                "options": ["bind"],
            },
        ],
        cwd="/work/here",
    )
    before = _mountinfo()
    g = _spawn(spec, tmp_path)
    fds: list[int] = []
    try:
        resolved = mounts.read_all(g.mounts_fd)
        g.mounts_fd = -1
        binds = [m for m in resolved if m["type"] == "bind"]
        # Every destination was resolved inside the root.
        assert [m["destination"] for m in binds] == [
            "/etc/ro",
            "/etc/rw",
            f"{world['outside']}/z",
        ]
        assert binds[0]["options"] == ["rbind", "ro"]
        # Non-bind mounts pass through untouched.
        assert [m["destination"] for m in resolved if m["type"] != "bind"] == [
            m.destination for m in spec.mounts if not m.is_bind
        ]

        # The gofer: own mount namespace, six capabilities.
        pid = g.process.pid
        assert os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
        want = capabilities.mask(capabilities.GOFER_CAPS)
        for field in ("CapEff", "CapPrm", "CapBnd"):
            assert int(_status_field(pid, field), 16) == want, field
        assert int(_status_field(pid, "CapAmb"), 16) == 0
        assert _status_field(pid, "Seccomp") == "2"  # SECCOMP_MODE_FILTER
        assert _status_field(pid, "NoNewPrivs") == "1"
        assert os.readlink(f"/proc/{pid}/root") == "/root"  # chroot'd inside the scaffold

        replies = []
        for s in g.sockets:
            fd, info = directfs.request_root(s)
            fds.append(fd)
            replies.append(info)
        assert replies == [
            {"path": "/", "readonly": True},
            {"path": "/etc/ro", "readonly": True},
            {"path": "/etc/rw", "readonly": False},
            {"path": f"{world['outside']}/z", "readonly": False},
        ]
        root_fd, ro_fd, rw_fd, z_fd = fds
        # The root FD sees the container's files, and the mounts inside it.
        assert os.stat("bin/app", dir_fd=root_fd).st_size == 3
        with open(os.open("etc/ro/marker", os.O_RDONLY, dir_fd=root_fd)) as f:
            assert f.read() == "hello"
        # Read-only is enforced by the host kernel, on the root and on ro mounts.
        for dfd, name in ((root_fd, "new"), (ro_fd, "new")):
            with pytest.raises(OSError) as raised:
                os.open(name, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=dfd)
            assert raised.value.errno == errno.EROFS
        os.close(os.open("written", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=rw_fd))
        assert (world["src"] / "written").exists()
        assert os.stat("marker", dir_fd=z_fd).st_size == 5
        # The cwd was created inside the root.
        assert (world["rootfs"] / "work" / "here").is_dir()

        # Nothing escaped: no host /etc entries, the outside dir stays empty,
        # and our own mount table did not change.
        assert not os.path.exists("/etc/ro") and not os.path.exists("/etc/rw")
        assert list(world["outside"].iterdir()) == []
        assert _mountinfo() == before
        bad = directfs.Connection(g.sockets[0], "/", True)
        bad.sock.send(b"garbage")
        assert json.loads(bad.sock.recv(4096))["error"].startswith("unknown request")
    finally:
        for fd in fds:
            os.close(fd)
        rc = _finish(g)
        g.close()
    assert rc == 0, (tmp_path / "gofer.err").read_text()
    assert _mountinfo() == before


def test_gofer_without_readonly_root_serves_it_writable(world, tmp_path: Path) -> None:
    spec = _spec(world, [], readonly=False)
    g = _spawn(spec, tmp_path)
    try:
        mounts.read_all(g.mounts_fd)
        g.mounts_fd = -1
        fd, info = directfs.request_root(g.sockets[0])
        try:
            assert info == {"path": "/", "readonly": False}
            os.mkdir("made-by-test", dir_fd=fd)
            assert (world["rootfs"] / "made-by-test").is_dir()
        finally:
            os.close(fd)
    finally:
        rc = _finish(g)
        g.close()
    assert rc == 0, (tmp_path / "gofer.err").read_text()


def test_gofer_bad_mount_source_fails_clearly(world, tmp_path: Path) -> None:
    spec = _spec(
        world,
        [
            {
                "destination": "/data",
                "type": "bind",
                "source": str(tmp_path / "missing"),
                "options": ["rbind"],
            }
        ],
    )
    g = _spawn(spec, tmp_path)
    try:
        with pytest.raises(RuntimeFailure, match="exited before sending its resolved mounts"):
            mounts.read_all(g.mounts_fd)
        g.mounts_fd = -1
        assert g.process.wait(timeout=30) == 1
    finally:
        g.close()
    err = (tmp_path / "gofer.err").read_text().strip().splitlines()
    assert len(err) == 1
    assert f"mounting {tmp_path / 'missing'} on /data" in err[0]


def test_gofer_rejects_fd_count_mismatch(world, tmp_path: Path) -> None:
    """Seed: extra FDs are fatal ("too many FDs passed for mounts")."""
    spec = _spec(world, [])
    spec_fd = os.open(world["bundle"] / "config.json", os.O_RDONLY)
    import socket

    s1, s2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    a, b = s1.detach(), s2.detach()
    try:
        r = subprocess.run(
            [
                *spawn.self_command(),
                "--root",
                str(tmp_path),
                "gofer",
                f"--bundle={spec.bundle}",
                f"--spec-fd={spec_fd}",
                f"--io-fds={a},{b}",
                "--setup-root=false",
                "--apply-caps=false",
            ],
            pass_fds=(spec_fd, a, b),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        for fd in (spec_fd, a, b):
            os.close(fd)
    assert r.returncode == 1
    assert "too many FDs passed for mounts. mounts: 1, FDs: 2" in r.stderr
    assert len(r.stderr.splitlines()) == 1


def test_gofer_requires_its_flags(tmp_path: Path) -> None:
    r = subprocess.run(
        [*spawn.self_command(), "--root", str(tmp_path), "gofer", "--bundle=/x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert "--bundle, --io-fds and --spec-fd are required" in r.stderr


def test_gofer_rejects_non_socket_io_fd(world, tmp_path: Path) -> None:
    _spec(world, [])
    spec_fd = os.open(world["bundle"] / "config.json", os.O_RDONLY)
    a, b = os.pipe()
    try:
        r = subprocess.run(
            [
                *spawn.self_command(),
                "--root",
                str(tmp_path),
                "gofer",
                f"--bundle={world['bundle']}",
                f"--spec-fd={spec_fd}",
                f"--io-fds={a}",
                "--setup-root=false",
                "--apply-caps=false",
            ],
            pass_fds=(spec_fd, a),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        for fd in (spec_fd, a, b):
            os.close(fd)
    assert r.returncode == 1
    assert f"--io-fds: FD {a} (for the root) is not a socket" in r.stderr
    assert len(r.stderr.splitlines()) == 1


def test_gofer_binds_a_single_file_through_a_hostile_link(world, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 sandbox\n")
    os.symlink("/etc/hosts", world["rootfs"] / "hostslink")
    spec = _spec(
        world,
        [
            {
                "destination": "/hostslink",
                "type": "bind",
                "source": str(hosts),
                "options": ["bind", "ro"],
            }
        ],
    )
    g = _spawn(spec, tmp_path)
    try:
        resolved = mounts.read_all(g.mounts_fd)
        g.mounts_fd = -1
        assert [m["destination"] for m in resolved if m["type"] == "bind"] == ["/etc/hosts"]
        fd, info = directfs.request_root(g.sockets[1])
        try:
            assert info == {"path": "/etc/hosts", "readonly": True}
            with open(f"/proc/self/fd/{fd}") as f:
                assert f.read() == "127.0.0.1 sandbox\n"
        finally:
            os.close(fd)
        # The mount point file was created inside the image, not on the host.
        assert (world["rootfs"] / "etc" / "hosts").is_file()
    finally:
        rc = _finish(g)
        g.close()
    assert rc == 0, (tmp_path / "gofer.err").read_text()
