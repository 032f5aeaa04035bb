"""Host side: start a gofer for a container (seed ``createGoferProcess``).

The parent opens what the gofer needs and donates it: the spec FD, the
write end of the mounts pipe (it keeps the read end for the sandbox), and
one end of a SOCK_SEQPACKET socketpair per served mount (it keeps the other
end for the sandbox). The environment is cleared and stdin/stdout are
/dev/null, as for the sandbox process (seed S24:733-737, 946-953).
"""

from __future__ import annotations

import contextlib
import os
import socket
from typing import IO

from runtime.config import RuntimeConfig
from runtime.gofer import mountconf
from runtime.gofer.rootfs import gofer_mounts
from runtime.spawn import Process, spawn_self
from runtime.spec import CONFIG_FILE, ROOT_OVERLAY_ANNOTATION, Spec


class Gofer:
    """A running gofer and the ends the sandbox will receive.

    (A plain class: defining a dataclass costs every sandbox start ~0.5 ms.)"""

    process: Process
    mounts_fd: int  # read end: the resolved mounts JSON
    sockets: list[socket.socket]  # root first

    def __init__(
        self, process: Process, mounts_fd: int, sockets: list[socket.socket] | None = None
    ) -> None:
        self.process = process
        self.mounts_fd = mounts_fd
        self.sockets = [] if sockets is None else sockets

    def close(self) -> None:
        """Kill the gofer (if still running), reap it, close our ends."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for s in self.sockets:
            s.close()
        with contextlib.suppress(OSError):
            os.close(self.mounts_fd)


def wants_overlay(spec: Spec) -> bool:
    """Whether ``spec`` asks for the in-memory overlay over its root
    (``ROOT_OVERLAY_ANNOTATION``, which ``pysandbox do`` sets)."""
    return spec.annotations.get(ROOT_OVERLAY_ANNOTATION) == "memory"


def mount_confs(spec: Spec, overlay_root: bool = False) -> list[mountconf.GoferMountConf]:
    """Root first, then each bind mount; all served by this gofer."""
    root = mountconf.GoferMountConf("lisafs", "memory" if overlay_root else "none")
    return [root] + [mountconf.GoferMountConf() for _ in gofer_mounts(spec)]


def spawn(
    conf: RuntimeConfig,
    spec: Spec,
    *,
    overlay_root: bool = False,
    stderr: int | IO[bytes] | None = None,
    setup_root: bool = True,
    apply_caps: bool = True,
) -> Gofer:
    """Start ``pysandbox gofer`` for ``spec``; it serves until its sockets close."""
    confs = mount_confs(spec, overlay_root)
    served = [c for c in confs if c.served]
    pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) for _ in served]
    spec_fd = os.open(os.path.join(spec.bundle, CONFIG_FILE), os.O_RDONLY | os.O_CLOEXEC)
    mounts_r, mounts_w = os.pipe2(os.O_CLOEXEC)
    child_fds = [spec_fd, mounts_w, *(p[1].fileno() for p in pairs)]
    cli_args = [
        *conf.to_flags(),
        "gofer",
        f"--bundle={spec.bundle}",
        f"--spec-fd={spec_fd}",
        f"--mounts-fd={mounts_w}",
        f"--io-fds={','.join(str(p[1].fileno()) for p in pairs)}",
        f"--gofer-mount-confs={mountconf.encode(confs)}",
        f"--setup-root={'true' if setup_root else 'false'}",
        f"--apply-caps={'true' if apply_caps else 'false'}",
    ]
    env = {k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ}
    try:
        proc = spawn_self(cli_args, pass_fds=child_fds, stderr=stderr, env=env)
    except BaseException:
        os.close(mounts_r)
        for a, _ in pairs:
            a.close()
        raise
    finally:
        os.close(spec_fd)
        os.close(mounts_w)
        for _, b in pairs:
            b.close()
    return Gofer(proc, mounts_r, [a for a, _ in pairs])
