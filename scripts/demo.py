"""The README's main job: run a container in the pysandbox sandbox through a
real containerd.

Uses the containerd already running at /run/containerd/containerd.sock, or
starts a private one for the run (stopped afterwards). The busybox image is
built locally from Debian's busybox-static and imported with ``ctr images
import``; nothing is pulled from a registry. The container is started with
``ctr run`` and its output printed.

Usage: scripts/demo [--via shim|runc-shim] [-- COMMAND ...]   (default: echo hello)
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from integration.containerd import (  # noqa: E402  (repo root on sys.path first)
    BUSYBOX_REF,
    ContainerdConfig,
    build_busybox_image,
    find_static_busybox,
    private_containerd,
)

SYSTEM_SOCKET = Path("/run/containerd/containerd.sock")
NAMESPACE = "pysandbox-demo"
VENV_BIN = ROOT / ".venv" / "bin"


def _system_containerd_up() -> bool:
    if not SYSTEM_SOCKET.exists() or shutil.which("ctr") is None:
        return False
    r = subprocess.run(
        ["ctr", "-a", str(SYSTEM_SOCKET), "version"], capture_output=True, timeout=10, check=False
    )
    return r.returncode == 0


@contextlib.contextmanager
def _containerd() -> Iterator[tuple[Path, str]]:
    """Yield the gRPC socket of a running containerd and how it names our shim.

    A private containerd finds ``containerd-shim-pysandbox-v2`` on its PATH by
    the runtime name ``io.pysandbox.v2``; a system one is given the shim's
    absolute path (containerd 1.6+ accepts that as a runtime name).
    """
    if _system_containerd_up():
        print(f"== using the running containerd at {SYSTEM_SOCKET}", flush=True)
        yield SYSTEM_SOCKET, str(VENV_BIN / "containerd-shim-pysandbox-v2")
        return
    print("== no containerd running: starting a private one for this run", flush=True)
    with private_containerd(ContainerdConfig(path_prepend=(str(VENV_BIN),))) as daemon:
        yield daemon.address, "io.pysandbox.v2"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="scripts/demo")
    p.add_argument(
        "--via",
        choices=["shim", "runc-shim"],
        default="shim",
        help="shim: our containerd-shim-pysandbox-v2 (runtime io.pysandbox.v2); "
        "runc-shim: containerd's runc shim driving the pysandbox CLI (--runc-binary)",
    )
    p.add_argument("command", nargs="*", default=["echo", "hello"])
    ns = p.parse_args(argv)

    busybox = find_static_busybox()
    if busybox is None:
        sys.stderr.write(
            "demo: no static busybox at /bin/busybox (apt-get install busybox-static)\n"
        )
        return 1
    with _containerd() as (address, shim_runtime):
        ctr = ["ctr", "-a", str(address), "-n", NAMESPACE]
        tar = build_busybox_image(Path(f"/tmp/pysandbox-demo-{uuid.uuid4().hex[:8]}.tar"), busybox)
        try:
            subprocess.run([*ctr, "images", "import", str(tar)], check=True, capture_output=True)
        finally:
            tar.unlink(missing_ok=True)
        if ns.via == "shim":
            runtime = ["--runtime", shim_runtime]
        else:
            runtime = [
                "--runtime",
                "io.containerd.runc.v2",
                "--runc-binary",
                str(VENV_BIN / "pysandbox"),
            ]
        task = f"demo-{uuid.uuid4().hex[:8]}"
        cmd = [*ctr, "run", "--rm", *runtime, BUSYBOX_REF, task, *ns.command]
        print("== " + " ".join(cmd), flush=True)
        return subprocess.run(cmd, check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
