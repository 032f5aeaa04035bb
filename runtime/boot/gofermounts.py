"""A container's mounts as the Sentry builds them, from its gofer connections.

Shared by the root container (``boot``) and subcontainers
(``CreateSubcontainer``): the gofer's resolved mounts replace the spec's,
the root's directory FD comes from the first connection, and each bind
mount's FD (a directory, or the file itself for a single-file mount) from
the next one, in spec order (directfs, ``runtime.gofer.directfs``).
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

from runtime import spec as ocispec
from runtime.errors import RuntimeFailure
from runtime.gofer import directfs


class SpecMount:
    """One spec mount as the Sentry builds it; ``root_fd`` for gofer binds.

    (Boot's records are plain classes: defining a dataclass costs every
    sandbox start ~0.5 ms, and importing ``dataclasses`` several more.)"""

    __slots__ = ("destination", "options", "readonly", "root_fd", "type")

    destination: str
    type: str
    options: tuple[str, ...]
    root_fd: int
    readonly: bool

    def __init__(
        self,
        destination: str,
        type: str,
        options: tuple[str, ...],
        root_fd: int = -1,
        readonly: bool = False,
    ) -> None:
        self.destination = destination
        self.type = type
        self.options = options
        self.root_fd = root_fd
        self.readonly = readonly

    def __repr__(self) -> str:
        return (
            f"SpecMount({self.destination!r}, {self.type!r}, {self.options!r}, "
            f"root_fd={self.root_fd}, readonly={self.readonly})"
        )


class GoferMounts:
    """The donated FDs of one container: its root and its spec mounts."""

    root_fd: int
    readonly_root: bool
    mounts: list[SpecMount]

    def __init__(
        self, root_fd: int, readonly_root: bool, mounts: list[SpecMount] | None = None
    ) -> None:
        self.root_fd = root_fd
        self.readonly_root = readonly_root
        self.mounts = [] if mounts is None else mounts

    @property
    def donated(self) -> list[int]:
        return [self.root_fd, *(m.root_fd for m in self.mounts if m.root_fd >= 0)]

    def close(self) -> None:
        """Close FDs not yet handed to a file system (on a failed setup)."""
        for fd in self.donated:
            try:
                os.close(fd)
            except OSError:
                pass


def mount_from_json(d: Any) -> ocispec.Mount:
    """One entry of the gofer's mounts JSON (OCI mount fields)."""
    if not isinstance(d, dict):
        raise RuntimeFailure(f"bad mounts JSON from the gofer: {d!r}")
    options = d.get("options") or []
    if not isinstance(options, list):
        raise RuntimeFailure(f"bad mounts JSON from the gofer: {d!r}")
    return ocispec.Mount(
        destination=str(d.get("destination", "")),
        type=str(d.get("type", "")),
        source=str(d.get("source", "")),
        options=tuple(str(o) for o in options),
    )


def decode_resolved(data: bytes) -> list[ocispec.Mount]:
    try:
        raw = json.loads(data or b"[]")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RuntimeFailure(f"malformed resolved mounts: {exc}") from None
    if not isinstance(raw, list):
        raise RuntimeFailure("malformed resolved mounts: not a JSON array")
    return [mount_from_json(m) for m in raw]


def collect(
    spec: ocispec.Spec, mounts: list[ocispec.Mount], gofers: list[socket.socket]
) -> GoferMounts:
    """Ask each gofer connection for its FD; ``mounts`` are the resolved ones."""
    if not gofers:
        raise RuntimeFailure("no gofer connection for the container root")
    root_fd, reply = directfs.request_root(gofers[0])
    out = GoferMounts(root_fd, bool(reply.get("readonly", spec.root.readonly)))
    binds = iter(gofers[1:])
    try:
        for m in mounts:
            sm = SpecMount(m.destination, m.type, tuple(m.options))
            if m.is_bind:
                conn = next(binds, None)
                if conn is None:
                    raise RuntimeFailure(f"no gofer connection for bind mount {m.destination}")
                sm.root_fd, bind_reply = directfs.request_root(conn)
                sm.readonly = bool(bind_reply.get("readonly", False))
            out.mounts.append(sm)
    except BaseException:
        out.close()
        raise
    return out
