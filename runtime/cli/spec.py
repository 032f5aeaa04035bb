"""``pysandbox spec``: write a default config.json (runc's, with our hostname)."""

from __future__ import annotations

import argparse
import json
import os

from runtime.cli._args import exactly
from runtime.config import RuntimeConfig
from runtime.errors import RuntimeFailure, UsageError
from runtime.spec import CONFIG_FILE, default_spec

HELP = "create a new specification file"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-b", "--bundle", default="", help="bundle directory (default: cwd)")
    p.add_argument("--rootless", action="store_true", help="not supported; rejected clearly")
    p.add_argument("args", nargs="*", help=argparse.SUPPRESS)


def run(conf: RuntimeConfig, ns: argparse.Namespace) -> int:
    exactly(ns, 0)
    if ns.rootless:
        raise UsageError("spec --rootless is not supported by pysandbox")
    path = os.path.join(ns.bundle, CONFIG_FILE) if ns.bundle else CONFIG_FILE
    if ns.bundle and not os.path.isdir(ns.bundle):
        raise RuntimeFailure(f"bundle directory {ns.bundle} does not exist")
    if os.path.exists(path):
        raise RuntimeFailure(f"File {CONFIG_FILE} exists. Remove it first")
    with open(path, "x") as f:
        f.write(json.dumps(default_spec(), indent="\t") + "\n")
    return 0
