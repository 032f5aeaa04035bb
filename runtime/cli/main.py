"""Entry point of the ``pysandbox`` OCI runtime command line.

Global flags come before the subcommand, as with runc and runsc
(``pysandbox --root R --log L --log-format json create --bundle B ID``).
Each subcommand is one module of this package exposing ``HELP``,
``add_arguments(parser)`` and ``run(conf, ns) -> int``; ``boot`` and
``gofer`` are hidden internal subcommands.

The hidden ``boot`` subcommand is dispatched with ``importlib`` so that the
host-side commands never import the Sentry (an import-linter contract checks
the static imports).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
from types import ModuleType

from runtime import prefork, spawn
from runtime._version import __version__
from runtime.cli import _log
from runtime.cli._args import Parser, parse_bool
from runtime.cli._commands import COMMANDS, HIDDEN, WARM_COMMANDS, split
from runtime.config import DEFAULT_ROOT, RuntimeConfig
from runtime.errors import RuntimeFailure


def _module(command: str) -> ModuleType:
    return importlib.import_module(f"runtime.cli.{COMMANDS[command]}")


def _global_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--version", action="version", version=f"pysandbox version {__version__}")
    p.add_argument("--root", default=DEFAULT_ROOT, help="root directory for container state")
    p.add_argument("--log", default="", help="log file (default: stderr)")
    p.add_argument("--log-format", default="text", help="log format: text or json")
    p.add_argument("--debug", action="store_true", help="enable debug logging")
    p.add_argument("--platform", default="ptrace", help="Sentry platform: ptrace or kvm")
    p.add_argument("--network", default="sandbox", help="network: sandbox, host or none")
    p.add_argument(
        "--directfs",
        type=parse_bool,
        nargs="?",
        const=True,
        default=True,
        help="let the sandbox open container files through gofer-donated FDs (default true)",
    )
    p.add_argument(
        "--systemd-cgroup",
        action="store_true",
        help=(
            "read linux.cgroupsPath as systemd's slice:prefix:name and use the cgroup "
            "systemd would give that scope (written directly, not via D-Bus)"
        ),
    )


def build_parser() -> Parser:
    """The full parser (every subcommand imported)."""
    parser = Parser(prog="pysandbox", description="pysandbox: an OCI runtime in the gVisor model")
    _global_flags(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in COMMANDS:
        module = _module(name)
        kwargs = {} if name in HIDDEN else {"help": module.HELP}
        p = sub.add_parser(name, description=module.HELP, **kwargs)
        module.add_arguments(p)
    return parser


def _config(ns: argparse.Namespace) -> RuntimeConfig:
    return RuntimeConfig(
        root=ns.root,
        log=ns.log,
        log_format=ns.log_format,
        debug=ns.debug,
        platform=ns.platform,
        network=ns.network,
        directfs=ns.directfs,
        systemd_cgroup=ns.systemd_cgroup,
    )


def _parse_globals(globals_: list[str]) -> tuple[argparse.Namespace, list[str]]:
    top = Parser(prog="pysandbox", description="pysandbox OCI runtime", add_help=False)
    _global_flags(top)
    top.add_argument("-h", "--help", action="store_true")
    return top.parse_known_args(globals_)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    log_path, log_format = "", "text"
    warm: prefork.WarmForker | None = None
    _log.reset()
    try:
        globals_, command, rest = split(argv)
        gns, extra = _parse_globals(globals_)
        log_path, log_format = gns.log, gns.log_format
        if gns.help or command is None:
            if extra:
                raise RuntimeFailure(f"No help topic for {extra[0]!r}")
            out = sys.stdout if gns.help else sys.stderr
            build_parser().print_help(out)
            return 0 if gns.help else 1
        if extra:
            raise RuntimeFailure(f"flag provided but not defined: {extra[0]}")
        conf = _config(gns)
        _log.setup(conf.log, conf.log_format, conf.debug)
        if command in WARM_COMMANDS and spawn.current_forker() is None:
            # Before this process imports the subcommand's modules: the
            # warm children work on the other CPU meanwhile.
            warm = prefork.WarmForker(conf)
            spawn.install_forker(warm)
        module = _module(command)
        # The entry point stopped cycle collection for the imports.
        gc.enable()
        if command in HIDDEN:
            # Internal processes parse their own flags (argparse's REMAINDER
            # would not take a leading "--flag").
            ns = argparse.Namespace(command=command, args=rest)
        else:
            # boot and gofer are forked from this process (already holding
            # most of the runtime's imports) unless a caller installed its
            # own way (the shim's zygote, tests).
            spawn.install_forker(spawn.LocalForker(), replace=False)
            sub = Parser(prog=f"pysandbox {command}", description=module.HELP)
            module.add_arguments(sub)
            ns = sub.parse_args(rest)
            ns.command = command
        status: int = module.run(conf, ns)
        return status
    except RuntimeFailure as exc:
        _log.report(exc, log_path, log_format if log_format in ("text", "json") else "text")
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        if warm is not None:
            spawn.install_forker(None)
            warm.close()


if __name__ == "__main__":
    from runtime.cli.entry import run

    run()
