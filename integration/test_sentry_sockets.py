"""Sockets under the Sentry with real programs: Debian's python3 moving
100 MB through a Unix socket and echoing over TCP loopback, socketpair and
descriptor passing, an HTTP server and urllib client in one sandbox
(forked, and `python3 -m http.server` itself once threads run), and
busybox `ip` reading the network namespace through NETLINK_ROUTE (and
refused when it tries to change it)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from integration._sentry import workdir  # noqa: F401 - fixture
from integration.syscalls import harness

PY = "/usr/bin/python3"
SCRIPTS = Path(__file__).parent / "socket_scripts"
BUSYBOX = shutil.which("busybox") or "/bin/busybox"

needs_python = pytest.mark.skipif(not os.path.exists(PY), reason="Debian python3 not installed")
needs_busybox = pytest.mark.skipif(not os.path.exists(BUSYBOX), reason="busybox not installed")


def _script(where: Path, name: str) -> str:
    shutil.copy(SCRIPTS / name, where / name)
    return name


def _run(where: Path, *argv: str) -> harness.Result:
    return harness.run_sentry(list(argv), where, extra=["--rw"])


@needs_python
def test_unix_socket_echo_100mb_intact(workdir):  # noqa: F811
    result = _run(workdir, PY, _script(workdir, "echo.py"), "100", "unix")
    assert result.stderr == b""
    assert result.stdout == b"bytes 104857600 intact True child 0\n"
    assert result.status == 0


@needs_python
def test_tcp_loopback_echo(workdir):  # noqa: F811
    result = _run(workdir, PY, _script(workdir, "echo.py"), "20", "tcp")
    assert result.stderr == b""
    assert result.stdout == b"bytes 20971520 intact True child 0\n"


@needs_python
def test_python_socketpair_and_fd_passing(workdir):  # noqa: F811
    script = _script(workdir, "socketpair.py")
    native = harness.run_native([PY, script], workdir)
    sandboxed = _run(workdir, PY, script)
    assert native.status == 0
    assert sandboxed.stderr == b""
    assert sandboxed.stdout == native.stdout


@needs_python
def test_http_server_and_urllib_in_one_sandbox(workdir):  # noqa: F811
    result = _run(workdir, PY, _script(workdir, "http_fork.py"), "3")
    assert result.stderr == b""
    assert result.stdout == b"requests ok 3 of 3 server exit 0\n"


@needs_python
def test_python_m_http_server(workdir):  # noqa: F811
    result = _run(workdir, PY, _script(workdir, "http_module.py"))
    assert result.stderr == b""
    assert result.stdout == b"status 200 intact True\n"


@needs_busybox
@pytest.mark.parametrize("what", ["addr", "route", "link"])
def test_busybox_ip_shows_the_namespace(workdir, what):  # noqa: F811
    # The Sentry runs in this test's network namespace, so it sees what
    # the host command sees.
    native = harness.run_native([BUSYBOX, "ip", what], workdir)
    sandboxed = harness.run_sentry([BUSYBOX, "ip", what], workdir)
    assert sandboxed.status == native.status == 0
    assert sandboxed.stdout == native.stdout
    assert b"lo" in sandboxed.stdout or what == "route"


@needs_busybox
def test_busybox_ip_cannot_change_the_namespace(workdir):  # noqa: F811
    result = harness.run_sentry(
        [BUSYBOX, "ip", "addr", "add", "10.253.7.9/32", "dev", "lo"], workdir
    )
    assert result.status != 0
    assert b"Operation not permitted" in result.stderr
    shown = harness.run_native([BUSYBOX, "ip", "addr"], workdir)
    assert b"10.253.7.9" not in shown.stdout
