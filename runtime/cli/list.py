"""``pysandbox list``: the containers under ``--root``, as a table or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from runtime.cli._args import exactly
from runtime.config import RuntimeConfig
from runtime.container import list_containers

HELP = "list containers"

COLUMNS = ("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", default="table", choices=("table", "json"))
    p.add_argument("-q", "--quiet", action="store_true", help="display only container IDs")
    p.add_argument("args", nargs="*", help=argparse.SUPPRESS)


def run(conf: RuntimeConfig, ns: argparse.Namespace) -> int:
    exactly(ns, 0)
    states = [c.state() for c in list_containers(conf)]
    if ns.quiet:
        for s in states:
            sys.stdout.write(s["id"] + "\n")
        return 0
    if ns.format == "json":
        # runc prints "null" for no containers; keep that for scripts.
        sys.stdout.write(json.dumps(states or None) + "\n")
        return 0
    sys.stdout.write(table(states))
    return 0


def table(states: list[dict[str, Any]]) -> str:
    """tabwriter-like columns, as runc prints them."""
    rows = [list(COLUMNS)] + [
        [s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s["owner"]] for s in states
    ]
    widths = [max(len(r[i]) for r in rows) + 2 for i in range(len(COLUMNS))]
    widths = [max(w, 12) for w in widths]
    lines = [
        "".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    return "\n".join(lines) + "\n"
