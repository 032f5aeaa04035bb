"""``pysandbox boot``: the sandbox process hosting the Sentry (seed ``Boot.Execute``).

    pysandbox [global flags] boot --bundle=DIR --spec-fd=N --controller-fd=N
        --start-sync-fd=N --io-fds=N[,N...] [--mounts-fd=N] [--stdio-fds=0,1,2]
        [--console-fd=N] [--attached] [--setup-root=true] [--apply-caps=true]
        [--seccomp=true] ID

Order (seed B24:231-529, without re-execs: Python confines itself in
process, before any thread exists):

1. validate flags; PR_SET_PDEATHSIG when ``--attached``;
2. read the spec from its FD and close it; join or create the network
   namespace (``runtime.network``: the spec's path, the host's, or a new
   one with loopback up); new mount, IPC and UTS namespaces — the Sentry
   virtualises them; no new PID namespace on ptrace (seed:
   ``RequiresCurrentPIDNS``);
3. read the resolved mounts;
4. ask the gofer for the container root's directory FD (directfs);
5. build the Sentry (``Loader``) while the host's files are reachable;
6. confine: no stray directory FDs (checked before the Sentry opens its
   own), empty read-only root, /proc unmounted, RLIMIT_NOFILE,
   capabilities dropped, seccomp;
7. write the start-sync byte; serve the control API; the Sentry runs the
   container when StartRoot arrives;
8. exit with the application's status (its code, or 128 + signal).

With ``--console-fd`` (``process.terminal``) the init's stdio is a sandbox
terminal driven through that host pty replica (``sentry.fsimpl.devpts.
console``) instead of ``--stdio-fds``. Boot, a session leader (the runtime
spawns it with setsid, as the seed does), makes that pty its controlling
terminal so that a TIOCSWINSZ on the master by whoever holds it (a console
socket's owner) reaches it as SIGWINCH, which becomes the sandbox's
SIGWINCH; SIGHUP from the host pty is ignored (the console's own hang-up
handling tells the sandbox).

Errors before the start-sync byte are written to the start-sync FD as one
line of text instead of the byte, so ``create`` can report them.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from runtime import hostsys, importbundle, network
from runtime import spec as ocispec
from runtime.boot import codecache, confine, gofermounts, syscall_filter
from runtime.cli._args import Parser, parse_bool
from runtime.config import RuntimeConfig
from runtime.errors import RuntimeFailure, UsageError

log = logging.getLogger("pysandbox.boot")

# The byte that tells the parent the sandbox is up (seed start-sync).
READY = b"\x01"
PR_SET_PDEATHSIG = 1

EXIT_SENTRY_ERROR = 125


def _fd_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid FD list {text!r}") from None


def parser() -> Parser:
    p = Parser(prog="pysandbox boot", description="internal: the sandbox process")
    p.add_argument("--bundle", default="", help="bundle directory")
    p.add_argument("--spec-fd", type=int, default=-1, help="FD of config.json")
    p.add_argument("--controller-fd", type=int, default=-1, help="listening control socket")
    p.add_argument("--start-sync-fd", type=int, default=-1, help="FD to write the ready byte to")
    p.add_argument("--io-fds", type=_fd_list, default=[], help="gofer connections, root first")
    p.add_argument("--mounts-fd", type=int, default=-1, help="FD to read the resolved mounts from")
    p.add_argument("--stdio-fds", type=_fd_list, default=[0, 1, 2], help="stdin,stdout,stderr")
    p.add_argument("--device-fd", type=int, default=-1, help="open /dev/kvm (platform kvm)")
    p.add_argument(
        "--console-fd", type=int, default=-1, help="host pty replica: the init's terminal"
    )
    p.add_argument("--attached", action="store_true", help="die with the parent")
    p.add_argument("--setup-root", type=parse_bool, default=True, help="pivot into an empty root")
    p.add_argument("--apply-caps", type=parse_bool, default=True, help="drop capabilities")
    p.add_argument("--seccomp", type=parse_bool, default=True, help="install the seccomp filter")
    p.add_argument("id", help="the sandbox (root container) ID")
    return p


def main(conf: RuntimeConfig, argv: list[str]) -> int:
    """Run the sandbox; never returns normally (the process ends here)."""
    ns = parser().parse_args(argv)
    if ns.spec_fd < 0 or ns.controller_fd < 0 or ns.start_sync_fd < 0 or not ns.io_fds:
        raise UsageError(
            "boot: --spec-fd, --controller-fd, --start-sync-fd and --io-fds are required"
        )
    if len(ns.stdio_fds) != 3:
        raise UsageError("boot: --stdio-fds needs exactly three FDs")
    try:
        server = _boot(conf, ns)
    except BaseException as exc:
        message = _one_line(exc)
        if conf.debug:
            import traceback

            traceback.print_exc()
        log.error("boot failed: %s", message)
        with contextlib.suppress(OSError):
            os.write(ns.start_sync_fd, message.encode(errors="replace")[:4000])
        sys.stderr.write(f"pysandbox boot: {message}\n")
        sys.stderr.flush()
        os._exit(EXIT_SENTRY_ERROR)
    status = server()
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    # Task threads may still sit in a host call (a sleep): leave without
    # joining them; the stubs die with the Sentry (PTRACE_O_EXITKILL, and end
    # of file on the park pipe for their parked leaders).
    os._exit(status)


def warm_up(conf: RuntimeConfig | None) -> None:
    """Import what boot will need before its arguments arrive (a warm
    child of the CLI, ``runtime.prefork``): the Sentry's core for
    ``conf``'s platform (every platform's without one) and ttrpc's threaded
    server; the rest of the Sentry's bytecode is read into
    ``codecache.CACHE`` for the imports that come after pivot_root."""
    from runtime.boot import controller, fdlistener, loader  # noqa: F401

    codecache.preload(conf.platform if conf is not None else None)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror + (f": {exc.filename}" if exc.filename else "")
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def _boot(conf: RuntimeConfig, ns: argparse.Namespace) -> Callable[[], int]:
    if ns.attached:
        hostsys.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if conf.platform == "kvm" and ns.device_fd < 0:
        raise RuntimeFailure("--platform=kvm needs --device-fd (an open /dev/kvm)")
    spec = ocispec.load_for_boot(ns.spec_fd, ns.bundle)
    # Seed: close the spec FD "to avoid exposing it to the sandbox".
    os.close(ns.spec_fd)
    # The network namespace first: a CNI path lives in the host's mount
    # namespace, and the Sentry's host sockets will be made in it.
    net = network.plan(conf.network, spec)
    network.enter(net)
    log.debug("sandbox %s runs in %s", ns.id, net.describe())
    hostsys.unshare(hostsys.CLONE_NEWNS | hostsys.CLONE_NEWIPC | hostsys.CLONE_NEWUTS)
    mounts = list(spec.mounts)
    if ns.mounts_fd >= 0:
        # The gofer's resolved mounts (seed: they replace spec.Mounts): bind
        # destinations with symlinks resolved inside the root.
        mounts = gofermounts.decode_resolved(_read_all(ns.mounts_fd))
        os.close(ns.mounts_fd)
    gofers = [socket.socket(fileno=fd) for fd in ns.io_fds]
    collected = gofermounts.collect(spec, mounts, gofers)
    donated = collected.donated
    root_fd, readonly, spec_mounts = collected.root_fd, collected.readonly_root, collected.mounts

    # Imported here, not at module level: only the boot process loads the
    # Sentry (import-linter contract), and only after its namespaces exist.
    from runtime.boot import controller, loader
    from sentry.kernel import RLimits

    console_fd = ns.console_fd if ns.console_fd >= 0 else None
    if console_fd is not None:
        _take_controlling_tty(console_fd)
    confine.validate_open_fds(donated)
    base_rlimits = RLimits.from_host()
    ldr = loader.Loader(
        spec,
        root_fd,
        tuple(ns.stdio_fds),
        readonly_root=readonly,
        base_rlimits=base_rlimits,
        mounts=spec_mounts,
        device_fd=ns.device_fd if conf.platform == "kvm" else None,
        console_fd=console_fd,
    )
    codecache.preload(conf.platform)
    # Nothing is imported from host files after this (codecache serves the
    # rest): no descriptor or mapping of one stays in the sandbox.
    importbundle.close()

    if ns.setup_root:
        confine.setup_root()
        confine.unmount_proc()
    confine.set_fd_limit()
    if ns.apply_caps:
        confine.drop_capabilities()
    if ns.seccomp:
        image = getattr(ldr.platform, "image", None)  # ptrace's stub; kvm has none
        syscall_filter.install(image.fd if image is not None else None)

    from runtime.boot.fdlistener import FDListener, FDStore

    store = FDStore()
    ctl = controller.Controller(ns.id, ldr, store)
    listener = FDListener(socket.socket(fileno=ns.controller_fd), store)
    os.write(ns.start_sync_fd, READY)
    os.close(ns.start_sync_fd)
    log.info("sandbox %s booted (platform %s)", ns.id, conf.platform)

    def serve() -> int:
        from ttrpc import SyncServer

        server = SyncServer(grace_period=2.0)
        server.register(controller.SERVICE, controller.methods(ctl))
        threading.Thread(
            target=server.serve_listener, args=(listener,), name="control", daemon=True
        ).start()
        # The caller now records the state and sends StartRoot (a few ms):
        # meanwhile, start the init's stub (~0.7 ms) and bind what every
        # program's start calls (~4 ms of imports), both of which would
        # otherwise come before the init's first instructions. A short
        # switch interval lets the control thread take the GIL as soon as
        # StartRoot arrives instead of after up to 5 ms.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(0.0002)
        try:
            ldr.platform.prepare()
            ldr.bind_startup_handlers()
        finally:
            sys.setswitchinterval(interval)
        try:
            if console_fd is not None:
                _forward_host_resizes(ctl)
            ctl.watch_exit()
            # Waiters are answered as soon as the init exits; give them
            # the grace period to read it, then stop.
            time.sleep(0.05)
            server.shutdown(grace_period=1.0)
            status = ctl.exit_status
            return EXIT_SENTRY_ERROR if status is None else status.shell_status()
        finally:
            ctl.drain_consoles()
            ldr.destroy()
            for g in gofers:
                g.close()

    return serve


def _take_controlling_tty(fd: int) -> None:
    """TIOCSCTTY on the init's host pty when boot leads its own session, so
    host resizes arrive as SIGWINCH; the host's SIGHUP is ignored."""
    import fcntl
    import termios

    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    if os.getsid(0) != os.getpid():
        log.debug("boot is not a session leader: host resizes arrive through the control API only")
        return
    try:
        fcntl.ioctl(fd, termios.TIOCSCTTY, 0)
    except OSError as exc:
        log.debug("TIOCSCTTY on the console: %s", exc)


def _forward_host_resizes(ctl: Any) -> None:
    """Host SIGWINCH (the controlling pty was resized) → the consoles re-read
    their size, on a thread of its own. The C-level signal handler writes
    each signal's number to a pipe (``signal.set_wakeup_fd``) whichever
    thread it interrupts; the thread reads the pipe. Call from the main
    thread."""
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    os.set_blocking(write_end, False)  # set_wakeup_fd never blocks a signal
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    # A Python-level handler, so the signal is caught, not ignored (SIGWINCH's
    # default action); the work is the thread's.
    signal.signal(signal.SIGWINCH, lambda signo, frame: None)

    def forward() -> None:
        while True:
            data = os.read(read_end, 64)
            if not data:
                return
            if signal.SIGWINCH in data:
                ctl.host_resized()

    threading.Thread(target=forward, name="sigwinch", daemon=True).start()
