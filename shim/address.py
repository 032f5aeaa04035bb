"""Where a shim listens: the socket address derived from the grouping key.

containerd 1.6 ``shim.SocketAddress`` (runtime/v2/shim/util_unix.go):
``unix:///run/containerd/s/<hex sha256 of <grpc address>/<ns>/<group>>`` —
always under /run/containerd/s whatever containerd's --state (2.3 may name
another directory in BootstrapParams.socket_dir). The grouping key is the
pod's sandbox id from the spec annotations, so every container of a pod
computes the same address and lands in the same shim (reference §5.2).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket

SOCKET_DIR = "/run/containerd/s"
SOCKET_PATH_LIMIT = 106  # cd16 util_unix.go socketPathLimit
GROUP_ANNOTATIONS = (
    "io.containerd.runc.v2.group",
    "io.kubernetes.cri.sandbox-id",
    "io.kubernetes.cri-o.SandboxID",
)
CONNECT_TIMEOUT = 0.1  # cd16 CanConnect: 100 ms


class AddressError(Exception):
    """The socket address cannot be used."""


def grouping_key(bundle: str, task_id: str) -> str:
    """The pod's sandbox id from ``config.json`` annotations, else ``task_id``."""
    try:
        with open(os.path.join(bundle, "config.json"), encoding="utf-8") as f:
            spec = json.load(f)
    except (OSError, ValueError):
        return task_id
    annotations = spec.get("annotations") if isinstance(spec, dict) else None
    if isinstance(annotations, dict):
        for key in GROUP_ANNOTATIONS:
            value = annotations.get(key)
            if isinstance(value, str) and value:
                return value
    return task_id


def socket_address(
    containerd_address: str, namespace: str, group: str, socket_dir: str = SOCKET_DIR
) -> str:
    """``unix://<socket_dir>/<sha256>`` for this containerd, namespace and group."""
    digest = hashlib.sha256(os.path.join(containerd_address, namespace, group).encode()).hexdigest()
    address = f"unix://{os.path.join(socket_dir, digest)}"
    if len(socket_path(address)) > SOCKET_PATH_LIMIT:
        raise AddressError(
            f"socket path too long ({len(address)} > {SOCKET_PATH_LIMIT}): {address}"
        )
    return address


def socket_path(address: str) -> str:
    """The filesystem path of a ``unix://`` address (abstract ones as ``\\0...``)."""
    if address.startswith("unix://"):
        return address[len("unix://") :]
    return "\0" + address


def can_connect(address: str) -> bool:
    """Whether a shim answers at ``address`` (dial within 100 ms)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(CONNECT_TIMEOUT)
        try:
            sock.connect(socket_path(address))
        except OSError:
            return False
    return True


def listen(address: str) -> socket.socket:
    """Listen on ``address``: mkdir -p the directory, bind, chmod 0600.

    EADDRINUSE is left to the caller (reuse or replace a stale socket).
    """
    path = socket_path(address)
    if not path.startswith("\0"):
        os.makedirs(os.path.dirname(path), mode=0o711, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        if not path.startswith("\0"):
            os.chmod(path, 0o600)
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


def remove_socket(address: str) -> None:
    path = socket_path(address)
    if path.startswith("\0"):
        return
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def write_address(bundle: str, address: str) -> None:
    """``<bundle>/address`` written atomically (cd16 WriteAddress: .address → address)."""
    tmp = os.path.join(bundle, ".address")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(address)
    os.rename(tmp, os.path.join(bundle, "address"))


def read_address(bundle: str) -> str | None:
    try:
        with open(os.path.join(bundle, "address"), encoding="utf-8") as f:
            return f.read().strip() or None
    except FileNotFoundError:
        return None
