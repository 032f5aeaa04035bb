"""The ``containerd-shim-pysandbox-v2`` console script.

It installs the import bundle (``runtime.importbundle``) before the shim's
own imports, which are then served from one mapped file: containerd waits
for ``start`` (a process that spawns the serving shim and prints its
address) and then for the serving shim's first answer, so every import is
on a container start's path.
"""

from __future__ import annotations

from runtime import importbundle

importbundle.install()

from shim.main import main  # noqa: E402  (after the bundle: served from it)

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
