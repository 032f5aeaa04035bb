"""The bytecode cache boot imports from after pivot_root (runtime.boot.codecache)."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runtime.boot.codecache import CodeCache

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """An importable package ``cc_pkg`` with a module and a subpackage."""
    root = tmp_path / "src"
    pkg = root / "cc_pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "leaf.py").write_text("from cc_pkg.sub import deep\nVALUE = deep.VALUE + 1\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "deep.py").write_text("VALUE = 41\n")
    (pkg / "_build_x.py").write_text("raise AssertionError('never imported')\n")
    (pkg / "notes.txt").write_text("not a module")
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in [m for m in sys.modules if m == "cc_pkg" or m.startswith("cc_pkg.")]:
        del sys.modules[name]


def _uninstall(cache: CodeCache) -> None:
    if cache in sys.meta_path:
        sys.meta_path.remove(cache)


def test_modules_import_from_memory_once_the_files_are_gone(package: Path) -> None:
    importlib.import_module("cc_pkg")  # fill walks an imported package

    cache = CodeCache()
    count = cache.fill("cc_pkg", skip=lambda name: name.rpartition(".")[2].startswith("_build_"))
    assert count == 3  # leaf, sub, sub.deep; not _build_x, not notes.txt
    assert cache.names() == ["cc_pkg.leaf", "cc_pkg.sub", "cc_pkg.sub.deep"]
    shutil.rmtree(package / "cc_pkg")  # what pivot_root does to boot's view
    cache.install()
    try:
        leaf = importlib.import_module("cc_pkg.leaf")

        assert leaf.VALUE == 42
        assert leaf.__file__ == str(package / "cc_pkg" / "leaf.py")
        assert len(cache) == 0  # bytes dropped once imported
        assert cache.find_spec("cc_pkg.leaf") is None
    finally:
        _uninstall(cache)


def test_a_stale_compiled_file_is_not_used(package: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(package)], check=True
    )  # a .pyc for every module, then the source changes
    deep = package / "cc_pkg" / "sub" / "deep.py"
    deep.write_text("VALUE = 99  # edited after compiling\n")
    importlib.import_module("cc_pkg")  # fill walks an imported package

    cache = CodeCache()
    cache.fill("cc_pkg")
    cache.install()
    try:
        mod = importlib.import_module("cc_pkg.sub.deep")

        assert mod.VALUE == 99
    finally:
        _uninstall(cache)


def test_imported_modules_are_not_cached(package: Path) -> None:
    importlib.import_module("cc_pkg.sub.deep")

    cache = CodeCache()
    cache.fill("cc_pkg")
    assert "cc_pkg.sub.deep" not in cache
    assert "cc_pkg.leaf" in cache


def _run(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, cwd="/", check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_boot_preload_leaves_the_handlers_to_the_cache() -> None:
    out = _run(
        """
        import sys
        import runtime.cli.main
        from runtime.boot import codecache, main
        main.warm_up(None)
        from runtime.boot.loader import build_table
        table = build_table(lazy=True)
        handlers = [m for m in sys.modules if m.startswith("sentry.syscalls.sys_")]
        print(len(handlers), "sentry.syscalls.sys_process" in codecache.CACHE)
        table.handlers[39].resolve()  # getpid
        print("sentry.syscalls.sys_process" in sys.modules,
              "sentry.syscalls.sys_process" in codecache.CACHE)
        """
    )
    assert out.split() == ["0", "True", "True", "False"]


def test_the_zygote_preloads_everything() -> None:
    out = _run(
        """
        import sys
        from runtime.boot import codecache
        codecache.preload(everything=True)
        print(len(codecache.CACHE), "sentry.syscalls.sys_socket" in sys.modules,
              "sentry.platform.kvm.platform" in sys.modules, "sentry.strace" in sys.modules)
        """
    )
    assert out.split() == ["0", "True", "True", "False"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chroot into an empty directory")
def test_every_cached_module_imports_without_the_host_files(tmp_path: Path) -> None:
    """What boot does after pivot_root: import every module the cache holds
    with no host file reachable. A module that needs something outside the
    cache and not imported beforehand (a stdlib module only a handler uses)
    fails here; add it to ``codecache.EAGER``."""
    empty = tmp_path / "empty"
    empty.mkdir()
    out = _run(
        f"""
        import importlib, os, sys
        import runtime.cli.main
        from runtime.boot import codecache, main
        main.warm_up(None)
        names = codecache.CACHE.names()
        os.chroot({str(empty)!r})
        os.chdir("/")
        failed = []
        for name in names:
            try:
                importlib.import_module(name)
            except Exception as exc:
                failed.append(f"{{name}}: {{exc!r}}")
        print(len(names))
        print("FAILED", failed)
        """
    )
    count, failed = out.splitlines()
    assert int(count) > 40
    assert failed == "FAILED []"
