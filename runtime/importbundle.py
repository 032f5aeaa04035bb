"""The import bundle: the bytecode of what pysandbox's processes import, in one file.

A sandbox start is a chain of Python imports: the CLI's (~100 modules)
before it forks boot, then boot's (~250) before the sandbox can run. For
each module the import system searches ``sys.path`` (stats and directory
listings), opens the ``.pyc``, reads it and closes it; that is about a
quarter of the imports' time. Served from one file read once, boot's
imports took 34 ms instead of 45 here, the CLI's 25 instead of 29.

The bundle is never stale: each entry records its source file's mtime and
size, as a ``.pyc`` does, and is served only while the source still has
them. Anything else (a module edited since, one the bundle lacks, a bundle
written by another Python) is imported the normal way, so a checkout
being edited only loses the speed-up. ``python -m runtime.importbundle``
writes it (``scripts/setup`` does after installing; the Dockerfile too),
next to the package's own bytecode in ``runtime/__pycache__``.

Only entry points install it (``pysandbox``'s and the shim's): a library
user's imports are left alone. A forked child that becomes another command
(``spawn.become``) closes it before it closes every other descriptor, as
the mapping holds one: a warm boot child has done its imports by then.
Boot closes it too before it confines itself (when it was started as a new
interpreter); the Sentry modules imported later come from
``runtime.boot.codecache``, which read their bytecode from the bundle.

File layout: ``MAGIC``, the interpreter's bytecode magic (4 bytes), the
index's length (4 bytes, little-endian), the index (``marshal``: module
name → (source path, is package, source mtime, source size, offset,
length)), then the modules' marshalled code objects.
"""

from __future__ import annotations

import marshal
import os
import sys
from importlib._bootstrap_external import MAGIC_NUMBER, cache_from_source
from importlib.machinery import ModuleSpec
from types import CodeType, ModuleType

TYPE_CHECKING = False  # not typing's: that import would precede the bundle
if TYPE_CHECKING:
    import mmap

MAGIC = b"PSBUNDL1"
_HEADER = len(MAGIC) + 8
_PYC_HEADER = 16  # magic, flags, mtime, source size (PEP 552, timestamp form)

#: Our packages: every module of theirs goes into the bundle, imported at
#: build time or not (the Sentry's syscall handlers are imported lazily).
PACKAGES = ("runtime", "sentry", "shim", "ttrpc", "protos")

#: What the builder imports, besides every CLI subcommand's module and
#: what boot's warm-up imports, to learn which standard-library and
#: third-party modules our processes use.
ENTRY_MODULES = ("runtime.cli.entry", "shim.entry", "shim.serve")

#: Never bundled: build-time-only modules (the cffi builders' cdef parsing
#: alone costs ~70 ms and never runs in a sandbox).
_SKIP_LEAVES = ("__main__",)
_SKIP_PREFIXES = ("_build_",)

#: An entry: (source path, is package, source mtime, source size, offset, length).
Entry = tuple[str, bool, int, int, int, int]


def default_path() -> str:
    """Where the bundle of this interpreter lives."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, "__pycache__", f"importbundle.{sys.implementation.cache_tag}.bin")


def _fresh(source: str, mtime: int, size: int) -> bool:
    try:
        st = os.stat(source)
    except OSError:
        return False
    return int(st.st_mtime) & 0xFFFFFFFF == mtime and st.st_size & 0xFFFFFFFF == size


class Bundle:
    """A meta path finder and loader over one bundle file's contents."""

    def __init__(
        self, index: dict[str, Entry], data: memoryview, mapping: mmap.mmap | None
    ) -> None:
        self._index = index
        self._data = data
        self._mapping = mapping

    @classmethod
    def load(cls, path: str | None = None) -> Bundle | None:
        """The bundle at ``path``, or None when there is none or it does not
        fit this interpreter (never an exception: it is only a speed-up).

        The file is mapped, not read: a process touches only the pages of
        the modules it imports, and the processes forked from it share them."""
        import mmap

        try:
            fd = os.open(path or default_path(), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            mapping = mmap.mmap(fd, 0, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
        except (OSError, ValueError):  # ValueError: an empty file
            return None
        finally:
            os.close(fd)
        view = memoryview(mapping)
        index: object = None
        if view[: len(MAGIC)] == MAGIC and view[len(MAGIC) : len(MAGIC) + 4] == MAGIC_NUMBER:
            length = int.from_bytes(view[len(MAGIC) + 4 : _HEADER], "little")
            try:
                index = marshal.loads(view[_HEADER : _HEADER + length])
            except (EOFError, ValueError, TypeError):
                index = None  # a damaged index: no bundle (below)
        if not isinstance(index, dict):
            view.release()
            mapping.close()
            return None
        return cls(index, view[_HEADER + length :], mapping)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, name: str) -> bool:
        return name in self._index

    def install(self) -> None:
        """Serve imports before every other finder."""
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)

    def close(self) -> None:
        """Stop serving and unmap the file (which also closes the descriptor
        ``mmap`` keeps: call this before closing descriptors wholesale)."""
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        self._index = {}
        self._data.release()
        self._data = memoryview(b"")
        if self._mapping is not None:
            self._mapping.close()
            self._mapping = None

    def code(self, name: str, source: str) -> bytes | None:
        """``name``'s marshalled code when the bundle has it for ``source``
        and that file is unchanged since; else None."""
        entry = self._index.get(name)
        if entry is None or entry[0] != source or not _fresh(source, entry[2], entry[3]):
            return None
        return bytes(self._data[entry[4] : entry[4] + entry[5]])

    # -- importlib's finder and loader protocols --------------------------

    def find_spec(
        self, name: str, path: object = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        entry = self._index.get(name)
        if entry is None or not _fresh(entry[0], entry[2], entry[3]):
            return None
        spec = ModuleSpec(name, self, origin=entry[0], is_package=entry[1])  # type: ignore[arg-type]
        if entry[1]:
            spec.submodule_search_locations = [os.path.dirname(entry[0])]
        spec.has_location = True
        return spec

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return None  # the default module object

    def exec_module(self, module: ModuleType) -> None:
        exec(self.get_code(module.__name__), module.__dict__)

    def get_code(self, name: str) -> CodeType:
        """The module's code object (``runpy`` asks loaders for it too)."""
        entry = self._index[name]
        code = marshal.loads(self._data[entry[4] : entry[4] + entry[5]])
        if not isinstance(code, CodeType):
            raise ImportError(f"bad bytecode for {name} in the import bundle", name=name)
        return code

    def is_package(self, name: str) -> bool:
        return self._index[name][1]

    def get_source(self, name: str) -> str | None:
        with open(self._index[name][0], encoding="utf-8") as f:
            return f.read()


#: The bundle this process serves imports from (``install``), if any.
ACTIVE: Bundle | None = None


def install(path: str | None = None) -> Bundle | None:
    """Load the bundle and serve imports from it, once per process."""
    global ACTIVE
    if ACTIVE is None:
        ACTIVE = Bundle.load(path)
        if ACTIVE is not None:
            ACTIVE.install()
    return ACTIVE


def close() -> None:
    """Stop serving from the bundle (boot, before it loses the host's files)."""
    global ACTIVE
    if ACTIVE is not None:
        ACTIVE.close()
        ACTIVE = None


def compiled(source: str) -> bytes:
    """``source``'s marshalled code, from its valid ``.pyc`` or compiled
    now (validated as the import system does: magic number, source mtime
    and size)."""
    st = os.stat(source)
    try:
        with open(cache_from_source(source), "rb") as f:
            pyc = f.read()
    except OSError:
        pyc = b""
    if (
        len(pyc) > _PYC_HEADER
        and pyc[:4] == MAGIC_NUMBER
        and int.from_bytes(pyc[4:8], "little") == 0
        and int.from_bytes(pyc[8:12], "little") == int(st.st_mtime) & 0xFFFFFFFF
        and int.from_bytes(pyc[12:16], "little") == st.st_size & 0xFFFFFFFF
    ):
        return pyc[_PYC_HEADER:]
    with open(source, "rb") as f:
        code = compile(f.read(), source, "exec", dont_inherit=True)
    return marshal.dumps(code)


# -- building ---------------------------------------------------------------


def _package_sources(package: str, directory: str) -> dict[str, tuple[str, bool]]:
    """Every module under one of our packages' directories: name → (source, is package)."""
    found: dict[str, tuple[str, bool]] = {package: (os.path.join(directory, "__init__.py"), True)}
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        if entry.is_dir():
            if entry.name != "__pycache__" and os.path.exists(
                os.path.join(entry.path, "__init__.py")
            ):
                found.update(_package_sources(f"{package}.{entry.name}", entry.path))
        elif entry.name.endswith(".py") and entry.name != "__init__.py":
            leaf = entry.name[:-3]
            if leaf not in _SKIP_LEAVES and not leaf.startswith(_SKIP_PREFIXES):
                found[f"{package}.{leaf}"] = (entry.path, False)
    return found


def _imported_sources() -> dict[str, tuple[str, bool]]:
    """Every module this process imported from a ``.py`` file."""
    found = {}
    for name, module in list(sys.modules.items()):
        spec = getattr(module, "__spec__", None)
        origin = getattr(spec, "origin", None)
        if spec is None or not isinstance(origin, str) or not origin.endswith(".py"):
            continue
        if name == "__main__" or not os.path.isfile(origin):
            continue
        found[name] = (origin, spec.submodule_search_locations is not None)
    return found


def _import_entry_modules() -> None:
    import importlib

    from runtime.boot.main import warm_up
    from runtime.cli._commands import COMMANDS

    names = [*ENTRY_MODULES, *(f"runtime.cli.{module}" for module in COMMANDS.values())]
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # left out of the bundle, not fatal
            sys.stderr.write(f"import bundle: cannot import {name}: {exc}\n")
    warm_up(None)  # every platform's share of the Sentry


def write(path: str, sources: dict[str, tuple[str, bool]]) -> tuple[int, int]:
    """Write a bundle of ``sources`` (name → (source path, is package))
    atomically; returns its module count and size. A source that cannot
    be compiled is left out: its import will say why."""
    index: dict[str, Entry] = {}
    chunks: list[bytes] = []
    offset = 0
    for name in sorted(sources):
        source, is_package = sources[name]
        try:
            data = compiled(source)
            st = os.stat(source)
        except (OSError, SyntaxError, ValueError):
            continue
        mtime, size = int(st.st_mtime) & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF
        index[name] = (source, is_package, mtime, size, offset, len(data))
        chunks.append(data)
        offset += len(data)
    blob = marshal.dumps(index)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(MAGIC + MAGIC_NUMBER + len(blob).to_bytes(4, "little"))
        f.write(blob)
        for chunk in chunks:
            f.write(chunk)
    os.replace(tmp, path)
    return len(index), _HEADER + len(blob) + offset


def build(path: str | None = None) -> tuple[str, int, int]:
    """Write the bundle of our packages and what their entry points import."""
    import importlib

    _import_entry_modules()
    sources = _imported_sources()
    for package in PACKAGES:
        directory = os.path.dirname(importlib.import_module(package).__file__ or "")
        sources.update(_package_sources(package, directory))
    target = path or default_path()
    count, size = write(target, sources)
    return target, count, size


def main() -> int:
    target, count, size = build(sys.argv[1] if len(sys.argv) > 1 else None)
    print(f"import bundle: {count} modules, {size // 1024} KiB in {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
