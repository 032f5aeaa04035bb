"""Hidden ``pysandbox gofer``: the file server of one container (runtime/gofer)."""

from __future__ import annotations

import argparse
import importlib

from runtime.config import RuntimeConfig

HELP = "internal: the gofer process of a container"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs=argparse.REMAINDER)


def run(conf: RuntimeConfig, ns: argparse.Namespace) -> int:
    # Imported on demand: the gofer's modules are only needed in its process.
    module = importlib.import_module("runtime.gofer.main")
    status: int = module.main(conf, ns.args)
    return status
