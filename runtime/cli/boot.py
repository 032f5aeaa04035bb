"""Hidden ``pysandbox boot``: the sandbox process (runtime/boot).

Dispatched through ``importlib`` so that no static import chain from the CLI
reaches ``runtime.boot`` and with it the Sentry (import-linter contract).
"""

from __future__ import annotations

import argparse
import importlib

from runtime.config import RuntimeConfig
from runtime.errors import NotAvailable

HELP = "internal: the sandbox process"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs=argparse.REMAINDER)


def run(conf: RuntimeConfig, ns: argparse.Namespace) -> int:
    try:
        module = importlib.import_module("runtime.boot.main")
    except ModuleNotFoundError as exc:
        if exc.name not in ("runtime.boot", "runtime.boot.main"):
            raise
        raise NotAvailable(
            "the boot subcommand is not available yet (runtime/boot is not built)"
        ) from None
    status: int = module.main(conf, ns.args)
    return status
