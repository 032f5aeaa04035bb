"""``pysandbox wait``: wait for a container's init and print its exit status."""

from __future__ import annotations

import argparse
import json
import sys

from runtime.cli._args import exactly, exit_code
from runtime.config import RuntimeConfig
from runtime.container import Container

HELP = "wait for a container to exit and print its exit status"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="container-id")


def run(conf: RuntimeConfig, ns: argparse.Namespace) -> int:
    (container_id,) = exactly(ns, 1)
    status = Container.load(conf, container_id).wait()
    # runsc wait prints {"id": ..., "exitStatus": N} (the raw wait status).
    sys.stdout.write(json.dumps({"id": container_id, "exitStatus": status}) + "\n")
    return exit_code(status)
