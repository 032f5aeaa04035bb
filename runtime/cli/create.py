"""``pysandbox create``: create a container from an OCI bundle (not started)."""

from __future__ import annotations

import argparse

from runtime.cli._args import exactly
from runtime.config import RuntimeConfig
from runtime.container import Container

HELP = "create a container"


def add_bundle_arguments(p: argparse.ArgumentParser) -> None:
    """Flags shared by create and run (runc's spelling)."""
    p.add_argument("-b", "--bundle", default=".", help="path to the bundle (default: cwd)")
    p.add_argument("--console-socket", default="", help="AF_UNIX socket to receive the pty master")
    p.add_argument("--pid-file", default="", help="file to write the sandbox pid to")
    p.add_argument(
        "--no-pivot", action="store_true", help="accepted for runc compatibility (no effect)"
    )
    p.add_argument(
        "--no-new-keyring", action="store_true", help="accepted for runc compatibility (no effect)"
    )
    p.add_argument("--preserve-fds", type=int, default=0, help="pass N extra FDs from 3 up")
    p.add_argument("args", nargs="*", metavar="container-id")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_bundle_arguments(p)


def run(conf: RuntimeConfig, ns: argparse.Namespace) -> int:
    (container_id,) = exactly(ns, 1)
    Container.create(
        conf,
        container_id,
        ns.bundle,
        console_socket=ns.console_socket,
        pid_file=ns.pid_file,
        detach=True,
        preserve_fds=ns.preserve_fds,
    )
    return 0
