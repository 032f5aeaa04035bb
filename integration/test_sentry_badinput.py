"""Programs that cannot start fail with Linux's errno as a clear error (or
die of SIGSEGV, as natively) and never crash the Sentry."""

from __future__ import annotations

import errno
import os
import shutil
import struct
import subprocess

from integration._sentry import workdir  # noqa: F401 - fixture
from integration.syscalls import harness

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
LS = "/bin/ls"


def _native_errno(path, cwd) -> int | None:
    try:
        subprocess.run([str(path)], cwd=cwd, capture_output=True, check=False, timeout=30)
    except OSError as exc:
        return exc.errno
    return None


def _executable(path, data: bytes):
    path.write_bytes(data)
    path.chmod(0o755)
    return path


def _check_exec_error(path, expected: int, cwd):
    assert _native_errno(path, cwd) == expected
    result = harness.run_sentry([str(path)], cwd)
    err = result.stderr.decode()
    assert f"cannot execute '{path}': {os.strerror(expected)}" in err, err
    assert "Traceback" not in err
    assert result.status == (127 if expected == errno.ENOENT else 126)


def _patched(src: str, offset: int, data: bytes) -> bytes:
    with open(src, "rb") as f:
        raw = bytearray(f.read())
    raw[offset : offset + len(data)] = data
    return bytes(raw)


def test_corrupt_elf(workdir):  # noqa: F811
    path = _executable(workdir / "corrupt", b"\x7fELF" + b"\xff" * 200)
    _check_exec_error(path, errno.ENOEXEC, workdir)


def test_empty_file(workdir):  # noqa: F811
    _check_exec_error(_executable(workdir / "empty", b""), errno.ENOEXEC, workdir)


def test_foreign_architecture(workdir):  # noqa: F811
    data = _patched(BUSYBOX, 18, struct.pack("<H", 183))  # e_machine = EM_AARCH64
    _check_exec_error(_executable(workdir / "arm64", data), errno.ENOEXEC, workdir)


def test_missing_interpreter(workdir):  # noqa: F811
    with open(LS, "rb") as f:
        raw = f.read()
    interp = b"/lib64/ld-linux-x86-64.so.2\0"
    at = raw.index(interp)
    data = _patched(LS, at, b"/lib64/ld-missing-x86.so.2\0\0")
    _check_exec_error(_executable(workdir / "nointerp", data), errno.ENOENT, workdir)


def _with_interp(directory, name: str):
    with open(LS, "rb") as f:
        raw = f.read()
    at = raw.index(b"/lib64/ld-linux-x86-64.so.2\0")
    # PT_INTERP is opened relative to the working directory, like any path.
    return _executable(directory / name, _patched(LS, at, b"./l".ljust(28, b"\0")))


def test_interpreter_too_short(workdir):  # noqa: F811
    _executable(workdir / "l", b"#!/bin/sh\n")
    _check_exec_error(_with_interp(workdir, "shortinterp"), errno.EIO, workdir)


def test_interpreter_not_elf(workdir):  # noqa: F811
    _executable(workdir / "l", b"#!/bin/sh\n" + b"x" * 200)
    _check_exec_error(_with_interp(workdir, "badinterp"), errno.ELIBBAD, workdir)


def test_no_execute_permission(workdir):  # noqa: F811
    path = workdir / "noexec"
    shutil.copy(BUSYBOX, path)
    path.chmod(0o644)  # even root needs one x bit to execute a file
    _check_exec_error(path, errno.EACCES, workdir)


def test_directory(workdir):  # noqa: F811
    _check_exec_error(workdir, errno.EACCES, workdir)


def test_missing_program(workdir):  # noqa: F811
    _check_exec_error(workdir / "nope", errno.ENOENT, workdir)


def test_shebang_loop(workdir):  # noqa: F811
    a, b = workdir / "a.sh", workdir / "b.sh"
    _executable(a, f"#!{b}\n".encode())
    _executable(b, f"#!{a}\n".encode())
    _check_exec_error(a, errno.ELOOP, workdir)


def test_unmapped_entry_point_gets_sigsegv(workdir):  # noqa: F811
    data = _patched(BUSYBOX, 24, struct.pack("<Q", 0x10000))  # e_entry: nothing mapped there
    path = _executable(workdir / "badentry", data)
    native = harness.run_native([str(path)], workdir)
    sandboxed = harness.run_sentry([str(path)], workdir)
    assert native.status == 128 + 11
    assert sandboxed.status == native.status
    assert b"Traceback" not in sandboxed.stderr
