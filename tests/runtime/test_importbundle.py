"""The import bundle our entry points serve imports from (runtime.importbundle)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runtime import importbundle
from runtime.importbundle import MAGIC, Bundle

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """An importable package ``ib_pkg`` (a module and a subpackage) and its sources."""
    root = tmp_path / "src"
    pkg = root / "ib_pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "leaf.py").write_text("from ib_pkg.sub import deep\nVALUE = deep.VALUE + 1\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "deep.py").write_text("VALUE = 41\n")
    monkeypatch.syspath_prepend(str(root))
    yield {
        "ib_pkg": (str(pkg / "__init__.py"), True),
        "ib_pkg.leaf": (str(pkg / "leaf.py"), False),
        "ib_pkg.sub": (str(pkg / "sub" / "__init__.py"), True),
        "ib_pkg.sub.deep": (str(pkg / "sub" / "deep.py"), False),
    }
    for name in [m for m in sys.modules if m == "ib_pkg" or m.startswith("ib_pkg.")]:
        del sys.modules[name]


@pytest.fixture
def served(tmp_path: Path, package: dict[str, tuple[str, bool]]):
    """The package's bundle, loaded and installed; closed afterwards."""
    path = str(tmp_path / "b.bin")
    assert importbundle.write(path, package)[0] == 4
    bundle = Bundle.load(path)
    assert bundle is not None
    bundle.install()
    yield bundle
    bundle.close()


def _served_by(module: object, bundle: Bundle) -> bool:
    return getattr(module, "__loader__", None) is bundle


def test_modules_are_served_from_the_bundle(served: Bundle, package: dict) -> None:
    leaf = importlib.import_module("ib_pkg.leaf")

    assert leaf.VALUE == 42
    assert _served_by(leaf, served)
    assert _served_by(sys.modules["ib_pkg.sub.deep"], served)
    assert leaf.__file__ == package["ib_pkg.leaf"][0]
    assert sys.modules["ib_pkg.sub"].__path__ == [os.path.dirname(package["ib_pkg.sub"][0])]


def test_an_edited_module_is_imported_from_its_source(served: Bundle, package: dict) -> None:
    deep = Path(package["ib_pkg.sub.deep"][0])
    deep.write_text("VALUE = 99  # edited after the bundle was written\n")

    leaf = importlib.import_module("ib_pkg.leaf")

    assert leaf.VALUE == 100
    assert _served_by(leaf, served)  # unchanged: still served
    assert not _served_by(sys.modules["ib_pkg.sub.deep"], served)


def test_a_removed_source_is_not_served(served: Bundle, package: dict) -> None:
    os.unlink(package["ib_pkg.sub.deep"][0])

    assert served.find_spec("ib_pkg.sub.deep") is None
    with pytest.raises(ImportError):
        importlib.import_module("ib_pkg.leaf")


def test_code_is_handed_out_only_for_the_same_current_source(served: Bundle, package: dict) -> None:
    source = package["ib_pkg.leaf"][0]
    data = served.code("ib_pkg.leaf", source)

    assert data is not None and data == importbundle.compiled(source)
    assert served.code("ib_pkg.leaf", source + "x") is None
    assert served.code("ib_pkg.nothing", source) is None
    Path(source).write_text("VALUE = 'a longer module than before'\n")
    assert served.code("ib_pkg.leaf", source) is None


def test_close_stops_serving(served: Bundle) -> None:
    served.close()

    assert served not in sys.meta_path
    assert served.find_spec("ib_pkg.leaf") is None
    assert not _served_by(importlib.import_module("ib_pkg.leaf"), served)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: b"", id="empty"),
        pytest.param(lambda data: b"NOTABUNDLE" + data[10:], id="not-a-bundle"),
        pytest.param(
            lambda data: data[: len(MAGIC)] + b"\0\0\0\0" + data[len(MAGIC) + 4 :],
            id="another-python",
        ),
        pytest.param(lambda data: data[: len(MAGIC) + 8 + 10], id="truncated-index"),
        pytest.param(lambda data: data[: len(MAGIC) + 8] + b"\xff" * 64, id="garbage-index"),
    ],
)
def test_a_bad_file_is_ignored(tmp_path: Path, package: dict, damage) -> None:
    path = tmp_path / "b.bin"
    importbundle.write(str(path), package)
    path.write_bytes(damage(path.read_bytes()))

    assert Bundle.load(str(path)) is None


def test_a_missing_file_is_ignored(tmp_path: Path) -> None:
    assert Bundle.load(str(tmp_path / "none.bin")) is None


def test_an_uncompilable_source_is_left_out(tmp_path: Path, package: dict) -> None:
    Path(package["ib_pkg.leaf"][0]).write_text("def broken(:\n")

    count, _ = importbundle.write(str(tmp_path / "b.bin"), package)
    bundle = Bundle.load(str(tmp_path / "b.bin"))

    assert count == 3
    assert bundle is not None and "ib_pkg.leaf" not in bundle and "ib_pkg.sub" in bundle


def _run(code: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **env},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_cli_entry_point_serves_its_imports_from_the_built_bundle(tmp_path: Path) -> None:
    """What ``scripts/setup`` builds covers the CLI's and boot's imports,
    standard library included, and the entry point serves them."""
    path = tmp_path / "full.bin"
    out = _run(f"from runtime import importbundle; print(importbundle.build({str(path)!r})[1])")
    assert int(out) > 300
    out = _run(
        f"""
        from runtime import importbundle
        import sys
        importbundle.install({str(path)!r})
        before = set(sys.modules)
        import runtime.cli.entry
        from runtime.boot import main
        main.warm_up(None)
        new = [sys.modules[n] for n in set(sys.modules) - before]
        spec = lambda m: getattr(m, "__spec__", None)
        mods = [m for m in new if (getattr(spec(m), "origin", None) or "").endswith(".py")]
        served = [m for m in mods if m.__loader__ is importbundle.ACTIVE]
        print(len(served), sorted(m.__name__ for m in mods if m not in served))
        """
    )
    served, unserved = out.split(" ", 1)
    assert int(served) > 200
    assert unserved.strip() == "[]"


def test_a_child_that_becomes_a_command_closes_the_bundle(tmp_path: Path) -> None:
    """``spawn.become`` closes every descriptor it was not given; the
    bundle's mapping holds one, so it goes first, unmapped."""
    path = tmp_path / "full.bin"
    importbundle.write(str(path), {"runtime.errors": (str(REPO / "runtime/errors.py"), False)})
    out = _run(
        f"""
        import os, sys
        from runtime import importbundle, spawn
        importbundle.install({str(path)!r})
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            # "features" prints to stdout, which become points at /dev/null:
            # the child reports through the pipe from a hook instead.
            import runtime.cli.main as cli
            def report(argv):
                maps = open("/proc/self/maps").read()
                fds = []
                for n in os.listdir("/proc/self/fd"):
                    try:
                        fds.append(os.readlink(f"/proc/self/fd/{{n}}"))
                    except OSError:
                        pass  # the listing's own descriptor
                os.write(3, f"{{importbundle.ACTIVE}} {{'full.bin' in maps}} "
                            f"{{any('full.bin' in t for t in fds)}}".encode())
                return 0
            cli.main = report
            spawn.become(["features"], [3], [w], None, dict(os.environ))
        os.close(w)
        print(os.read(r, 200).decode())
        os.waitpid(pid, 0)
        """
    )
    assert out.split() == ["None", "False", "False"]


def test_setup_built_the_bundle_for_this_checkout() -> None:
    """``scripts/setup`` (which the test command runs first) writes it."""
    bundle = Bundle.load()
    assert bundle is not None, f"no import bundle at {importbundle.default_path()}"
    try:
        for name in ("runtime.cli.main", "runtime.boot.main", "sentry.kernel.kernel", "logging"):
            assert name in bundle, name
    finally:
        bundle.close()
