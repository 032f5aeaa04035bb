"""Bytecode of the modules boot may import after it lost the host's files.

Boot imports what every sandbox start needs before pivot_root; the rest of
the Sentry (the syscall handler modules, bound at their first call by
``sentry.syscalls.linux64``, and what only they use) is imported on first
use, when the sandbox's root is an empty directory. ``CodeCache.fill``
reads those modules' compiled bytecode while the files are still
reachable, and the cache, first on ``sys.meta_path``, serves it from
memory afterwards: no directory FD stays open (the seeds' rule), no host
path is touched, and an import costs one unmarshal.

A module's bytes are dropped once it is imported. Compiled files are
validated as the import system does (magic number, source mtime and size);
a missing or stale one is compiled from the source instead, so an edited
checkout never runs old code.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import marshal
import os
import sys
from collections.abc import Callable
from importlib.machinery import ModuleSpec
from types import ModuleType

from runtime import importbundle
from runtime.config import PLATFORMS

_EXTENSION_SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]  # .cpython-311-x86_64-linux-gnu.so


class _Code:
    __slots__ = ("data", "is_package", "origin")

    def __init__(self, data: bytes, origin: str, is_package: bool) -> None:
        self.data = data
        self.origin = origin
        self.is_package = is_package


def _compiled(name: str, source: str) -> bytes:
    """``name``'s marshalled code: from the import bundle while it is
    mapped and current (no file read), else from ``source``'s ``.pyc``."""
    bundle = importbundle.ACTIVE
    data = bundle.code(name, source) if bundle is not None else None
    return data if data is not None else importbundle.compiled(source)


class CodeCache:
    """A meta path finder and loader over bytecode read in advance."""

    def __init__(self) -> None:
        self._code: dict[str, _Code] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._code

    def __len__(self) -> int:
        return len(self._code)

    def names(self) -> list[str]:
        """The modules not imported yet, sorted (parents before children)."""
        return sorted(self._code)

    def fill(self, package: str, skip: Callable[[str], bool] = lambda name: False) -> int:
        """Read every module of ``package`` (an imported package) that is not
        imported yet, except those ``skip`` names (with their submodules);
        returns the count."""
        root = sys.modules[package]
        before = len(self._code)
        extensions: list[str] = []
        for directory in root.__path__:
            self._walk(directory, package, skip, extensions)
        # Compiled extensions cannot load from memory: dlopen needs the file.
        for name in extensions:
            importlib.import_module(name)
        for name in [n for n in self._code if n in sys.modules]:
            del self._code[name]  # imported by an extension's package
        return len(self._code) - before

    def _walk(
        self, directory: str, prefix: str, skip: Callable[[str], bool], extensions: list[str]
    ) -> None:
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            if entry.is_dir():
                init = os.path.join(entry.path, "__init__.py")
                if entry.name == "__pycache__" or not os.path.exists(init):
                    continue
                name, path, package = f"{prefix}.{entry.name}", init, True
            elif entry.name.endswith(".py") and entry.name != "__init__.py":
                name, path, package = f"{prefix}.{entry.name[:-3]}", entry.path, False
            elif entry.name.endswith(_EXTENSION_SUFFIX):
                name = f"{prefix}.{entry.name[: -len(_EXTENSION_SUFFIX)]}"
                if not skip(name) and name not in sys.modules:
                    extensions.append(name)
                continue
            else:
                continue
            if skip(name):
                continue
            if name not in sys.modules and name not in self._code:
                self._code[name] = _Code(_compiled(name, path), path, package)
            if package:
                self._walk(entry.path, name, skip, extensions)

    def install(self) -> None:
        """Serve imports before every other finder."""
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)

    # -- importlib's finder and loader protocols --------------------------

    def find_spec(
        self, name: str, path: object = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        code = self._code.get(name)
        if code is None:
            return None
        spec = ModuleSpec(name, self, origin=code.origin, is_package=code.is_package)  # type: ignore[arg-type]
        if code.is_package:
            spec.submodule_search_locations = [os.path.dirname(code.origin)]
        spec.has_location = True
        return spec

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return None  # the default module object

    def exec_module(self, module: ModuleType) -> None:
        code = self._code.pop(module.__name__)
        exec(marshal.loads(code.data), module.__dict__)


#: Imported eagerly by ``preload``: what boot's control server and its error
#: paths import lazily, outside the Sentry (never anyio or asyncio: the
#: control server needs no event loop). Not ``encodings.idna`` (with
#: unicodedata, 3-7 ms): CPython hands an ASCII host string to the resolver
#: without that codec, and the Sentry forms only numeric, ASCII addresses.
EAGER = ("ttrpc.sync_server", "traceback")

#: Never part of a sandbox: ``python -m sentry run --strace``'s tracer, the
#: cffi build scripts (parsing their cdefs costs ~70 ms), the docs
#: generator, the standalone entry point.
_NEVER = ("sentry.strace",)
_NEVER_LEAVES = ("gendoc", "__main__")

CACHE = CodeCache()
_preloaded = False


def preload(platform_name: str | None = None, *, everything: bool = False) -> None:
    """Make what the sandbox may import importable after pivot_root.

    Imports ``EAGER`` now and keeps the bytecode of every Sentry module not
    imported yet (of ``platform_name``'s platform only, unless None) in
    ``CACHE``, which then serves them. With ``everything`` (the shim's
    zygote, which pays once for many sandboxes) the whole Sentry is imported
    now instead. Once per process: a warm boot child did it before its
    request arrived, and boot's own call is then free."""
    global _preloaded
    if _preloaded:
        return
    _preloaded = True
    import sentry  # noqa: F401  (CodeCache.fill walks its __path__)

    never: tuple[str, ...] = _NEVER
    if platform_name is not None:
        never += tuple(f"sentry.platform.{p}" for p in PLATFORMS if p != platform_name)

    def skip(name: str) -> bool:
        leaf = name.rpartition(".")[2]
        return (
            name in never
            or name.startswith(tuple(n + "." for n in never))
            or leaf.startswith("_build_")
            or leaf in _NEVER_LEAVES
        )

    CACHE.fill("sentry", skip)
    CACHE.install()
    for name in EAGER:
        importlib.import_module(name)
    if everything:
        for name in CACHE.names():
            if name in CACHE:  # not imported by an earlier one meanwhile
                importlib.import_module(name)
