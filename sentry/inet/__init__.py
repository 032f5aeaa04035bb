"""The Sentry's view of its network namespace (gVisor ``pkg/sentry/inet``).

The sandbox's sockets are host sockets in the network namespace the boot
process lives in (gVisor's hostinet model, ``sentry/socket``), so what the
application may learn about its network — links, addresses, routes,
counters — is that namespace's own state. ``HostStack`` captures the means
to read it while the host is still reachable (before the boot process
unmounts /proc and installs seccomp) and serves /proc/net and
/sys/class/net read-only:

- ``netlink``: a NETLINK_ROUTE socket opened at capture; each question is
  one RTM_GETLINK dump on it (live: a link that goes down shows down);
- ``/proc/self/net/*`` FDs opened at capture; each read rewinds one and
  reads the host's text again (seq_file regenerates it), so counters in
  /proc/net/dev or the route table are live and byte-exact;
- the socket tables (tcp, udp, …) are the host's rows; procfs keeps only
  the sandbox's own sockets (``filter_socket_table``: in --network=host
  the namespace holds every host socket).

No locks beyond one per held FD (the Kernel never calls in here holding
its own).
"""

from sentry.inet.stack import (
    PASSTHROUGH_FILES,
    SOCKET_TABLES,
    HostStack,
    Interface,
    Stack,
    filter_socket_table,
)

__all__ = [
    "PASSTHROUGH_FILES",
    "SOCKET_TABLES",
    "HostStack",
    "Interface",
    "Stack",
    "filter_socket_table",
]
