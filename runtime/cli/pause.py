"""``pysandbox pause``: freeze every process of the container's sandbox."""

from __future__ import annotations

import argparse

from runtime.cli._args import exactly
from runtime.config import RuntimeConfig
from runtime.container import Container

HELP = "pause all processes of a container"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="container-id")


def run(conf: RuntimeConfig, ns: argparse.Namespace) -> int:
    (container_id,) = exactly(ns, 1)
    Container.load(conf, container_id).pause()
    return 0
