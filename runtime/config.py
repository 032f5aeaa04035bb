"""Runtime-wide configuration: the global flags of the ``pysandbox`` CLI.

The same object is built by the shim in-process, and is turned back into
flags (``to_flags``) when the runtime re-executes itself as ``boot`` or
``gofer`` (seed: ``conf.ToFlags()``, global flags before the subcommand).
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.errors import UsageError

#: Where container state lives unless ``--root`` says otherwise (runc: /run/runc).
DEFAULT_ROOT = "/run/pysandbox"

PLATFORMS = ("ptrace", "kvm")
NETWORKS = ("sandbox", "host", "none")
LOG_FORMATS = ("text", "json")


@dataclass(frozen=True)
class RuntimeConfig:
    """Global options shared by every command."""

    root: str = DEFAULT_ROOT
    log: str = ""
    log_format: str = "text"
    debug: bool = False
    platform: str = "ptrace"
    network: str = "sandbox"
    directfs: bool = True
    # Accepted for runc compatibility: cgroupsPath is then in systemd's
    # "slice:prefix:name" form (see runtime.cgroups.systemd_path).
    systemd_cgroup: bool = False

    def __post_init__(self) -> None:
        if self.log_format not in LOG_FORMATS:
            raise UsageError(f"invalid log-format: {self.log_format}")
        if self.platform not in PLATFORMS:
            raise UsageError(
                f"invalid platform {self.platform!r} (choose from {', '.join(PLATFORMS)})"
            )
        if self.network not in NETWORKS:
            raise UsageError(
                f"invalid network {self.network!r} (choose from {', '.join(NETWORKS)})"
            )

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
