"""``pysandbox delete``: remove a stopped (or, with --force, any) container."""

from __future__ import annotations

import argparse

from runtime.cli._args import exactly
from runtime.config import RuntimeConfig
from runtime.container import Container
from runtime.errors import ContainerNotExist

HELP = "delete a container and the resources it holds"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true", help="kill it first if it is running")
    p.add_argument("args", nargs="*", metavar="container-id")


def run(conf: RuntimeConfig, ns: argparse.Namespace) -> int:
    (container_id,) = exactly(ns, 1)
    try:
        container = Container.load(conf, container_id)
    except ContainerNotExist:
        # runc: deleting a missing container with --force succeeds quietly.
        if ns.force:
            return 0
        raise
    container.delete(force=ns.force)
    return 0
