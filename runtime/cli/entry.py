"""The ``pysandbox`` console script (and ``python -m runtime.cli``).

For the commands that start a sandbox (``create``, ``run``, ``do``) it
forks the warm children (``runtime.prefork``) as its very first act,
before importing the rest of the CLI, so that boot's imports start about
30 ms sooner, on the other CPU. Then it runs ``runtime.cli.main.main`` and
leaves at once, without the interpreter's teardown of every module (tens
of milliseconds that only delay the caller; nothing of ours needs
finalizers).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, NoReturn

from runtime.cli._commands import WARM_COMMANDS, split

if TYPE_CHECKING:
    from runtime.config import RuntimeConfig


def _config_of(argv: list[str]) -> RuntimeConfig | None:
    """The configuration for a warm child's preload (None if the flags are
    bad: the CLI reports that itself)."""
    from runtime.cli.main import config_of

    try:
        return config_of(argv)
    except Exception:
        return None


def run() -> NoReturn:
    argv = sys.argv[1:]
    warm = None
    if split(argv)[1] in WARM_COMMANDS:
        from runtime import prefork

        warm = prefork.WarmForker(lambda: _config_of(argv))
    status = 1
    try:
        from runtime import spawn
        from runtime.cli.main import main

        if warm is not None:
            spawn.install_forker(warm)
        status = main(argv)
    except SystemExit as exc:  # argparse's --help and usage errors
        if exc.code is None or isinstance(exc.code, int):
            status = exc.code or 0
        else:
            sys.stderr.write(f"{exc.code}\n")
    except KeyboardInterrupt:
        status = 130
    finally:
        if warm is not None:
            warm.close()
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            status = status or 120  # what the interpreter exits with then
    os._exit(status)
