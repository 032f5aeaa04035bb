"""Go ``flag``-style command line of a containerd shim.

containerd calls every shim the way Go shims parse flags (cd16
``runtime/v2/shim/util.go`` Command; ``pkg/shim/shim.go`` parseFlags):
single-dash long names, ``-name value`` or ``-name=value``, ``--name`` too,
boolean flags without a value, and parsing stops at the first non-flag
argument, the action (``start``, ``delete``, none = serve). Unlike Go, an
unknown flag is skipped instead of aborting: newer containerd versions add
flags, and a shim that exits 2 on them breaks every container
(gvisor-containerd-shim#41, ``-systemd-cgroup``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

_BOOL = {"debug", "v", "version", "info"}
_VALUE = {
    "namespace",
    "id",
    "socket",
    "debug-socket",
    "bundle",
    "address",
    "publish-binary",
}
_TRUE = {"1", "t", "T", "true", "TRUE", "True"}
_FALSE = {"0", "f", "F", "false", "FALSE", "False"}


class FlagError(Exception):
    """A known flag with a missing or malformed value."""


@dataclass
class Flags:
    """The parsed command line."""

    namespace: str = ""
    id: str = ""
    socket: str = ""
    debug_socket: str = ""
    bundle: str = ""
    address: str = ""
    publish_binary: str = ""
    debug: bool = False
    version: bool = False
    info: bool = False
    action: str = ""
    args: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def parse(argv: list[str]) -> Flags:
    """Parse ``argv`` (without the program name) like Go's ``flag`` package.

    Unknown flags are recorded in ``ignored``; an unknown flag written as
    ``-name value`` cannot be told from a boolean one, so only its own token
    is skipped (the value then becomes the action unless it looks like a
    flag) — containerd always passes the action last, after known flags.
    """
    flags = Flags()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        name = arg.lstrip("-")
        value: str | None = None
        if "=" in name:
            name, value = name.split("=", 1)
        i += 1
        if name == "v":
            name = "version"
        if name in _BOOL:
            if value is None or value in _TRUE:
                setattr(flags, name, True)
            elif value in _FALSE:
                setattr(flags, name, False)
            else:
                raise FlagError(f"invalid boolean value {value!r} for flag -{name}")
        elif name in _VALUE:
            if value is None:
                if i >= len(argv):
                    raise FlagError(f"flag needs an argument: -{name}")
                value = argv[i]
                i += 1
            setattr(flags, name.replace("-", "_"), value)
        else:
            flags.ignored.append(arg)
    rest = argv[i:]
    if flags.version:
        return flags
    if rest:
        flags.action = rest[0]
        flags.args = rest[1:]
    return flags
