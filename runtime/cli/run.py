"""``pysandbox run``: create and start a container, then wait for it.

With ``process.terminal`` and neither ``--detach`` nor ``--console-socket``
the caller's own terminal is the container's (``runtime.ttyrelay``), as
with ``runc run``.
"""

from __future__ import annotations

import argparse
import contextlib
import os

from runtime import console
from runtime import spec as ocispec
from runtime.cli._args import exactly, exit_code
from runtime.cli.create import add_bundle_arguments
from runtime.config import RuntimeConfig
from runtime.container import Container
from runtime.ttyrelay import TerminalRelay

HELP = "create and run a container"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_bundle_arguments(p)
    p.add_argument("-d", "--detach", action="store_true", help="do not wait for the container")
    p.add_argument("--keep", action="store_true", help="keep the container after it exits")


def _relay_for(ns: argparse.Namespace) -> tuple[TerminalRelay | None, int]:
    """A relay and the pty replica to give the container, when it wants a
    terminal that nobody else (a console socket) takes."""
    if ns.detach or ns.console_socket:
        return None, -1
    spec = ocispec.load(ns.bundle)
    if spec.process is None or not spec.process.terminal:
        return None, -1
    size = spec.process.console_size or TerminalRelay.caller_size()
    master, replica = console.open_pty(size)
    return TerminalRelay(master), replica


def run(conf: RuntimeConfig, ns: argparse.Namespace) -> int:
    (container_id,) = exactly(ns, 1)
    relay, replica = _relay_for(ns)
    try:
        container = Container.create(
            conf,
            container_id,
            ns.bundle,
            console_socket=ns.console_socket,
            pid_file=ns.pid_file,
            detach=ns.detach,
            preserve_fds=ns.preserve_fds,
            terminal_fd=replica,
        )
    except BaseException:
        if relay is not None:
            relay.finish(0)
        raise
    finally:
        if replica >= 0:
            os.close(replica)  # the sandbox has its own copy
    try:
        if relay is not None:
            relay.on_resize = lambda rows, cols: container.sandbox.resize_terminal(
                container.id, 0, rows, cols
            )
            relay.start()
        container.start()
        if ns.detach:
            return 0
        wait_status = container.wait()
        if relay is not None:
            relay.finish()
    except BaseException:
        if not ns.keep:
            container.delete(force=True)
        raise
    finally:
        if relay is not None:
            with contextlib.suppress(OSError):
                relay.finish(0)
    if not ns.keep:
        container.delete(force=True)
    return exit_code(wait_status)
