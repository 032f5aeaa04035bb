"""runtime/boot pieces on their own: the seccomp allow-list (in a child
process), the open-FD check, rlimits/env from the spec, flag validation."""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runtime import spec as ocispec
from runtime.boot import syscall_filter
from runtime.boot.loader import environment, rlimits_for
from runtime.config import RuntimeConfig
from runtime.errors import RuntimeFailure, UsageError
from sentry.kernel import RLimits
from sentry.kernel.rlimits import RLIM_INFINITY, RLIMIT_NOFILE, RLIMIT_STACK


def _in_child(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` after installing the boot filter in a fresh interpreter."""
    prelude = textwrap.dedent(
        """
        import errno, os, socket, sys
        from runtime.boot import syscall_filter
        stub_fd = os.open("/dev/null", os.O_RDONLY)
        syscall_filter.install(stub_fd)
        """
    )
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
    )


needs_x86 = pytest.mark.skipif(
    platform.machine() != "x86_64", reason="the boot filter is defined for x86_64 only"
)


@needs_x86
def test_filter_allows_what_python_and_threads_need() -> None:
    r = _in_child(
        """
        import threading
        out = []
        t = threading.Thread(target=lambda: out.append(os.getpid()))
        t.start(); t.join()
        a, b = socket.socketpair()
        a.send(b"x")
        assert b.recv(1) == b"x"
        with open("/dev/null", "rb") as f:
            f.read()
        print("ok", out[0] == os.getpid())
        """
    )
    assert (r.returncode, r.stdout) == (0, "ok True\n"), r.stderr


@needs_x86
def test_filter_allows_hostinet_and_route_netlink_sockets_only() -> None:
    r = _in_child(
        """
        for family, type_, proto in ((socket.AF_INET, socket.SOCK_STREAM, 0),
                                     (socket.AF_INET6, socket.SOCK_DGRAM, 0),
                                     (socket.AF_NETLINK, socket.SOCK_RAW, 0)):
            s = socket.socket(family, type_, proto)
            if family != socket.AF_NETLINK:
                s.bind(("127.0.0.1", 0) if family == socket.AF_INET else ("::1", 0))
            s.close()
        print("allowed")
        for family, type_, proto in ((socket.AF_NETLINK, socket.SOCK_RAW, 9),
                                     (socket.AF_PACKET, socket.SOCK_DGRAM, 0)):
            try:
                socket.socket(family, type_, proto)
            except PermissionError:
                print("denied")
        """
    )
    assert (r.returncode, r.stdout) == (0, "allowed\ndenied\ndenied\n"), r.stderr


@needs_x86
def test_filter_denies_unlisted_calls_with_eperm() -> None:
    # chdir(2) is not in the allow-list: the sandbox never changes directory.
    r = _in_child(
        """
        try:
            os.chdir("/")
        except PermissionError:
            print("denied")
        """
    )
    assert (r.returncode, r.stdout) == (0, "denied\n"), r.stderr


@needs_x86
@pytest.mark.parametrize(
    "call",
    [
        "os.unshare(0) if hasattr(os, 'unshare') else __import__('ctypes').CDLL(None).unshare(0)",
        "os.execv('/bin/true', ['true'])",
        "os.chroot('/')",
    ],
)
def test_filter_kills_escape_attempts(call: str) -> None:
    r = _in_child(call + "\nprint('survived')")
    assert r.returncode == -signal.SIGSYS, (r.returncode, r.stdout, r.stderr)
    assert "survived" not in r.stdout


@needs_x86
def test_filter_execveat_only_of_the_stub_fd() -> None:
    r = _in_child(
        """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open("/bin/true", os.O_RDONLY)
        # execveat(fd, "", argv, envp, AT_EMPTY_PATH) of another FD: killed.
        argv = (ctypes.c_char_p * 2)(b"true", None)
        libc.syscall(322, fd, b"", argv, None, 0x1000)
        print("survived")
        """
    )
    assert r.returncode == -signal.SIGSYS, (r.returncode, r.stdout, r.stderr)


def test_filter_names_are_all_known() -> None:
    program = syscall_filter.build(3)
    assert len(program) % 8 == 0
    assert len(program) // 8 < 4096


def test_validate_open_fds_rejects_a_stray_directory() -> None:
    code = textwrap.dedent(
        """
        import os
        from runtime.boot import confine
        from runtime.errors import RuntimeFailure
        fd = os.open("/tmp", os.O_RDONLY | os.O_DIRECTORY)
        try:
            confine.validate_open_fds([])
        except RuntimeFailure as exc:
            print("refused:", "open directory" in str(exc))
        confine.validate_open_fds([fd])
        print("allowed")
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout) == (0, "refused: True\nallowed\n"), r.stderr


def _process(**raw: object) -> ocispec.Process:
    doc: dict[str, object] = {"args": ["/bin/true"], "cwd": "/"}
    doc.update(raw)
    return ocispec.parse_process(doc)


def test_rlimits_from_the_spec_override_the_base() -> None:
    process = _process(
        rlimits=[
            {"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20},
            {"type": "RLIMIT_STACK", "soft": 2**64 - 1, "hard": 2**64 - 1},
        ]
    )
    base = RLimits({RLIMIT_NOFILE: (1024, 4096), RLIMIT_STACK: (8 << 20, 8 << 20)})
    limits = rlimits_for(process, base)
    assert limits.get(RLIMIT_NOFILE) == (10, 20)
    assert limits.get(RLIMIT_STACK) == (RLIM_INFINITY, RLIM_INFINITY)
    # The base is untouched.
    assert base.get(RLIMIT_NOFILE) == (1024, 4096)


def test_environment_adds_a_default_path_only_when_missing() -> None:
    assert environment(_process(env=["A=1"]))[0] == b"A=1"
    assert any(e.startswith(b"PATH=") for e in environment(_process(env=["A=1"])))
    assert environment(_process(env=["PATH=/x"])) == [b"PATH=/x"]


def test_boot_requires_its_fds() -> None:
    from runtime.boot import main as boot_main

    with pytest.raises(UsageError, match="--spec-fd"):
        boot_main.main(RuntimeConfig(), ["--spec-fd=3", "id"])
    with pytest.raises(UsageError, match="three"):
        boot_main.main(
            RuntimeConfig(),
            [
                "--spec-fd=3",
                "--controller-fd=4",
                "--start-sync-fd=5",
                "--io-fds=6",
                "--stdio-fds=0,1",
                "id",
            ],
        )
    with pytest.raises(RuntimeFailure):
        boot_main.main(RuntimeConfig(), ["--io-fds=x,y", "id"])


def test_boot_reports_failures_on_the_start_sync_fd(tmp_path: Path) -> None:
    """A spec FD that is not JSON: the error line arrives instead of the ready byte."""
    r_sync, w_sync = os.pipe()
    (tmp_path / "config.json").write_bytes(b"{not json")
    spec_r = os.open(tmp_path / "config.json", os.O_RDONLY)
    a, b = __import__("socket").socketpair()
    code = (
        "import sys\n"
        "from runtime.boot import main\n"
        "from runtime.config import RuntimeConfig\n"
        "main.main(RuntimeConfig(network='host'), sys.argv[1:])\n"
    )
    argv = [
        sys.executable,
        "-c",
        code,
        f"--spec-fd={spec_r}",
        f"--controller-fd={b.fileno()}",
        f"--start-sync-fd={w_sync}",
        f"--io-fds={b.fileno()}",
        "--setup-root=false",
        "cid",
    ]
    if os.geteuid() != 0:
        pytest.skip("boot unshares namespaces: needs root")
    proc = subprocess.run(
        argv, pass_fds=(spec_r, w_sync, b.fileno()), capture_output=True, timeout=60
    )
    os.close(w_sync)
    os.close(spec_r)
    message = os.read(r_sync, 4096)
    os.close(r_sync)
    a.close()
    b.close()
    assert proc.returncode == 125
    assert message and message != b"\x01"
    assert b"json" in message.lower() or b"config" in message.lower(), message


def test_credentials_follow_the_spec_capabilities() -> None:
    from runtime.boot.loader import credentials

    root_default = credentials(_process())
    assert root_default.has_capability(0)  # CAP_CHOWN: root after execve
    p = _process(
        user={"uid": 0, "gid": 0, "additionalGids": [5, 5, 3]},
        capabilities={"effective": ["CAP_KILL"], "permitted": ["CAP_KILL"], "bounding": []},
    )
    creds = credentials(p)
    assert creds.groups == (3, 5)
    assert creds.has_capability(5) and not creds.has_capability(0)
    assert creds.bounding_caps == 0
    nobody = credentials(_process(user={"uid": 65534, "gid": 65534}))
    assert (nobody.euid, nobody.egid, nobody.effective_caps) == (65534, 65534, 0)
