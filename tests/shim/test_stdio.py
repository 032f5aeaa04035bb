"""Stdio through the Task API: FIFOs, CloseIO, file://, binary://, a real pty."""

from __future__ import annotations

import os
import select
import sys
import time
from pathlib import Path

import pytest
from google.protobuf import empty_pb2

from protos.containerd.task.v2 import shim_pb2
from shim.stdio import ProcessStdio, StdioError, StdioSpec
from tests.shim.conftest import fifo, make_bundle, running_shim

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def read_until(fd: int, needle: bytes, timeout: float = 10.0) -> bytes:
    """Read a non-blocking fd until ``needle`` shows up (the shim keeps FIFOs open)."""
    got = b""
    deadline = time.monotonic() + timeout
    while needle not in got:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{needle!r} not seen; got {got!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except BlockingIOError:
                continue
            got += chunk
            if not chunk:
                time.sleep(0.02)
    return got


async def create_start(shim, cid, args, **io):
    terminal = io.pop("terminal", False)
    bundle = make_bundle(shim.dir, cid, args, terminal=terminal)
    req = shim_pb2.CreateTaskRequest(id=cid, bundle=str(bundle), terminal=terminal, **io)
    await shim.call("Create", req, shim_pb2.CreateTaskResponse)
    return bundle


async def test_fifo_stdout_stderr_and_stdin_closeio(short_tmp):
    async with running_shim(short_tmp) as shim:
        stdin = fifo(short_tmp, "in")
        stdout = fifo(short_tmp, "out")
        stderr = fifo(short_tmp, "err")
        # The client's side, opened as containerd's cio does (non-blocking).
        out_r = os.open(stdout, os.O_RDONLY | os.O_NONBLOCK)
        err_r = os.open(stderr, os.O_RDONLY | os.O_NONBLOCK)
        in_w = os.open(stdin, os.O_RDWR | os.O_NONBLOCK)
        try:
            await create_start(
                shim,
                "io1",
                ["sh", "-c", "echo to-err >&2; cat; echo cat-done"],
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
            )
            await shim.call("Start", shim_pb2.StartRequest(id="io1"), shim_pb2.StartResponse)
            assert b"to-err" in read_until(err_r, b"to-err")
            os.write(in_w, b"hello through stdin\n")
            assert b"hello through stdin" in read_until(out_r, b"hello through stdin")
            # The client closes its end: cat must not see EOF while the shim
            # holds its writer...
            os.close(in_w)
            in_w = -1
            state = await shim.call(
                "State", shim_pb2.StateRequest(id="io1"), shim_pb2.StateResponse
            )
            assert state.status == 2  # RUNNING
            # ... until CloseIO drops it.
            await shim.call(
                "CloseIO", shim_pb2.CloseIORequest(id="io1", stdin=True), empty_pb2.Empty
            )
            waited = await shim.call("Wait", shim_pb2.WaitRequest(id="io1"), shim_pb2.WaitResponse)
            assert waited.exit_status == 0
            assert b"cat-done" in read_until(out_r, b"cat-done")
            await shim.call("Delete", shim_pb2.DeleteRequest(id="io1"), shim_pb2.DeleteResponse)
        finally:
            for fd in (out_r, err_r, in_w):
                if fd >= 0:
                    os.close(fd)


async def test_output_survives_client_detach(short_tmp):
    """The keep-alive reader: no EPIPE for the container after the client leaves."""
    async with running_shim(short_tmp) as shim:
        stdout = fifo(short_tmp, "out")
        out_r = os.open(stdout, os.O_RDONLY | os.O_NONBLOCK)
        await create_start(
            shim,
            "io2",
            ["sh", "-c", "echo one; sleep 0.5; echo two; echo still-alive >&2; exit 7"],
            stdout=stdout,
        )
        await shim.call("Start", shim_pb2.StartRequest(id="io2"), shim_pb2.StartResponse)
        read_until(out_r, b"one")
        os.close(out_r)
        waited = await shim.call("Wait", shim_pb2.WaitRequest(id="io2"), shim_pb2.WaitResponse)
        assert waited.exit_status == 7  # not killed by SIGPIPE (141)


async def test_file_uri_collects_stdout_and_stderr(short_tmp):
    async with running_shim(short_tmp) as shim:
        log = short_tmp / "logs" / "c.log"
        uri = f"file://{log}"
        await create_start(
            shim, "io3", ["sh", "-c", "echo out-line; echo err-line >&2"], stdout=uri, stderr=uri
        )
        await shim.call("Start", shim_pb2.StartRequest(id="io3"), shim_pb2.StartResponse)
        await shim.call("Wait", shim_pb2.WaitRequest(id="io3"), shim_pb2.WaitResponse)
        await shim.call("Delete", shim_pb2.DeleteRequest(id="io3"), shim_pb2.DeleteResponse)
        text = log.read_text()
        assert "out-line" in text and "err-line" in text


LOGGER = r"""#!{python}
import os, sys
# containerd's logging protocol: fd 3 stdout, fd 4 stderr, fd 5 ready.
out = open(sys.argv[2], "wb")
env = os.environ
out.write(f"env={env.get('CONTAINER_ID', '')}/{env.get('CONTAINER_NAMESPACE', '')}\n".encode())
os.write(5, b"r"); os.close(5)
for fd, tag in ((3, b"O:"), (4, b"E:")):
    data = b""
    while chunk := os.read(fd, 4096):
        data += chunk
    out.write(tag + data)
out.close()
"""


async def test_binary_logger_gets_both_streams(short_tmp):
    async with running_shim(short_tmp) as shim:
        logger = short_tmp / "logger"
        logger.write_text(LOGGER.replace("{python}", sys.executable))
        logger.chmod(0o755)
        out = short_tmp / "logged"
        uri = f"binary://{logger}?file={out}"
        await create_start(shim, "io4", ["sh", "-c", "echo A; echo B >&2"], stdout=uri, stderr=uri)
        await shim.call("Start", shim_pb2.StartRequest(id="io4"), shim_pb2.StartResponse)
        await shim.call("Wait", shim_pb2.WaitRequest(id="io4"), shim_pb2.WaitResponse)
        await shim.call("Delete", shim_pb2.DeleteRequest(id="io4"), shim_pb2.DeleteResponse)
        text = out.read_text()
        assert "env=io4/testns" in text
        assert "O:A\n" in text and "E:B\n" in text


async def test_tty_resize_and_no_stderr(short_tmp):
    async with running_shim(short_tmp) as shim:
        stdin = fifo(short_tmp, "in")
        stdout = fifo(short_tmp, "out")
        out_r = os.open(stdout, os.O_RDONLY | os.O_NONBLOCK)
        in_w = os.open(stdin, os.O_RDWR | os.O_NONBLOCK)
        try:
            await create_start(
                shim,
                "tty1",
                [
                    "sh",
                    "-c",
                    "test -t 0 && test -t 1 && echo is-a-tty; read line; stty size; echo got=$line",
                ],
                stdin=stdin,
                stdout=stdout,
                stderr=str(short_tmp / "never-opened"),
                terminal=True,
            )
            await shim.call(
                "ResizePty",
                shim_pb2.ResizePtyRequest(id="tty1", width=101, height=42),
                empty_pb2.Empty,
            )
            await shim.call("Start", shim_pb2.StartRequest(id="tty1"), shim_pb2.StartResponse)
            read_until(out_r, b"is-a-tty")
            os.write(in_w, b"typed\n")
            got = read_until(out_r, b"got=typed")
            assert b"42 101" in got
            await shim.call("Wait", shim_pb2.WaitRequest(id="tty1"), shim_pb2.WaitResponse)
            state = await shim.call(
                "State", shim_pb2.StateRequest(id="tty1"), shim_pb2.StateResponse
            )
            assert state.terminal and state.stderr == ""
            await shim.call("Delete", shim_pb2.DeleteRequest(id="tty1"), shim_pb2.DeleteResponse)
        finally:
            os.close(out_r)
            os.close(in_w)
        assert not (short_tmp / "never-opened").exists()


def test_bad_uris_give_clear_errors(tmp_path: Path):
    with pytest.raises(StdioError, match="unsupported stdio URI scheme 'tcp'"):
        ProcessStdio(StdioSpec(stdout="tcp://x:1"), "c", "ns")
    with pytest.raises(StdioError, match="absolute path"):
        ProcessStdio(StdioSpec(stdout="file://relative/x"), "c", "ns")
    with pytest.raises(StdioError, match="absolute path"):
        ProcessStdio(StdioSpec(stdout="binary://host/bin/logger"), "c", "ns")
    with pytest.raises(StdioError, match="cannot open fifo"):
        ProcessStdio(StdioSpec(stdout=str(tmp_path / "missing")), "c", "ns")
    with pytest.raises(StdioError, match="cannot start logging binary"):
        ProcessStdio(StdioSpec(stdout=f"binary://{tmp_path}/nope"), "c", "ns")
    null = ProcessStdio(StdioSpec(), "c", "ns")
    assert (null.io.stdin, null.io.stdout, null.io.stderr) == (None, None, None)
    null.close()
