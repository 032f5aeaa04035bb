"""``pip install .`` works: a wheel builds, carries every compiled part, and
its binaries run from a clean target directory."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _expected_compiled() -> list[str]:
    """Module paths that must be compiled into the wheel, found by file name."""
    out = [str(p.relative_to(ROOT).with_suffix("")) for p in ROOT.glob("sentry/**/*.pyx")]
    for builder in ROOT.glob("sentry/**/_build_*.py"):
        src = builder.read_text()
        # builders call ffibuilder.set_source("<dotted.module>", ...)
        marker = "set_source("
        i = src.find(marker)
        assert i >= 0, f"{builder} has no set_source"
        name = src[i + len(marker) :].split(",", 1)[0].strip().strip("\"'")
        out.append(name.replace(".", "/"))
    return out


@pytest.mark.slow
def test_wheel_builds_and_runs(tmp_path: Path) -> None:
    wheel_dir = tmp_path / "wheel"
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheel_dir), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr
    (wheel,) = wheel_dir.glob("pysandbox-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for mod in _expected_compiled():
        assert any(n.startswith(mod) and n.endswith(".so") for n in names), f"{mod} not compiled"
    for stub in [*ROOT.glob("sentry/**/stub/*.c"), *ROOT.glob("runtime/**/stub/*.c")]:
        rel = str(stub.relative_to(ROOT).with_suffix(""))
        assert rel in names, f"static helper {rel} missing from the wheel"
    assert any(n.endswith("entry_points.txt") for n in names)

    target = tmp_path / "site"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "import runtime.cli.main as m; raise SystemExit(m.main(['--version']))",
        ],
        cwd=tmp_path,
        env={"PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("pysandbox version")
