"""``pysandbox events``: container statistics, once or every --interval."""

from __future__ import annotations

import argparse
import json
import sys
import time

from runtime.cli._args import exactly, parse_duration
from runtime.config import RuntimeConfig
from runtime.container import Container

HELP = "display container events such as OOM notifications and cpu, memory and pids stats"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--interval", default="5s", help="stats collection interval (default 5s)")
    p.add_argument("--stats", action="store_true", help="display the stats once and exit")
    p.add_argument("args", nargs="*", metavar="container-id")


def run(conf: RuntimeConfig, ns: argparse.Namespace) -> int:
    (container_id,) = exactly(ns, 1)
    interval = parse_duration(ns.interval)
    container = Container.load(conf, container_id)
    while True:
        event = {"type": "stats", "id": container_id, "data": container.stats()}
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()
        if ns.stats:
            return 0
        time.sleep(interval)
