"""``pysandbox ps``: processes running inside a container."""

from __future__ import annotations

import argparse
import json
import sys

from runtime.cli._args import between
from runtime.config import RuntimeConfig
from runtime.container import Container
from runtime.errors import UsageError

HELP = "list the processes running inside a container"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", default="table", choices=("table", "json"))
    p.add_argument("args", nargs="*", metavar="container-id [ps options]")


def run(conf: RuntimeConfig, ns: argparse.Namespace) -> int:
    args = between(ns, 1, 64)
    if ns.format == "json" and len(args) > 1:
        # runc: "don't specify ps-args with json format"
        raise UsageError("ps options cannot be used with --format json")
    procs = Container.load(conf, args[0]).processes()
    if ns.format == "json":
        sys.stdout.write(json.dumps([p["pid"] for p in procs]) + "\n")
        return 0
    sys.stdout.write("UID        PID  PPID  C STIME TTY          TIME CMD\n")
    for p in procs:
        sys.stdout.write(
            f"{p.get('uid', 0):<10}{p['pid']:>4}{p.get('ppid', 0):>6}  {p.get('c', 0)} "
            f"{p.get('stime', ''):<5} {p.get('tty', '?'):<12} {p.get('time', ''):>8} "
            f"{p.get('cmd', '')}\n"
        )
    return 0
