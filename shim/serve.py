"""The shim daemon: ttrpc Task service on fd 3 (or ``-socket``) until empty.

What containerd expects of the long-running shim (reference §1.7): logs
on the bundle's ``log`` FIFO (dup'ed over stderr), child subreaper,
SIGTERM/SIGINT shut down, SIGPIPE ignored, peers must be our own uid/gid
(ttrpc UnixSocketRequireSameUser), and on exit the socket named in the
``address`` file removed after the event queue drained (≤5 s).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys

import anyio

import ttrpc
from runtime import hostsys, spawn
from runtime.zygote import Zygote
from shim import address as addr
from shim import backends, options, reaper
from shim.events import Publisher
from shim.flags import Flags
from shim.service import TaskService
from shim.start import ZYGOTE_ENV

log = logging.getLogger("pysandbox.shim")

LISTEN_FD = 3
DRAIN_TIMEOUT = 5.0
REAP_INTERVAL = 5.0


def setup_logging(debug: bool, extra_file: str = "") -> None:
    """Log to the ``log`` FIFO in cwd (containerd copies it to its log)."""
    with contextlib.suppress(OSError):
        # containerd holds the FIFO open O_RDWR, so this does not block;
        # without a reader (a shim started by hand) O_NONBLOCK fails: keep stderr.
        fd = os.open("log", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        os.set_blocking(fd, True)
        os.dup2(fd, 2)
        os.close(fd)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if extra_file:
        with contextlib.suppress(OSError):
            os.makedirs(os.path.dirname(extra_file) or ".", exist_ok=True)
            handlers.append(logging.FileHandler(extra_file))
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format='time="%(asctime)s" level=%(levelname)s msg="%(message)s" runtime=io.pysandbox.v2',
        handlers=handlers,
        force=True,
    )


def serve(flags: Flags) -> int:
    """Run the daemon; returns the exit status."""
    config = options.load_saved(os.getcwd()) or options.ShimConfig()
    setup_logging(flags.debug or config.debug, config.shim_log.replace("%ID%", flags.id))
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        hostsys.prctl(reaper.PR_SET_CHILD_SUBREAPER, 1)
    if flags.socket:
        listener = addr.listen(flags.socket if "://" in flags.socket else f"unix://{flags.socket}")
    else:
        try:
            listener = socket.socket(fileno=LISTEN_FD)
        except OSError as exc:
            log.error("no listening socket on fd %d and no -socket: %s", LISTEN_FD, exc)
            return 1
    backend = backends.load(config, flags.id)
    # Only a backend that starts sandbox processes has use for the zygote.
    zygote = _zygote(config.zygote and getattr(backend, "spawns_sandboxes", False))
    ttrpc_address = os.environ.get("TTRPC_ADDRESS", "")
    namespace = flags.namespace or os.environ.get("NAMESPACE", "") or "default"
    try:
        anyio.run(_serve, listener, backend, ttrpc_address, namespace)
    finally:
        if zygote is not None:
            spawn.install_forker(None)
            zygote.close()
        bound = addr.read_address(os.getcwd())
        if bound:
            addr.remove_socket(bound)
        elif flags.socket:
            addr.remove_socket(flags.socket)
    log.info("shim exiting")
    return 0


def _zygote(wanted: bool) -> Zygote | None:
    """Adopt the zygote ``start`` launched beside us (``$PYSANDBOX_ZYGOTE``),
    or start one now, and route boot and gofer spawns through it."""
    handed = os.environ.pop(ZYGOTE_ENV, "")
    zygote: Zygote | None = None
    try:
        if handed:
            fd, _, pid = handed.partition(":")
            zygote = Zygote.adopt(int(fd), int(pid))
        elif wanted:
            zygote = Zygote.start()
            reaper.protect(zygote.pid)
    except (OSError, ValueError) as exc:
        log.warning("no zygote (%s): sandboxes start new interpreters", exc)
        return None
    if zygote is not None and not wanted:
        zygote.close()
        return None
    if zygote is not None:
        spawn.install_forker(zygote)
    return zygote


async def _serve(
    listener: socket.socket, backend: backends.Backend, ttrpc_address: str, namespace: str
) -> None:
    server = ttrpc.Server(handshake=ttrpc.require_same_user())
    publisher = Publisher(ttrpc_address, namespace)

    async def on_empty() -> None:
        await server.shutdown()

    service = TaskService(backend, publisher, namespace=namespace, on_empty=on_empty)
    service.register(server)
    async with anyio.create_task_group() as tg:
        tg.start_soon(publisher.run)
        await tg.start(service.run)
        tg.start_soon(_signals, server)
        tg.start_soon(_reap_loop)
        log.info("serving containerd.task.v2.Task (pid %d)", os.getpid())
        await server.serve_socket(listener)
        await publisher.drain(DRAIN_TIMEOUT)
        tg.cancel_scope.cancel()


async def _signals(server: ttrpc.Server) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGCHLD) as signals:
        async for signum in signals:
            if signum == signal.SIGCHLD:
                reaper.reap_orphans()
                continue
            log.info("signal %d: shutting down", signum)
            await server.shutdown(grace_period=2.0)


async def _reap_loop() -> None:
    while True:
        await anyio.sleep(REAP_INTERVAL)
        reaper.reap_orphans()
