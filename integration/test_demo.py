"""The README's main-job command really runs a container through containerd."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from integration.containerd import find_static_busybox, missing_requirements

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.containerd
def test_demo_prints_hello() -> None:
    missing = missing_requirements()
    if missing:
        pytest.skip(missing)
    if find_static_busybox() is None:
        pytest.skip("no static busybox at /bin/busybox (busybox-static)")
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[-1] == "hello"


@pytest.mark.containerd
def test_demo_through_the_runc_shim() -> None:
    """containerd's own runc shim driving the pysandbox CLI (--runc-binary)."""
    missing = missing_requirements()
    if missing:
        pytest.skip(missing)
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--via", "runc-shim"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[-1] == "hello"


@pytest.mark.containerd
def test_demo_passes_the_exit_code() -> None:
    missing = missing_requirements()
    if missing:
        pytest.skip(missing)
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--", "sh", "-c", "exit 3"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert r.returncode == 3, r.stdout + r.stderr
