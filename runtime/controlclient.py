"""Synchronous client of a sandbox's control API (seed ``sandbox.call``).

Every call opens its own connection to the control socket, makes one ttrpc
call and closes it (seed: connect, call, close), so a long ``Wait`` never
holds up another call. Calls block (``ttrpc.SyncClient``): no event
loop in the CLI. ttrpc statuses become the runtime's one-line
errors: UNIMPLEMENTED is ``NotAvailable``, everything else
``RuntimeFailure`` with the sandbox's message.

File descriptors (exec stdio) travel out of band, before the ttrpc
frames: the preamble ``runtime.controlsock`` describes.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from typing import Any, TypeVar

from runtime import controlsock
from runtime.controlsock import FD_MAGIC, FD_TOKEN_KEY, FD_TOKEN_LEN, MAX_FDS
from runtime.errors import NotAvailable, RuntimeFailure
from ttrpc import Code, ConnectionClosed, SyncClient, TTRPCError

SERVICE = "pysandbox.control.v1.Control"

#: A response class of the control API (``protos.lite``'s control_lite).
M = TypeVar("M")

__all__ = ["FD_TOKEN_KEY", "SandboxGone", "call", "send_fds"]


def send_fds(sock: socket.socket, fds: Sequence[int]) -> str:
    """Send the FD preamble; returns the token the request must name."""
    if len(fds) > MAX_FDS:
        raise RuntimeFailure(f"too many FDs for one control call: {len(fds)} > {MAX_FDS}")
    token = os.urandom(FD_TOKEN_LEN // 2).hex()
    socket.send_fds(sock, [FD_MAGIC + token.encode()], list(fds))
    return token


class SandboxGone(RuntimeFailure):
    """The sandbox closed the connection (it exited or was killed)."""


def call(
    socket_path: str,
    method: str,
    request: Any,
    response_type: type[M],
    *,
    timeout: float | None = None,
    fds: Sequence[int] = (),
) -> M:
    """One unary call on a fresh connection to ``socket_path``, with ``fds``
    passed along (their indices are the request's ``*_fd`` fields).
    Blocking (``ttrpc.SyncClient``): no event loop to start per call."""
    client = SyncClient(controlsock.connect(socket_path))
    try:
        metadata = {FD_TOKEN_KEY: send_fds(client.socket, fds)} if fds else None
        return client.call(
            SERVICE, method, request, response_type, timeout=timeout, metadata=metadata
        )
    except ConnectionClosed as exc:
        # Before TTRPCError, of which it is a subclass: a sandbox that exits
        # while we send or wait (the app ended) is gone, not failing.
        raise SandboxGone(f"sandbox control connection closed during {method}: {exc}") from None
    except TTRPCError as exc:
        if exc.code == Code.UNIMPLEMENTED:
            raise NotAvailable(exc.message) from None
        raise RuntimeFailure(exc.message) from None
    finally:
        client.close()
