"""The subcommand table and the split of a command line into global flags,
subcommand and its arguments; imports nothing, so that the entry point can
decide to fork its warm children before loading the rest of the CLI."""

from __future__ import annotations

# subcommand → module in runtime.cli (order is the help order).
COMMANDS = {
    "create": "create",
    "start": "start",
    "run": "run",
    "state": "state",
    "list": "list",
    "kill": "kill",
    "delete": "delete",
    "exec": "exec",
    "ps": "ps",
    "pause": "pause",
    "resume": "resume",
    "events": "events",
    "wait": "wait",
    "spec": "spec",
    "features": "features",
    "do": "do",
    "boot": "boot",
    "gofer": "gofer",
}
HIDDEN = frozenset({"boot", "gofer"})
#: Commands that start a sandbox: boot and the gofer are forked ahead
#: (``runtime.prefork``).
WARM_COMMANDS = frozenset({"create", "run", "do"})
#: Global flags that take their value as the next argument.
VALUE_FLAGS = frozenset({"--root", "--log", "--log-format", "--platform", "--network"})


def split(argv: list[str]) -> tuple[list[str], str | None, list[str]]:
    """Globals, the subcommand, and its arguments; only the named one is imported."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in COMMANDS:
            return argv[:i], arg, argv[i + 1 :]
        if arg in VALUE_FLAGS:
            i += 2
            continue
        i += 1
    return argv, None, []
