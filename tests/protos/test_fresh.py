"""The committed generated modules are exactly what scripts/genprotos makes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "genprotos"


def _run_genprotos(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _generated_in(root: Path) -> set[Path]:
    found: set[Path] = set()
    for pattern in ("*_pb2.py", "*_pb2.pyi"):
        found.update(p.relative_to(root) for p in (root / "protos").rglob(pattern))
    return found


def test_committed_modules_are_fresh(tmp_path: Path) -> None:
    result = _run_genprotos("--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    fresh = _generated_in(tmp_path)
    committed = _generated_in(ROOT)
    assert fresh, "genprotos produced nothing"
    assert committed == fresh, (
        f"missing: {sorted(fresh - committed)}, stale: {sorted(committed - fresh)}; "
        "run scripts/genprotos"
    )
    stale = [p for p in sorted(fresh) if (tmp_path / p).read_bytes() != (ROOT / p).read_bytes()]
    assert not stale, f"out of date (run scripts/genprotos): {stale}"


def test_every_generated_package_is_importable(tmp_path: Path) -> None:
    result = _run_genprotos("--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    for module in _generated_in(tmp_path):
        for package in module.parents:
            if package != Path("."):
                assert (ROOT / package / "__init__.py").is_file(), f"{package} lacks __init__.py"


def test_refuses_another_grpcio_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A different protoc would stamp other versions into the modules: a clear error, no files."""
    import importlib.machinery
    import importlib.util

    loader = importlib.machinery.SourceFileLoader("genprotos", str(SCRIPT))
    spec = importlib.util.spec_from_loader("genprotos", loader)
    assert spec is not None
    genprotos = importlib.util.module_from_spec(spec)
    loader.exec_module(genprotos)
    monkeypatch.setattr(genprotos.importlib.metadata, "version", lambda name: "0.0.1")
    assert genprotos.main(["--out", str(tmp_path)]) == 1
    assert not list(tmp_path.rglob("*_pb2.py"))


def test_protos_and_test_extras_pin_the_same_grpcio_tools() -> None:
    """genprotos reads the 'protos' pin; the test extra installs its own: they must agree."""
    import configparser
    import re

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    pins = {
        extra: re.findall(r"grpcio-tools\s*==\s*([\w.]+)", cfg["options.extras_require"][extra])
        for extra in ("protos", "test")
    }
    assert len(pins["protos"]) == 1
    assert pins["protos"] == pins["test"]
