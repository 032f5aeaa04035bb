"""Both binaries exist on PATH after installation and answer --version/-v."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runtime._version import __version__

BIN = Path(sys.executable).parent


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("flag", ["--version", "-v"])
def test_pysandbox_version(flag: str) -> None:
    exe = shutil.which("pysandbox", path=str(BIN)) or shutil.which("pysandbox")
    assert exe, "pysandbox entry point is not installed"
    r = _run(exe, flag)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"pysandbox version {__version__}"


@pytest.mark.parametrize("flag", ["--version", "-v", "-version"])
def test_shim_version(flag: str) -> None:
    exe = shutil.which("containerd-shim-pysandbox-v2", path=str(BIN)) or shutil.which(
        "containerd-shim-pysandbox-v2"
    )
    assert exe, "containerd-shim-pysandbox-v2 entry point is not installed"
    r = _run(exe, flag)
    assert r.returncode == 0, r.stderr
    assert __version__ in r.stdout
    assert "io.pysandbox.v2" in r.stdout


def test_unknown_command_is_one_line_and_nonzero() -> None:
    exe = shutil.which("pysandbox", path=str(BIN)) or "pysandbox"
    r = _run(exe, "no-such-command")
    assert r.returncode != 0
    assert len(r.stderr.strip().splitlines()) == 1
    assert "no-such-command" in r.stderr


def test_setup_reports_missing_compiler(tmp_path: Path) -> None:
    """With no compiler reachable the build stops with one clear line."""
    root = Path(__file__).resolve().parent.parent
    env = {"PATH": str(tmp_path), "HOME": os.environ.get("HOME", "/root"), "CC": "no-such-cc"}
    r = subprocess.run(
        [
            sys.executable,
            str(root / "setup.py"),
            "build_ext",
            "--build-temp",
            str(tmp_path / "t"),
            "--build-lib",
            str(tmp_path / "l"),
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode != 0
    assert "pysandbox build: no C compiler found" in r.stderr
