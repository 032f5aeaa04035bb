"""``start``: find or launch the pod's shim and print its address.

containerd runs ``start`` with the bundle as cwd and reads stdout and stderr
together (CombinedOutput), so nothing but the answer may be printed, and
the daemon must not inherit those pipes (reference §1.3-1.5). Steps (runc
v2 manager Start): grouping key → socket address; if a live shim already
listens there (EADDRINUSE + connectable), reuse it; else listen, write the
bundle's ``address`` file and start the daemon (own session, stdio on
/dev/null, the listening socket as fd 3, and a zygote started beside it
as fd 4: ``runtime.zygote``). The answer is the plain address
(every containerd accepts it), or a BootstrapResult proto (version 2,
ttrpc) when containerd 2.3+ sent BootstrapParams.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import socket
import subprocess
import sys

from protos.containerd.runtime.bootstrap.v1 import bootstrap_pb2
from runtime.zygote.client import launch as zygote_launch
from shim import address as addr
from shim import backends, options
from shim.flags import Flags

log = logging.getLogger("pysandbox.shim")

DAEMON_ENV = {"GOMAXPROCS": "2"}
LISTEN_FD = 3
#: Where the daemon finds the zygote ``start`` launched, named with its pid
#: in ``$PYSANDBOX_ZYGOTE`` ("FD:PID").
ZYGOTE_FD = 4
ZYGOTE_ENV = "PYSANDBOX_ZYGOTE"


class StartError(Exception):
    """``start`` cannot complete; the message goes to containerd."""


def daemon_argv(flags: Flags, grpc_address: str, namespace: str) -> list[str]:
    """How to re-execute ourselves as the serving daemon."""
    exe = os.path.realpath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if exe and os.access(exe, os.X_OK) and not exe.endswith(".py"):
        base = [exe]
    else:
        base = [sys.executable, "-m", "shim.entry"]
    argv = [*base, "-namespace", namespace, "-id", flags.id, "-address", grpc_address]
    if flags.debug:
        argv.append("-debug")
    return argv


def start(flags: Flags, stdin: bytes, bundle: str | None = None) -> bytes:
    """Do ``start``; returns what to print on stdout."""
    bundle = bundle or os.getcwd()
    if not flags.id:
        raise StartError("start: -id is required")
    try:
        received = options.parse_start_stdin(stdin)
        config = options.config_from_options(received.options)
    except options.OptionsError as exc:
        raise StartError(str(exc)) from None
    options.save(bundle, config)
    boot = received.bootstrap
    namespace = (
        flags.namespace or (boot.namespace if boot else "") or os.environ.get("NAMESPACE", "")
    )
    grpc_address = flags.address or (boot.containerd_grpc_address if boot else "")
    grpc_address = grpc_address or os.environ.get("GRPC_ADDRESS", "")
    if not namespace:
        raise StartError("start: -namespace is required")
    socket_dir = boot.socket_dir if boot is not None and boot.HasField("socket_dir") else ""
    group = addr.grouping_key(bundle, flags.id)
    try:
        address = addr.socket_address(grpc_address, namespace, group, socket_dir or addr.SOCKET_DIR)
    except addr.AddressError as exc:
        raise StartError(str(exc)) from None
    try:
        listener = addr.listen(address)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise StartError(f"cannot listen on {address}: {exc.strerror}") from None
        if addr.can_connect(address):
            # Another container of this pod already has its shim: share it.
            addr.write_address(bundle, address)
            return _answer(address, boot)
        addr.remove_socket(address)
        try:
            listener = addr.listen(address)
        except OSError as exc2:
            raise StartError(f"cannot listen on {address}: {exc2.strerror}") from None
    zygote_sock: socket.socket | None = None
    try:
        addr.write_address(bundle, address)
        env = dict(os.environ)
        env.update(DAEMON_ENV)
        if config.zygote and not os.environ.get(backends.ENV):
            # Started now, it imports while the daemon starts up; the daemon
            # adopts it (runtime.zygote, shim.serve).
            try:
                # containerd reads start's output to EOF: not to the zygote.
                zygote_sock, zygote_pid = zygote_launch(quiet=True)
            except OSError as exc:
                log.warning("cannot start the zygote: %s", exc)
            else:
                env[ZYGOTE_ENV] = f"{ZYGOTE_FD}:{zygote_pid}"
        if boot is not None:
            env.setdefault("TTRPC_ADDRESS", boot.containerd_ttrpc_address)
        env.setdefault("NAMESPACE", namespace)
        fd = listener.fileno()
        daemon = subprocess.Popen(
            daemon_argv(flags, grpc_address, namespace),
            cwd=bundle,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(fd,) if zygote_sock is None else (fd, zygote_sock.fileno()),
            # `start` is single-threaded, so preexec_fn is safe here.
            preexec_fn=_place_fds(fd, zygote_sock.fileno() if zygote_sock else -1),  # noqa: PLW1509
            start_new_session=True,
            close_fds=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        addr.remove_socket(address)
        raise StartError(f"cannot start the shim daemon: {exc}") from None
    finally:
        listener.close()
        if zygote_sock is not None:
            zygote_sock.close()
    adjust_oom_score(daemon.pid)
    return _answer(address, boot)


def adjust_oom_score(pid: int, parent: int | None = None) -> None:
    """Make the shim one step likelier to be OOM-killed than containerd.

    As containerd's shims (runtime/v2/shim/util_unix.go AdjustOOMScore):
    containerd's own oom_score_adj + 1, at most 1000 (proc(5)). Raising a
    score needs no privilege; a failure only costs that preference.
    """
    parent = os.getppid() if parent is None else parent
    try:
        with open(f"/proc/{parent}/oom_score_adj", encoding="ascii") as f:
            score = min(int(f.read()) + 1, 1000)
        with open(f"/proc/{pid}/oom_score_adj", "w", encoding="ascii") as f:
            f.write(str(score))
    except (OSError, ValueError):
        pass


def _place_fds(listen_fd: int, zygote_fd: int):  # type: ignore[no-untyped-def]
    """The listening socket at fd 3 and the zygote's socket (if any) at
    ``ZYGOTE_FD``, parked high first so neither overwrites the other."""

    def setup() -> None:
        moves = [(listen_fd, LISTEN_FD)] + ([(zygote_fd, ZYGOTE_FD)] if zygote_fd >= 0 else [])
        parked = [(fcntl.fcntl(src, fcntl.F_DUPFD, 100), dst) for src, dst in moves]
        for src, dst in parked:
            os.dup2(src, dst)
            os.close(src)

    return setup


def _answer(address: str, boot: bootstrap_pb2.BootstrapParams | None) -> bytes:
    if boot is None:
        return address.encode()
    return bootstrap_pb2.BootstrapResult(
        version=2, address=address, protocol="ttrpc"
    ).SerializeToString()
