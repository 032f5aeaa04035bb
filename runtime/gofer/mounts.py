"""The resolved mount list the gofer sends back (seed ``resolveMounts``/``writeMounts``).

Bind mounts the gofer serves get their destination as resolved inside the
root (no symlinks left) and options adjusted for the host file system;
every other mount passes through untouched. Wire format: a JSON array of
OCI mount objects, written whole to the mounts FD, then EOF.
"""

from __future__ import annotations

import json
import os
from typing import Any

from runtime import hostsys
from runtime.errors import RuntimeFailure
from runtime.gofer.mountconf import GoferMountConf
from runtime.gofer.resolve import container_path, resolve_symlinks
from runtime.spec import Mount, Spec


def adjust_options(host_path: str, options: tuple[str, ...]) -> tuple[str, ...]:
    """Seed ``adjustMountOptions``: hints for file systems the Sentry must treat specially."""
    fs_type = hostsys.statfs_type(host_path)
    if fs_type == hostsys.OVERLAYFS_SUPER_MAGIC:
        return (*options, "overlayfs_stale_read")
    if fs_type == hostsys.NFS_SUPER_MAGIC:
        # NFS flushes on close(2); shared host handles would hide the app's close.
        return (*options, "disable_file_handle_sharing")
    return options


def resolve_mounts(spec: Spec, root: str, confs: list[GoferMountConf]) -> list[Mount]:
    """Mount points must already be in place (seed: after ``setupMounts``)."""
    out = []
    served = iter(confs[1:])
    for m in spec.mounts:
        if not m.is_bind:
            out.append(m)
            continue
        conf = next(served)
        if not conf.served:
            out.append(m)
            continue
        host = resolve_symlinks(root, m.destination)
        out.append(
            Mount(
                destination=container_path(root, host),
                type=m.type,
                source=m.source,
                options=adjust_options(host, m.options),
            )
        )
    return out


def encode(mounts: list[Mount]) -> bytes:
    return json.dumps([m.to_json() for m in mounts]).encode()


def decode(data: bytes) -> list[dict[str, Any]]:
    """Parse the gofer's mount list; EOF without data means the gofer failed."""
    if not data:
        raise RuntimeFailure("the gofer exited before sending its resolved mounts")
    try:
        mounts = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RuntimeFailure(f"malformed mounts from the gofer: {exc}") from None
    if not isinstance(mounts, list):
        raise RuntimeFailure("malformed mounts from the gofer: not a JSON array")
    return mounts


def write_all(fd: int, data: bytes) -> None:
    """Write everything, then close (the reader waits for EOF)."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def read_all(fd: int) -> list[dict[str, Any]]:
    """The reader's side: everything until EOF, decoded."""
    chunks = []
    try:
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return decode(b"".join(chunks))
