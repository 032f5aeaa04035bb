"""``pysandbox run``: create and start a container, then wait for it."""

from __future__ import annotations

import argparse

from runtime.cli._args import exactly, exit_code
from runtime.cli.create import add_bundle_arguments
from runtime.config import RuntimeConfig
from runtime.container import Container

HELP = "create and run a container"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_bundle_arguments(p)
    p.add_argument("-d", "--detach", action="store_true", help="do not wait for the container")
    p.add_argument("--keep", action="store_true", help="keep the container after it exits")


def run(conf: RuntimeConfig, ns: argparse.Namespace) -> int:
    (container_id,) = exactly(ns, 1)
    container = Container.create(
        conf,
        container_id,
        ns.bundle,
        console_socket=ns.console_socket,
        pid_file=ns.pid_file,
        detach=ns.detach,
        preserve_fds=ns.preserve_fds,
    )
    try:
        container.start()
        if ns.detach:
            return 0
        wait_status = container.wait()
    except BaseException:
        if not ns.keep:
            container.delete(force=True)
        raise
    if not ns.keep:
        container.delete(force=True)
    return exit_code(wait_status)
