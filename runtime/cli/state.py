"""``pysandbox state``: print the OCI state JSON of a container."""

from __future__ import annotations

import argparse
import json
import sys

from runtime.cli._args import exactly
from runtime.config import RuntimeConfig
from runtime.container import Container

HELP = "output the state of a container"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="container-id")


def run(conf: RuntimeConfig, ns: argparse.Namespace) -> int:
    (container_id,) = exactly(ns, 1)
    state = Container.load(conf, container_id).state()
    sys.stdout.write(json.dumps(state, indent=2) + "\n")
    return 0
