"""Regenerate ``ttrpc_pb2.py``/``.pyi`` from ``ttrpc.proto``.

Run ``python -m ttrpc._gen`` after editing ``ttrpc.proto`` (needs the
``grpcio-tools`` version pinned in setup.cfg). The generated modules are
committed, so users of the package never need grpcio-tools; a test
regenerates into a temporary directory and compares, so they cannot go stale.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
# protoc runs with the package's parent as include root so that the file is
# registered in the descriptor pool as "ttrpc/ttrpc.proto" and the output
# lands in <out>/ttrpc/.
_SOURCE_ROOT = _PACKAGE_DIR.parent
PROTO = "ttrpc/ttrpc.proto"
GENERATED = ("ttrpc/ttrpc_pb2.py", "ttrpc/ttrpc_pb2.pyi")
# protoc output is not ours to lint or reformat (ruff.toml only excludes
# protos/); these pragmas keep `ruff check`/`ruff format` off it.
_HEADER = "# ruff: noqa\n# fmt: off\n"


def generate(out_dir: Path) -> list[Path]:
    """Run protoc on ``ttrpc.proto`` writing into ``out_dir``/ttrpc/.

    Returns the generated files. Raises RuntimeError if protoc fails.
    """
    from grpc_tools import protoc

    well_known = resources.files("grpc_tools") / "_proto"
    (out_dir / "ttrpc").mkdir(parents=True, exist_ok=True)
    argv = [
        "grpc_tools.protoc",
        f"-I{_SOURCE_ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        str(_SOURCE_ROOT / PROTO),
    ]
    rc = protoc.main(argv)
    if rc != 0:
        raise RuntimeError(f"protoc failed with exit status {rc}: {' '.join(argv)}")
    paths = [out_dir / name for name in GENERATED]
    for path in paths:
        text = path.read_text()
        if not text.startswith(_HEADER):
            path.write_text(_HEADER + text)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ttrpc._gen", description=__doc__)
    parser.add_argument(
        "--out",
        type=Path,
        default=_SOURCE_ROOT,
        help="output root (files go to OUT/ttrpc/); default: next to this package",
    )
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
