"""``delete``: clean up one container after its shim is gone (or done).

containerd runs it after every task deletion and after a shim died
(cleanupAfterDeadShim), with the bundle as cwd and ``-id``/``-bundle``
(reference §1.8). It must be idempotent and touch only ``-id``: in a pod
shim, deleting a subcontainer must not take the sandbox down. Answer:
DeleteResponse proto on stdout (exit status 137 = 128+SIGKILL, now), exit 0;
problems are printed on stderr, which containerd logs as warnings.
"""

from __future__ import annotations

import os
import sys
import time

from protos.containerd.task.v2 import shim_pb2
from runtime.errors import RuntimeFailure
from shim import address as addr
from shim import backends, options, rootfs
from shim.events import timestamp
from shim.flags import Flags

KILLED_STATUS = 128 + 9


def delete(flags: Flags) -> bytes:
    """Do ``delete``; returns the DeleteResponse bytes to print."""
    bundle = flags.bundle or os.getcwd()
    pid = 0
    try:
        config = options.load_saved(bundle) or options.ShimConfig()
        backend = backends.load(config, flags.id)
        pid = backend.cleanup(flags.id, bundle)
    except (options.OptionsError, backends.BackendError, RuntimeFailure, OSError) as exc:
        sys.stderr.write(f"delete {flags.id}: {exc}\n")
    try:
        rootfs.unmount_all(os.path.join(bundle, "rootfs"))
    except (rootfs.RootfsError, OSError) as exc:
        sys.stderr.write(f"delete {flags.id}: {exc}\n")
    bound = addr.read_address(bundle)
    if bound and not addr.can_connect(bound):
        # The shim is gone; its socket must not outlive it.
        addr.remove_socket(bound)
    return shim_pb2.DeleteResponse(
        pid=pid, exit_status=KILLED_STATUS, exited_at=timestamp(time.time())
    ).SerializeToString()
