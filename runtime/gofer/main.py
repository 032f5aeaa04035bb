"""``pysandbox gofer``: the gofer process (seed ``Gofer.Execute``).

Order (seed gofer.go, adapted to a process that needs no re-exec):
validate flags; read the spec from ``--spec-fd``; enter a new mount
namespace and build the root (``rootfs.setup_rootfs``, ending in
pivot_root); resolve the mounts; reduce capabilities to the six the seed
keeps (before any thread exists: capabilities are per thread); chroot into
the container root; install the seccomp filter (``runtime.seccomp``);
write the resolved mounts to ``--mounts-fd`` from a thread (the write may
block until the sandbox reads); umask(0); serve.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket

from runtime import capabilities, hostsys, seccomp
from runtime import spec as ocispec
from runtime.cli._args import Parser, parse_bool
from runtime.config import RuntimeConfig
from runtime.errors import RuntimeFailure, UsageError
from runtime.gofer import directfs, mountconf, mounts, rootfs
from runtime.gofer.resolve import container_path

log = logging.getLogger("pysandbox.gofer")


def _fd_list(text: str) -> list[int]:
    try:
        fds = [int(x) for x in text.split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid FD list {text!r}") from None
    return fds


def parser() -> Parser:
    p = Parser(prog="pysandbox gofer", description="internal: the gofer process")
    p.add_argument("--bundle", default="", help="bundle directory")
    p.add_argument("--spec-fd", type=int, default=-1, help="FD of config.json")
    p.add_argument("--mounts-fd", type=int, default=-1, help="FD to write the resolved mounts to")
    p.add_argument("--io-fds", type=_fd_list, default=[], help="one socket FD per served mount")
    p.add_argument("--gofer-mount-confs", default="", help="root first, then each bind mount")
    p.add_argument("--dev-io-fd", type=int, default=-1, help="FD serving /dev (not supported)")
    p.add_argument("--apply-caps", type=parse_bool, default=True, help="keep only six capabilities")
    p.add_argument("--setup-root", type=parse_bool, default=True, help="build and pivot the root")
    return p


def connections(
    spec: ocispec.Spec,
    root: str,
    confs: list[mountconf.GoferMountConf],
    io_fds: list[int],
    resolved: list[ocispec.Mount],
) -> list[directfs.Connection]:
    """Seed ``serve``: root first, then each served mount, FDs matched exactly."""
    fds = list(io_fds)
    conns = []

    def take(what: str) -> socket.socket:
        if not fds:
            raise UsageError(f"no FD found for {what}. Did you forget --io-fds?")
        fd = fds.pop(0)
        try:
            return socket.socket(fileno=fd)
        except OSError:
            raise UsageError(f"--io-fds: FD {fd} (for {what}) is not a socket") from None

    if confs[0].served:
        # An overlaid root is writable: its writes go to the gofer's
        # in-memory upper layer (rootfs._mount_overlay), never to the host.
        ro = spec.root.readonly
        conns.append(directfs.Connection(take("the root"), root, ro))
    binds = [m for m in resolved if m.is_bind]
    for m, conf in zip(binds, confs[1:], strict=True):
        if not conf.served:
            continue
        if not m.destination.startswith("/"):
            raise UsageError(f"mount destination must be absolute: {m.destination!r}")
        path = os.path.join(root, m.destination.lstrip("/"))
        conns.append(directfs.Connection(take(m.destination), path, m.readonly or conf.overlaid))
    if fds:
        raise UsageError(
            f"too many FDs passed for mounts. mounts: {len(conns)}, FDs: {len(io_fds)}"
        )
    return conns


def main(conf: RuntimeConfig, argv: list[str]) -> int:
    """Run the gofer; host errors become one-line ``RuntimeFailure``s."""
    try:
        return _run(conf, argv)
    except OSError as exc:
        message = exc.strerror or str(exc)
        if exc.filename and str(exc.filename) not in message:
            message += f": {exc.filename}"
        raise RuntimeFailure(f"gofer: {message}") from None


def _run(conf: RuntimeConfig, argv: list[str]) -> int:
    ns = parser().parse_args(argv)
    if not ns.bundle or not ns.io_fds or ns.spec_fd < 0:
        raise UsageError("gofer: --bundle, --io-fds and --spec-fd are required")
    if ns.dev_io_fd >= 0:
        raise UsageError("gofer: --dev-io-fd (device passthrough) is not supported")
    if not conf.directfs:
        raise RuntimeFailure("gofer: RPC mode (--directfs=false) is not available yet")
    spec = ocispec.load_for_boot(ns.spec_fd, ns.bundle)
    os.close(ns.spec_fd)
    binds = rootfs.gofer_mounts(spec)
    confs = (
        mountconf.parse(ns.gofer_mount_confs)
        if ns.gofer_mount_confs
        else [mountconf.GoferMountConf()] * (1 + len(binds))
    )
    if len(confs) != 1 + len(binds):
        raise UsageError(
            f"gofer: {len(confs)} mount confs for {1 + len(binds)} mounts (root + binds)"
        )

    root = spec.root.path
    server_fd = directfs.open_server()
    if ns.setup_root:
        # Our own mount namespace: nothing mounted here is seen by the host.
        hostsys.unshare(hostsys.CLONE_NEWNS)
        root = rootfs.setup_rootfs(spec, confs)
    resolved = mounts.resolve_mounts(spec, root, confs)
    conns = connections(spec, root, confs, ns.io_fds, resolved)

    if ns.apply_caps:
        capabilities.reduce_to(capabilities.GOFER_CAPS)
    if ns.setup_root:
        os.chroot(root)
        os.chdir("/")
        # Served paths are now relative to the chroot.
        for c in conns:
            c.mount_path = container_path(root, c.mount_path)
        log.info("chroot'd to %s", root)
    # After chroot, which it denies; the serving program inherits it.
    seccomp.install()

    if ns.mounts_fd >= 0:
        # Whoever started us reads them now (boot, or the CLI for a
        # subcontainer), before it asks for any FD.
        mounts.write_all(ns.mounts_fd, mounts.encode(resolved))
    log.debug("serving %d mount(s)", len(conns))
    logging.shutdown()
    directfs.exec_server(server_fd, conns)
