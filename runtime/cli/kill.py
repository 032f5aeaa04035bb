"""``pysandbox kill``: send a signal to a container's init (or all processes)."""

from __future__ import annotations

import argparse

from runtime.cli._args import between, parse_signal
from runtime.config import RuntimeConfig
from runtime.container import Container

HELP = "send a signal (default SIGTERM) to the container's init process"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="signal every process of the container")
    p.add_argument("args", nargs="*", metavar="container-id [signal]")


def run(conf: RuntimeConfig, ns: argparse.Namespace) -> int:
    args = between(ns, 1, 2)
    signo = parse_signal(args[1] if len(args) > 1 else "SIGTERM")
    Container.load(conf, args[0]).signal(signo, all_processes=ns.all)
    return 0
