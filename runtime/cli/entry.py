"""The ``pysandbox`` console script (and ``python -m runtime.cli``).

It runs ``runtime.cli.main.main`` and leaves at once, without the
interpreter's teardown of every module: tens of milliseconds that only
delay the caller (nothing of ours needs finalizers).

``main`` forks the warm children (``runtime.prefork``) right after parsing
the global flags, before it imports the subcommand's modules. Forking any
earlier gains nothing: a child needs ``runtime.cli.main``'s imports itself
(it becomes ``pysandbox boot`` through it), so it would only repeat them.

Before anything else it installs the import bundle
(``runtime.importbundle``): every import after it, the CLI's and its
children's, is served from one mapped file.
"""

from __future__ import annotations

import gc

from runtime import importbundle

importbundle.install()
# No cycle collections while the CLI imports (~30 of them, 10-15% of the
# imports' time); ``main`` turns them back on once the subcommand's
# modules are in.
gc.disable()

import logging  # noqa: E402  (after the bundle: served from it)
import os  # noqa: E402
import sys  # noqa: E402
from typing import NoReturn  # noqa: E402

from runtime.cli.main import main  # noqa: E402


def run() -> NoReturn:
    try:
        status = main(sys.argv[1:])
    except SystemExit as exc:  # argparse's --help and usage errors
        if exc.code is None or isinstance(exc.code, int):
            status = exc.code or 0
        else:
            sys.stderr.write(f"{exc.code}\n")
            status = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            status = status or 120  # what the interpreter exits with then
    os._exit(status)
