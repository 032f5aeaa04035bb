"""``pysandbox do``: run a command sandboxed over the host's root (``runsc do``).

The host root (or ``--root-dir``) becomes the container's read-only root
with a writable in-memory overlay on top, so the command sees the host's
files and its writes vanish with the sandbox. The bundle is generated in a
temporary directory and removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile
from typing import Any

from runtime.cli._args import exit_code
from runtime.config import RuntimeConfig
from runtime.container import Container
from runtime.errors import UsageError
from runtime.spec import ROOT_OVERLAY_ANNOTATION, default_spec

HELP = "run a command sandboxed over the host's root file system"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root-dir", default="/", help="host directory to use as the root (default /)")
    p.add_argument("--cwd", default="", help="working directory (default: the current one)")
    p.add_argument(
        "-v",
        "--volume",
        action="append",
        default=[],
        help="bind mount SRC:DST[:ro] from the host (repeatable)",
    )
    p.add_argument(
        "--overlay",
        choices=("memory", "none"),
        default="memory",
        help="writable layer over the root: memory (tmpfs, default) or none (read-only root)",
    )
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="-- command [args...]")


def _mount(volume: str) -> dict[str, Any]:
    parts = volume.split(":")
    if len(parts) not in (2, 3) or not all(parts[:2]) or (len(parts) == 3 and parts[2] != "ro"):
        raise UsageError(f"invalid --volume {volume!r}: expected SRC:DST[:ro]")
    src, dst = os.path.abspath(parts[0]), parts[1]
    if not os.path.exists(src):
        raise UsageError(f"--volume source {src} does not exist")
    if not dst.startswith("/"):
        raise UsageError(f"--volume destination {dst!r} must be absolute")
    options = ["rbind", "ro" if len(parts) == 3 else "rw"]
    return {"destination": dst, "type": "bind", "source": src, "options": options}


def build_config(ns: argparse.Namespace, args: list[str]) -> dict[str, Any]:
    """The OCI config for ``do``: the host root, our uid/gid, env and cwd."""
    cfg = default_spec()
    proc = cfg["process"]
    proc["args"] = args
    proc["env"] = [f"{k}={v}" for k, v in os.environ.items()]
    proc["cwd"] = ns.cwd or os.getcwd()
    proc["terminal"] = False
    proc["user"] = {"uid": os.getuid(), "gid": os.getgid()}
    cfg["root"] = {"path": os.path.abspath(ns.root_dir), "readonly": ns.overlay == "none"}
    cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] != "/sys/fs/cgroup"]
    cfg["mounts"] += [_mount(v) for v in ns.volume]
    cfg["annotations"] = {ROOT_OVERLAY_ANNOTATION: ns.overlay}
    return cfg


def run(conf: RuntimeConfig, ns: argparse.Namespace) -> int:
    args = ns.args[1:] if ns.args[:1] == ["--"] else ns.args
    if not args:
        raise UsageError('pysandbox: "do" requires a command (pysandbox do -- CMD [ARGS...])')
    if not os.path.isdir(ns.root_dir):
        raise UsageError(f"--root-dir {ns.root_dir} is not a directory")
    cfg = build_config(ns, args)
    bundle = tempfile.mkdtemp(prefix="pysandbox-do-")
    try:
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(cfg, f)
        container_id = f"do-{secrets.token_hex(6)}"
        container = Container.create(conf, container_id, bundle, detach=False)
        try:
            sys.stdout.flush()
            container.start()
            status = container.wait()
        finally:
            container.delete(force=True)
        return exit_code(status)
    finally:
        shutil.rmtree(bundle, ignore_errors=True)
