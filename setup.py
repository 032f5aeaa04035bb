"""Build the compiled parts of pysandbox: Cython modules (``*.pyx``), cffi
out-of-line API modules (``_build_*.py`` builders exposing ``ffibuilder``) and the
static helper binaries (the ptrace stub, the gofer's serving loop).

Everything else (metadata, dependencies, entry points) is declarative in
setup.cfg. Discovery is by file name so that a new Cython module or cffi
builder needs no edit here.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


def _fail(message: str) -> None:
    """Stop the build with one clear line instead of a compiler traceback."""
    sys.stderr.write(f"pysandbox build: {message}\n")
    raise SystemExit(1)


def _check_toolchain() -> None:
    """A missing compiler or Python header is the common failure on a fresh machine."""
    cc = sysconfig.get_config_var("CC") or "cc"
    if shutil.which(cc.split()[0]) is None and shutil.which("gcc") is None:
        _fail("no C compiler found (install gcc: apt-get install gcc libc6-dev)")
    include = sysconfig.get_paths()["include"]
    if not (Path(include) / "Python.h").exists():
        _fail(f"Python.h not found in {include} (install python3-dev for this interpreter)")


def _cython_extensions() -> list[Extension]:
    pyx = sorted(ROOT.glob("sentry/**/*.pyx"))
    if not pyx:
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        _fail("Cython is needed to build (pip install Cython, or use pip's build isolation)")
    exts = [
        Extension(
            ".".join(p.relative_to(ROOT).with_suffix("").parts),
            [str(p.relative_to(ROOT))],
            extra_compile_args=["-O2"],
        )
        for p in pyx
    ]
    return list(cythonize(exts, language_level="3", quiet=True))


def _cffi_modules() -> list[str]:
    return [f"{p.relative_to(ROOT)}:ffibuilder" for p in sorted(ROOT.glob("sentry/**/_build_*.py"))]


def _static_helpers() -> list[tuple[Path, Path, list[str]]]:
    """Static helper binaries: ``<dir>/stub/<name>.c`` builds ``<dir>/stub/<name>``.

    Flags come from the first line of the source if it starts with
    ``// build-flags:`` (the ptrace stub is freestanding: -nostdlib there).
    """
    out = []
    sources = [*ROOT.glob("sentry/**/stub/*.c"), *ROOT.glob("runtime/**/stub/*.c")]
    for src in sorted(sources):
        first = src.read_text().splitlines()[0]
        flags = first.split(":", 1)[1].split() if first.startswith("// build-flags:") else []
        out.append((src, src.with_suffix(""), flags))
    return out


class BuildExt(build_ext):
    """build_ext that checks the toolchain first and also builds the static helpers."""

    def run(self) -> None:
        _check_toolchain()
        for src, binary, flags in _static_helpers():
            cmd = ["gcc", "-static", "-O2", *flags, "-o", str(binary), str(src)]
            try:
                subprocess.run(cmd, check=True)
            except (OSError, subprocess.CalledProcessError) as exc:
                _fail(f"building helper {src.name} failed: {exc}")
            if not self.inplace:
                dest = Path(self.build_lib) / binary.relative_to(ROOT)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(binary, dest)
        super().run()


setup(
    ext_modules=_cython_extensions(),
    cffi_modules=_cffi_modules(),
    cmdclass={"build_ext": BuildExt},
)
