"""Runtime-wide configuration: the global flags of the ``pysandbox`` CLI.

The same object is built by the shim in-process, and is turned back into
flags (``to_flags``) when the runtime re-executes itself as ``boot`` or
``gofer`` (seed: ``conf.ToFlags()``, global flags before the subcommand).
"""

from __future__ import annotations

from runtime.errors import UsageError

#: Where container state lives unless ``--root`` says otherwise (runc: /run/runc).
DEFAULT_ROOT = "/run/pysandbox"

PLATFORMS = ("ptrace", "kvm")
NETWORKS = ("sandbox", "host", "none")
LOG_FORMATS = ("text", "json")


class RuntimeConfig:
    """Global options shared by every command.

    Immutable, as the frozen dataclass it was; a plain class because every
    sandbox start defines it (a frozen dataclass costs ~1 ms to define, and
    importing ``dataclasses`` several more).
    """

    #: The fields in their (and ``__init__``'s) order, for ``__eq__`` and ``__repr__``.
    _FIELDS = (
        "root",
        "log",
        "log_format",
        "debug",
        "platform",
        "network",
        "directfs",
        "systemd_cgroup",
    )
    __slots__ = _FIELDS

    root: str
    log: str
    log_format: str
    debug: bool
    platform: str
    network: str
    directfs: bool
    # Accepted for runc compatibility: cgroupsPath is then in systemd's
    # "slice:prefix:name" form (see runtime.cgroups.systemd_path).
    systemd_cgroup: bool

    def __init__(  # noqa: PLR0917 - positional, as the dataclass's were
        self,
        root: str = DEFAULT_ROOT,
        log: str = "",
        log_format: str = "text",
        debug: bool = False,
        platform: str = "ptrace",
        network: str = "sandbox",
        directfs: bool = True,
        systemd_cgroup: bool = False,
    ) -> None:
        if log_format not in LOG_FORMATS:
            raise UsageError(f"invalid log-format: {log_format}")
        if platform not in PLATFORMS:
            raise UsageError(f"invalid platform {platform!r} (choose from {', '.join(PLATFORMS)})")
        if network not in NETWORKS:
            raise UsageError(f"invalid network {network!r} (choose from {', '.join(NETWORKS)})")
        init = object.__setattr__
        init(self, "root", root)
        init(self, "log", log)
        init(self, "log_format", log_format)
        init(self, "debug", debug)
        init(self, "platform", platform)
        init(self, "network", network)
        init(self, "directfs", directfs)
        init(self, "systemd_cgroup", systemd_cgroup)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"RuntimeConfig is immutable (cannot set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"RuntimeConfig is immutable (cannot delete {name!r})")

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._FIELDS)

    def __eq__(self, other: object) -> bool:
        if type(other) is not RuntimeConfig:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._FIELDS)
        return f"RuntimeConfig({args})"

    def to_flags(self) -> list[str]:
        """The global flags that reproduce this configuration."""
        flags = [
            f"--root={self.root}",
            f"--log-format={self.log_format}",
            f"--platform={self.platform}",
            f"--network={self.network}",
            f"--directfs={'true' if self.directfs else 'false'}",
        ]
        if self.log:
            flags.append(f"--log={self.log}")
        if self.debug:
            flags.append("--debug")
        if self.systemd_cgroup:
            flags.append("--systemd-cgroup")
        return flags
