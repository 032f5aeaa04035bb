"""Per-mount gofer configuration (seed ``boot.GoferMountConf``).

One entry for the root, then one per gofer (bind) mount in spec order,
encoded as ``--gofer-mount-confs=lisafs:none,lisafs:memory,...``: the lower
layer (``lisafs``: served by this gofer; ``none``: not served) and the
upper layer (``none``; ``memory``: writes are kept in memory and the host
files are never written). For the root, ``memory`` is an overlayfs the
gofer mounts over it with its upper layer on a tmpfs of the gofer's mount
namespace (``rootfs._mount_overlay``; ``pysandbox do``); a bind mount
with ``memory`` is mounted read-only instead (writes fail with EROFS: the
Sentry has no overlay of its own yet).
"""

from __future__ import annotations

from typing import NamedTuple

from runtime.errors import UsageError

LOWERS = ("lisafs", "none")
UPPERS = ("none", "memory")


class GoferMountConf(NamedTuple):
    """One mount's layers (a NamedTuple: cheaper to define than a frozen dataclass)."""

    lower: str = "lisafs"
    upper: str = "none"

    @property
    def served(self) -> bool:
        """Seed ``ShouldUseLisafs``: this gofer serves the mount."""
        return self.lower == "lisafs"

    @property
    def overlaid(self) -> bool:
        """Seed ``ShouldUseOverlayfs``: writes stay in the sandbox."""
        return self.upper != "none"

    def __str__(self) -> str:
        return f"{self.lower}:{self.upper}"


def parse(text: str) -> list[GoferMountConf]:
    """Decode the flag value; a bad entry is a usage error naming it."""
    out = []
    for item in text.split(","):
        lower, _, upper = item.partition(":")
        upper = upper or "none"
        if lower not in LOWERS or upper not in UPPERS:
            raise UsageError(
                f"invalid gofer mount conf {item!r} (expected LOWER:UPPER with LOWER in "
                f"{'/'.join(LOWERS)} and UPPER in {'/'.join(UPPERS)})"
            )
        out.append(GoferMountConf(lower, upper))
    return out


def encode(confs: list[GoferMountConf]) -> str:
    return ",".join(str(c) for c in confs)
