"""The zygote process: import once, fork a child per request.

It stays single-threaded (forking a threaded process can leave a lock held
in the child) and imports everything ``pysandbox boot`` and ``gofer``
load, the Sentry included (through ``importlib``, as the CLI dispatches
``boot``), so a forked child starts where a new interpreter would be a
quarter of a second later. The caller's socket closing ends the zygote; its
children live on (a shim is their subreaper).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import socket
import sys

from runtime.spawn import SpawnRequest, become, recv_with_fds

#: What boot and the gofer import, loaded before the first fork.
PRELOAD = (
    "runtime.cli.main",
    "runtime.gofer.main",
    "runtime.boot.main",
    "runtime.boot.loader",
    "runtime.boot.controller",
    "runtime.boot.fdlistener",
    "sentry.syscalls.linux64",
    "sentry.fsimpl.setup",
    "sentry.platform.ptrace",
    "sentry.platform.kvm",
    "ttrpc",
)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        sys.stderr.write("usage: python -m runtime.zygote FD\n")
        return 2
    sock = socket.socket(fileno=int(argv[0]))
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception as exc:  # e.g. a missing extension: children report it themselves
            sys.stderr.write(f"pysandbox zygote: cannot preload {name}: {exc}\n")
    try:
        # The rest of the Sentry, for either platform: what boot would
        # otherwise import in every child before it pivots.
        importlib.import_module("runtime.boot.codecache").preload(everything=True)
    except Exception as exc:
        sys.stderr.write(f"pysandbox zygote: cannot preload the Sentry: {exc}\n")
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    sock.send(b'{"ready": true}')
    children: dict[int, socket.socket] = {}
    while True:
        ready, _, _ = select.select([sock.fileno(), wake_r], [], [])
        if wake_r in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 4096)
            _reap(children)
        if sock.fileno() in ready:
            try:
                msg, fds = recv_with_fds(sock)
            except InterruptedError:
                continue
            if not msg:
                return 0
            try:
                pid, status_sock = _fork(msg, fds, sock=sock, children=children)
            except Exception as exc:
                for fd in fds:
                    os.close(fd)
                sock.send(json.dumps({"error": str(exc) or type(exc).__name__}).encode())
                continue
            children[pid] = status_sock
            sock.send(json.dumps({"pid": pid}).encode())
            _reap(children)


def _reap(children: dict[int, socket.socket]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        out = children.pop(pid, None)
        if out is not None:
            with contextlib.suppress(OSError):
                out.send(json.dumps({"status": status}).encode())
            out.close()


def _fork(
    msg: bytes, fds: list[int], *, sock: socket.socket, children: dict[int, socket.socket]
) -> tuple[int, socket.socket]:
    request = SpawnRequest.decode(msg)
    targets = request.targets
    want = len(targets) + 1 + (1 if request.stderr else 0)
    if len(fds) != want:
        raise ValueError(f"expected {want} descriptors, got {len(fds)}")
    passed, status_fd = fds[: len(targets)], fds[len(targets)]
    stderr_fd = fds[-1] if request.stderr else None
    pid = os.fork()
    if pid == 0:
        # The child closes every FD it does not keep: let no socket object
        # close a number later reused.
        sock.detach()
        for other in children.values():
            other.detach()
        become(request.args, targets, passed, stderr_fd, request.env, new_session=request.setsid)
    for fd in passed:
        os.close(fd)
    if stderr_fd is not None:
        os.close(stderr_fd)
    return pid, socket.socket(fileno=status_fd)
